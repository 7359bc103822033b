"""``python scripts/train_deepsdf.py key=value ...``: the train_deepsdf task, :mod:`sketch2shape.tasks.train_deepsdf`
(also ``sketch2shape train_deepsdf ...`` and ``python -m sketch2shape.tasks.train_deepsdf ...``)."""

from sketch2shape.tasks.train_deepsdf import main

if __name__ == "__main__":
    main()
