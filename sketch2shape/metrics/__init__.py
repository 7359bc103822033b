"""Scores of results, as pure functions of arrays, tensors and meshes.

* :mod:`sketch2shape.metrics.chamfer`: chamfer distance and F-score between surfaces (DeepSDF's);
* :mod:`sketch2shape.metrics.retrieval`: the exact nearest-neighbor index, Recall@k / hit@k and
  the per-view table of sketch -> normal-map retrieval.

This package imports nothing of sketch2shape but :mod:`sketch2shape.utils`, so the models
(validation retrieval of :class:`~sketch2shape.models.siamese_module.SiameseModule`), the
optimizers (the chamfer of a reconstruction) and the evaluations all use the same definitions.
Pictures of results (the retrieval gallery) are in :mod:`sketch2shape.viz`.
"""
