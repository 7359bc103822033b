"""``python scripts/eval_siamese.py key=value ...``: the eval_siamese task, :mod:`sketch2shape.tasks.eval_siamese`
(also ``sketch2shape eval_siamese ...`` and ``python -m sketch2shape.tasks.eval_siamese ...``)."""

from sketch2shape.tasks.eval_siamese import main

if __name__ == "__main__":
    main()
