"""``python scripts/eval_sketch_to_shape.py key=value ...``: the eval_sketch_to_shape task, :mod:`sketch2shape.tasks.eval_sketch_to_shape`
(also ``sketch2shape eval_sketch_to_shape ...`` and ``python -m sketch2shape.tasks.eval_sketch_to_shape ...``)."""

from sketch2shape.tasks.eval_sketch_to_shape import main

if __name__ == "__main__":
    main()
