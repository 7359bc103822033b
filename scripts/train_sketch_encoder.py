"""``python scripts/train_sketch_encoder.py key=value ...``: the train_sketch_encoder task, :mod:`sketch2shape.tasks.train_sketch_encoder`
(also ``sketch2shape train_sketch_encoder ...`` and ``python -m sketch2shape.tasks.train_sketch_encoder ...``)."""

from sketch2shape.tasks.train_sketch_encoder import main

if __name__ == "__main__":
    main()
