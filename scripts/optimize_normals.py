"""``python scripts/optimize_normals.py key=value ...``: the optimize_normals task, :mod:`sketch2shape.tasks.optimize_normals`
(also ``sketch2shape optimize_normals ...`` and ``python -m sketch2shape.tasks.optimize_normals ...``)."""

from sketch2shape.tasks.optimize_normals import main

if __name__ == "__main__":
    main()
