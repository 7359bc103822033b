"""``python scripts/traverse_latent.py key=value ...``: the traverse_latent task, :mod:`sketch2shape.tasks.traverse_latent`
(also ``sketch2shape traverse_latent ...`` and ``python -m sketch2shape.tasks.traverse_latent ...``)."""

from sketch2shape.tasks.traverse_latent import main

if __name__ == "__main__":
    main()
