"""DeepSDF training as a LightningModule: the auto-decoder (shared decoder + one latent code per
shape). The decoder is the shape space's swappable part, defined with the inference model in
:mod:`sketch2shape.models.shape_space` (:data:`DECODERS`: ``mlp``, ``triplane``).

Training follows Park et al. 2019: L1 between predicted and true SDF, both clamped to
``[-clamp, clamp]``; a zero-mean Gaussian prior on the codes (``latent_reg * ||z||^2``, ramped in
over ``latent_reg_ramp_epochs``); separate learning rates for decoder and codes, each halved
(``lr_decay``) every ``lr_decay_every`` epochs.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import torch

from sketch2shape.models.shape_space import DECODERS, LatentTable, build_decoder, clamped_l1, init_latent_table

__all__ = ["DECODERS", "DeepSDF", "build_decoder", "clamped_l1"]


class DeepSDF(LatentTable, L.LightningModule):
    """The DeepSDF auto-decoder in training (module docstring); inference loads its weights into a
    :class:`~sketch2shape.models.shape_space.ShapeSpace` (same parameter names, no Lightning)."""

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
        init_latent_table(self, num_shapes, decoder, latent_init_std, train_obj_ids)

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
