"""``python scripts/optimize_deepsdf.py key=value ...``: the optimize_deepsdf task, :mod:`sketch2shape.tasks.optimize_deepsdf`
(also ``sketch2shape optimize_deepsdf ...`` and ``python -m sketch2shape.tasks.optimize_deepsdf ...``)."""

from sketch2shape.tasks.optimize_deepsdf import main

if __name__ == "__main__":
    main()
