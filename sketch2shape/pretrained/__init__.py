"""The release models shipped with the package (``deepsdf.pt``, ``sketch_encoder.pt``, ``model_card.md``).

Made by ``sketch2shape train-release``; loaded by :mod:`sketch2shape.models.checkpoints`.
"""
