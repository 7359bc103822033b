"""The loss of a latent code against sketches seen from known cameras (:class:`SketchObjective`)
and its terms' weights (:class:`SketchLoss`): what ``optimize_sketch``, the method comparison and
:class:`~sketch2shape.optimize.sketch_to_shape.SketchToShape`'s refinement optimize. Imports only
torch and the renderer (no training stack), so that answering a sketch stays light.

Source: the sketch-to-normal-map Siamese distance through a differentiable sphere tracer is the
original project's method (its README, ``optimize_sketch``); the silhouette term follows its
later silhouette loss and Sketch2Mesh (Guillard et al. 2021, the outline term).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sketch2shape.models.deepsdf import sdf_field
from sketch2shape.render.camera import Camera, CameraBatch
from sketch2shape.render.sphere_tracing import Rendering, TracingSettings, render_batch
from sketch2shape.render.warm_start import WarmStart
from sketch2shape.utils.config import dataclass_kwargs, field_names, plain


@dataclass(frozen=True)
class SketchLoss:
    """Weights of the terms of :class:`SketchObjective`; a term whose weight is 0 is off.

    One place for the sketch loss terms: ``optimize_sketch`` (``loss:``), the comparison's sketch
    methods (their ``*_weight`` keys), and :class:`~sketch2shape.optimize.sketch_to_shape.SketchToShape`
    (``refine.loss`` of its settings, default ``RefineSettings.loss``, hence ``reconstruct`` and
    the app) all build their objective from one of these. A new term is a field here, its
    term in :meth:`SketchObjective.__call__`, and its weight in the config that should use it.
    """

    silhouette_weight: float = 0.0  # BCE of the soft silhouette against the sketch's enclosed area
    distance_weight: float = 1.0  # Siamese distance between the sketch and the rendered normal map
    anchor_weight: float = 0.0  # ||z - anchor||^2 / scale^2: stay near the start (the encoder's code)

    @classmethod
    def from_config(cls, node, where: str = "loss") -> "SketchLoss":
        """From a mapping; an unknown key raises :class:`~sketch2shape.utils.config.ConfigError`."""
        return cls(**{k: float(v) for k, v in dataclass_kwargs(cls, node, where).items()})

    @classmethod
    def from_method(cls, settings) -> "SketchLoss":
        """The weights among a comparison method's flat settings (``silhouette_weight: 3.0`` next
        to ``kind`` and ``init``); absent weights take this class's defaults."""
        names = field_names(cls)
        return cls(**{k: float(v) for k, v in dict(plain(settings) or {}).items() if k in names})


def soft_normal_image(rendering: Rendering) -> torch.Tensor:
    """(3, H, W) normal map composited over white by the soft silhouette, so that the image
    (and a distance computed on it) also changes smoothly with the outline of the shape."""
    facing = torch.tensor([0.0, 0.0, 1.0], device=rendering.normals.device)
    normals = torch.where(rendering.mask[..., None], rendering.normals, facing)
    alpha = rendering.silhouette[..., None]
    image = alpha * (normals + 1.0) * 0.5 + (1.0 - alpha)
    return image.permute(2, 0, 1)


@dataclass
class SketchView:
    view_index: int  # in the dataset's cameras.json
    camera: Camera  # at the rendering resolution
    sketch: torch.Tensor  # (H, W) the input sketch in [0, 1]
    embedding: torch.Tensor | None  # (D,) Siamese embedding of the sketch (None: no distance term)
    region: torch.Tensor  # (R, R) area enclosed by the strokes


class SketchObjective:
    """The loss of a latent code against sketch(es) seen from known cameras.

    Terms (each reported by name; ``loss`` is their weighted sum):

    * ``distance``: the Siamese distance between the sketch's embedding and the rendered normal
      map's (the original method; needs ``siamese`` and the views' ``embedding``; off when
      ``distance_weight`` is 0);
    * ``silhouette``: binary cross-entropy between the rendered soft silhouette and the area the
      sketch's strokes enclose (``view.region``). It counts missing shape and extra shape alike,
      so removing the shape can never lower it;
    * ``anchor``: ``||z - anchor||^2 / scale^2`` (mean over dimensions), which keeps the code near a
      start it must not drift from (the encoder's code), off unless ``anchor`` is given.

    ``latent``: ``(D,)``. Views' cameras set the rendering resolution (one for all views); all
    views are rendered in one :func:`render_batch` call, with differentiable normals only for the
    distance term; ``weights``: the terms' weights (:class:`SketchLoss`). ``warm_start``
    (default): the objective keeps a :class:`~sketch2shape.render.warm_start.WarmStart`, so that
    each call after the first starts the marching where the previous call found the surface
    (about 40% fewer SDF evaluations; images within a hit's tolerance of a cold render). Make one
    objective per optimization. Raises ``ValueError`` when both image terms are off or the
    distance term is asked for without a Siamese network.
    """

    def __init__(
        self, decoder, siamese, views: Sequence[SketchView], tracing: TracingSettings, weights: SketchLoss = SketchLoss(),
        anchor: torch.Tensor | None = None, anchor_scale: float = 1.0, warm_start: bool = True,
    ) -> None:
        if weights.distance_weight <= 0 and weights.silhouette_weight <= 0:
            raise ValueError(f"distance_weight={weights.distance_weight} and silhouette_weight={weights.silhouette_weight}: at least one must be positive")
        if weights.distance_weight > 0 and (siamese is None or any(v.embedding is None for v in views)):
            raise ValueError(f"distance_weight={weights.distance_weight} needs a Siamese network and the sketches' embeddings; pass one or set distance_weight=0")
        self.decoder = decoder
        self.siamese = siamese
        self.views = list(views)
        self.tracing = tracing
        self.weights = weights
        self.silhouette_weight = weights.silhouette_weight
        self.distance_weight = weights.distance_weight
        self.anchor = None if anchor is None else anchor.detach()
        self.anchor_weight = weights.anchor_weight if anchor is not None else 0.0
        self.anchor_scale = float(anchor_scale)
        self.cameras = CameraBatch.from_cameras([view.camera for view in self.views])
        self.warm = WarmStart() if warm_start else None

    def __call__(self, latent: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        distances, silhouettes = [], []
        renderings = render_batch(sdf_field(self.decoder, latent), self.cameras, self.tracing, device=latent.device,
                                  differentiable_normals=self.distance_weight > 0, warm=self.warm)
        for index, view in enumerate(self.views):
            rendering = renderings.view(index)
            if self.distance_weight > 0:
                embedding = self.siamese.embed_normal(soft_normal_image(rendering)[None])[0]
                distances.append(self.siamese.distance(view.embedding, embedding))
            if self.silhouette_weight > 0:
                silhouettes.append(F.binary_cross_entropy(rendering.silhouette.clamp(1e-6, 1 - 1e-6), view.region))
        terms: dict[str, torch.Tensor] = {}
        loss = latent.new_zeros(())
        if distances:
            terms["distance"] = torch.stack(distances).mean()
            loss = loss + self.distance_weight * terms["distance"]
        if silhouettes:
            terms["silhouette"] = torch.stack(silhouettes).mean()
            loss = loss + self.silhouette_weight * terms["silhouette"]
        if self.anchor_weight > 0:
            terms["anchor"] = (latent - self.anchor.to(latent)).pow(2).mean() / self.anchor_scale**2
            loss = loss + self.anchor_weight * terms["anchor"]
        terms["loss"] = loss
        return terms
