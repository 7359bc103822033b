"""``python scripts/make_sketch_pairs.py key=value ...``: the make_sketch_pairs task, :mod:`sketch2shape.tasks.make_sketch_pairs`
(also ``sketch2shape make_sketch_pairs ...`` and ``python -m sketch2shape.tasks.make_sketch_pairs ...``)."""

from sketch2shape.tasks.make_sketch_pairs import main

if __name__ == "__main__":
    main()
