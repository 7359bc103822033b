"""DeepSDF as a LightningModule: the auto-decoder (shared decoder + one latent code per shape).

The decoder is the shape space's swappable part (:data:`DECODERS`, chosen by the ``kind`` key of
the ``decoder`` settings): the paper's MLP (``mlp``, the default, :class:`DeepSDFDecoder`) or feature
planes decoded from the code (``triplane``, :class:`~sketch2shape.models.triplane.TriplaneDecoder`).
Every decoder offers ``forward(latent, points)``, ``forward_batched(codes, points)``,
``field(latent)`` and ``latent_dim``; nothing else here or downstream depends on which it is.

Training follows Park et al. 2019: L1 between predicted and true SDF, both clamped to
``[-clamp, clamp]``; a zero-mean Gaussian prior on the codes (``latent_reg * ||z||^2``, ramped in
over ``latent_reg_ramp_epochs``); separate learning rates for decoder and codes, each halved
(``lr_decay``) every ``lr_decay_every`` epochs.
"""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch
from torch import nn

from sketch2shape.models.deepsdf import DeepSDFDecoder
from sketch2shape.models.triplane import TriplaneDecoder

DECODERS: dict[str, type[nn.Module]] = {"mlp": DeepSDFDecoder, "triplane": TriplaneDecoder}


def build_decoder(settings: dict[str, Any] | None) -> nn.Module:
    """The decoder of a ``decoder`` settings node: ``kind`` (default ``mlp``) picks the class of
    :data:`DECODERS`, the other keys are its constructor's. Raises ValueError naming an unknown
    kind and the accepted ones (a misspelled argument raises the class's TypeError)."""
    settings = dict(settings or {})
    kind = settings.pop("kind", "mlp")
    if kind not in DECODERS:
        raise ValueError(f"model.decoder.kind={kind!r} is not a decoder; accepted: {', '.join(DECODERS)}")
    try:
        return DECODERS[kind](**settings)
    except TypeError as err:
        raise ValueError(f"model.decoder (kind {kind}): {err}") from None


def clamped_l1(pred: torch.Tensor, target: torch.Tensor, clamp: float) -> torch.Tensor:
    """Mean |clamp(pred) - clamp(target)|, DeepSDF's loss."""
    return (pred.clamp(-clamp, clamp) - target.clamp(-clamp, clamp)).abs().mean()


class DeepSDF(L.LightningModule):
    def __init__(
        self,
        num_shapes: int,
        decoder: dict[str, Any] | None = None,
        clamp: float = 0.1,
        latent_init_std: float | None = None,
        latent_reg: float = 1e-4,
        latent_reg_ramp_epochs: int = 100,
        lr_decoder: float = 5e-4,
        lr_latent: float = 1e-3,
        lr_decay: float = 0.5,
        lr_decay_every: int = 500,
        train_obj_ids: list[str] | None = None,
        data_name: str | None = None,
        **_: Any,
    ) -> None:
        """
        Args:
            num_shapes: number of training shapes (rows of the latent table).
            decoder: the decoder's settings (:func:`build_decoder`: ``kind`` and its arguments).
            latent_init_std: std of the initial codes; default ``1 / sqrt(latent_dim)`` (paper).
            train_obj_ids: obj_id of each latent row, stored in the checkpoint for later lookup.
        """
        super().__init__()
        self.save_hyperparameters()
        self.decoder = build_decoder(decoder)
        latent_dim = self.decoder.latent_dim
        self.latents = nn.Embedding(num_shapes, latent_dim)
        std = latent_init_std if latent_init_std is not None else 1.0 / math.sqrt(latent_dim)
        nn.init.normal_(self.latents.weight, 0.0, std)
        self.train_obj_ids = list(train_obj_ids or [])

    @property
    def latent_dim(self) -> int:
        return self.decoder.latent_dim

    def forward(self, latent: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        return self.decoder(latent, points)

    def mean_latent(self) -> torch.Tensor:
        """(D,) the mean of the learned training codes: the start of latent optimization."""
        return self.latents.weight.detach().mean(dim=0)

    def latent_of(self, obj_id: str) -> torch.Tensor:
        """(D,) the learned code of a training shape."""
        if obj_id not in self.train_obj_ids:
            raise KeyError(f"obj_id {obj_id!r} has no learned latent code: it is not a training shape of this checkpoint")
        return self.latents.weight.detach()[self.train_obj_ids.index(obj_id)]

    def latent_reg_weight(self) -> float:
        ramp = self.hparams.latent_reg_ramp_epochs
        return self.hparams.latent_reg * (min(1.0, self.current_epoch / ramp) if ramp > 0 else 1.0)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        labels, samples = batch  # (B,), (B, P, 4)
        batch_size = samples.shape[0]
        codes = self.latents(labels)  # (B, D)
        pred = self.decoder.forward_batched(codes, samples[..., :3])  # (B, P)
        sdf_loss = clamped_l1(pred, samples[..., 3], self.hparams.clamp)
        # The paper sums ||z||^2 over the batch's codes and divides by the number of points.
        reg = self.latent_reg_weight() * codes.pow(2).sum(dim=-1).mean()
        loss = sdf_loss + reg
        self.log("train/loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=batch_size)
        self.log("train/sdf_l1", sdf_loss, on_step=False, on_epoch=True, batch_size=batch_size)
        self.log("train/latent_norm", codes.norm(dim=-1).mean(), on_step=False, on_epoch=True, batch_size=batch_size)
        return loss

    def configure_optimizers(self):
        optimizer = torch.optim.Adam([
            {"params": self.decoder.parameters(), "lr": self.hparams.lr_decoder},
            {"params": self.latents.parameters(), "lr": self.hparams.lr_latent},
        ])
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=self.hparams.lr_decay_every, gamma=self.hparams.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}
