"""``python scripts/copy_shapenet.py key=value ...``: the copy_shapenet task, :mod:`sketch2shape.tasks.copy_shapenet`
(also ``sketch2shape copy_shapenet ...`` and ``python -m sketch2shape.tasks.copy_shapenet ...``)."""

from sketch2shape.tasks.copy_shapenet import main

if __name__ == "__main__":
    main()
