"""``python scripts/preprocess_data.py key=value ...``: the preprocess_data task, :mod:`sketch2shape.tasks.preprocess_data`
(also ``sketch2shape preprocess_data ...`` and ``python -m sketch2shape.tasks.preprocess_data ...``)."""

from sketch2shape.tasks.preprocess_data import main

if __name__ == "__main__":
    main()
