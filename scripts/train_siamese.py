"""``python scripts/train_siamese.py key=value ...``: the train_siamese task, :mod:`sketch2shape.tasks.train_siamese`
(also ``sketch2shape train_siamese ...`` and ``python -m sketch2shape.tasks.train_siamese ...``)."""

from sketch2shape.tasks.train_siamese import main

if __name__ == "__main__":
    main()
