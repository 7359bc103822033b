"""The shape space every caller of a trained model uses: a decoder and a table of latent codes,
with no training stack (no Lightning), so that inference imports only torch.

A shape space maps a latent code ``z`` (``(D,)``) and points ``x`` (``(..., 3)``, unit-sphere
coordinates, +Y up, front +Z) to signed distances ``f(z, x)`` (``(...)``, negative inside): the
DeepSDF auto-decoder of Park et al. 2019 ("DeepSDF: Learning Continuous Signed Distance Functions
for Shape Representation", CVPR), whose decoder is swappable (:data:`DECODERS`, chosen by the
``kind`` key of the ``decoder`` settings):

* ``mlp``: the paper's 8-layer MLP on ``[z, x]`` (:class:`~sketch2shape.models.deepsdf.DeepSDFDecoder`);
* ``triplane``: three feature planes decoded from ``z``, sampled at ``x`` and read by a small MLP
  (:class:`~sketch2shape.models.triplane.TriplaneDecoder`).

Every decoder offers ``forward(latent, points)``, ``forward_batched(codes, points)``,
``field(latent)`` and ``latent_dim``; nothing downstream (renderer, mesher, optimizers) depends on
which it is. :class:`ShapeSpace` is what :func:`sketch2shape.models.checkpoints.load_deepsdf_file`
returns; the training module :class:`sketch2shape.models.deepsdf_module.DeepSDF` has the same
parameters (``decoder.*``, ``latents.weight``) and the same inference methods (:class:`LatentTable`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from sketch2shape.models.deepsdf import DeepSDFDecoder
from sketch2shape.models.triplane import TriplaneDecoder

DECODERS: dict[str, type[nn.Module]] = {"mlp": DeepSDFDecoder, "triplane": TriplaneDecoder}


def build_decoder(settings: dict[str, Any] | None) -> nn.Module:
    """The decoder of a ``decoder`` settings node: ``kind`` (default ``mlp``) picks the class of
    :data:`DECODERS`, the other keys are its constructor's. Raises ValueError naming an unknown
    kind and the accepted ones (a misspelled argument raises the class's TypeError as a ValueError)."""
    settings = dict(settings or {})
    kind = settings.pop("kind", "mlp")
    if kind not in DECODERS:
        raise ValueError(f"model.decoder.kind={kind!r} is not a decoder; accepted: {', '.join(DECODERS)}")
    try:
        return DECODERS[kind](**settings)
    except TypeError as err:
        raise ValueError(f"model.decoder (kind {kind}): {err}") from None


def clamped_l1(pred: torch.Tensor, target: torch.Tensor, clamp: float, dim: int | None = None) -> torch.Tensor:
    """Mean ``|clamp(pred) - clamp(target)|`` over all elements, or over ``dim`` only (one value per
    remaining index, e.g. per shape of a ``(B, P)`` batch) (DeepSDF's loss, Park et al. 2019, eq. 4;
    ``clamp`` in the SDF's units, 0.1 in the paper). ``target`` broadcasts against ``pred``."""
    error = (pred.clamp(-clamp, clamp) - target.clamp(-clamp, clamp)).abs()
    return error.mean() if dim is None else error.mean(dim=dim)


class LatentTable:
    """What a trained shape space answers (mixed into :class:`ShapeSpace` and the training module):
    expects ``self.decoder``, ``self.latents`` (an ``nn.Embedding`` of ``(num_shapes, D)``) and
    ``self.train_obj_ids`` (the obj_id of each row)."""

    decoder: nn.Module
    latents: nn.Embedding
    train_obj_ids: list[str]

    @property
    def latent_dim(self) -> int:
        """D, the length of a latent code."""
        return self.decoder.latent_dim

    def forward(self, latent: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """SDF ``(N,)`` at ``points`` ``(N, 3)`` of the shape with code ``latent`` ``(D,)``."""
        return self.decoder(latent, points)

    def mean_latent(self) -> torch.Tensor:
        """(D,) the mean of the learned training codes: the start of latent optimization."""
        return self.latents.weight.detach().mean(dim=0)

    def latent_of(self, obj_id: str) -> torch.Tensor:
        """(D,) the learned code of a training shape. Raises KeyError for another obj_id."""
        if obj_id not in self.train_obj_ids:
            raise KeyError(f"obj_id {obj_id!r} has no learned latent code: it is not a training shape of this checkpoint")
        return self.latents.weight.detach()[self.train_obj_ids.index(obj_id)]


def init_latent_table(module: nn.Module, num_shapes: int, decoder: dict[str, Any] | None, latent_init_std: float | None,
                      train_obj_ids: list[str] | None) -> None:
    """Give ``module`` its decoder, a ``(num_shapes, D)`` code table drawn from N(0, std^2) (std
    default ``1 / sqrt(D)``, the paper's) and its ``train_obj_ids``: the one construction both
    :class:`ShapeSpace` and the training module use, so their parameters share names."""
    module.decoder = build_decoder(decoder)
    latent_dim = module.decoder.latent_dim
    module.latents = nn.Embedding(num_shapes, latent_dim)
    std = latent_init_std if latent_init_std is not None else 1.0 / math.sqrt(latent_dim)
    nn.init.normal_(module.latents.weight, 0.0, std)
    module.train_obj_ids = list(train_obj_ids or [])


class ShapeSpace(LatentTable, nn.Module):
    """A trained DeepSDF shape space for inference: decoder + learned codes, plain ``nn.Module``.

    Args:
        num_shapes: rows of the code table (training shapes).
        decoder: the decoder's settings (:func:`build_decoder`: ``kind`` and its arguments).
        latent_init_std: std of the initial codes (overwritten by a state dict).
        train_obj_ids: the obj_id of each row.
        **hparams: the rest of the training settings (``data_name``, ``clamp``, ...), kept in
            :attr:`hparams` (a dict) with the ones above, as a checkpoint stores them.
    """

    def __init__(self, num_shapes: int, decoder: dict[str, Any] | None = None, latent_init_std: float | None = None,
                 train_obj_ids: list[str] | None = None, **hparams: Any) -> None:
        super().__init__()
        init_latent_table(self, num_shapes, decoder, latent_init_std, train_obj_ids)
        self.hparams: dict[str, Any] = {"num_shapes": num_shapes, "decoder": decoder, "latent_init_std": latent_init_std,
                                        "train_obj_ids": self.train_obj_ids, **hparams}
