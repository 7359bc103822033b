"""``python scripts/optimize_sketch.py key=value ...``: the optimize_sketch task, :mod:`sketch2shape.tasks.optimize_sketch`
(also ``sketch2shape optimize_sketch ...`` and ``python -m sketch2shape.tasks.optimize_sketch ...``)."""

from sketch2shape.tasks.optimize_sketch import main

if __name__ == "__main__":
    main()
