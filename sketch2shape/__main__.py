"""``python -m sketch2shape ...``: the ``sketch2shape`` command (:mod:`sketch2shape.cli`)."""

from sketch2shape.cli import main

if __name__ == "__main__":
    main()
