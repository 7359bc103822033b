"""Training the sketch encoder (sketch -> DeepSDF code) in Lightning.

Batch (``sketch2shape.data.sketch_code_dataset``): ``sketch (B, 1, H, W)`` float in [0, 1] (ink 0),
``code_index (B,)`` rows of the DeepSDF code table, optionally ``points (B, P, 3)``.

Loss, with ``z`` the true code and ``ẑ`` the prediction, ``s²`` the mean per-dimension variance of
the training codes (so that predicting the mean code scores about 1):

* ``latent``: ``mse``: ``mean((ẑ - z)²) / s²`` or ``l1``: ``mean|ẑ - z| / s``, times ``latent_weight``;
* ``sdf`` (if ``sdf_weight > 0`` and a decoder is attached): clamped L1 between the frozen DeepSDF
  decoder's ``f(ẑ, x)`` and ``f(z, x)`` on ``P`` SDF sample points of the shape, times ``sdf_weight``.

Validation, no augmentation:

* held-out views of the training shapes: ``val/latent_rel_mse`` (``mean((ẑ - z)²) / s²``, the
  mean code scores ~1), ``val/latent_l1`` and ``val/code_acc`` (share of sketches whose nearest
  training code is their own shape's);
* unseen shapes (the val split, every view; needs the decoder): ``val_shapes/sdf_l1``, DeepSDF's
  clamped L1 between ``f(ẑ, x)`` and the true SDF at the shape's SDF samples, next to
  ``val_shapes/mean_code_sdf_l1`` (the same for the mean training code).

The DeepSDF decoder is only needed for the SDF term; it is not a submodule, so it stays out of the
checkpoint (the checkpoint holds the code table, see :class:`SketchEncoderNet`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import Tensor, nn

from sketch2shape.data.augment import SketchAugment
from sketch2shape.models.checkpoints import load_lightning_module
from sketch2shape.models.deepsdf_module import clamped_l1
from sketch2shape.models.sketch_encoder import SketchEncoderNet
from sketch2shape.utils.config import check_keys, plain

LATENT_LOSSES = ("mse", "l1")
DEFAULT_LOSS = {"latent": "mse", "latent_weight": 1.0, "sdf_weight": 0.0, "sdf_points": 256, "sdf_clamp": 0.1}


def loss_settings(node: Mapping[str, Any] | None) -> dict[str, Any]:
    """``loss:`` of ``sketch2shape/conf/model/sketch_encoder.yaml`` merged over :data:`DEFAULT_LOSS`, validated."""
    node = dict(plain(node) or {})
    check_keys(node, DEFAULT_LOSS, "model.loss")
    merged = {**DEFAULT_LOSS, **node}
    if merged["latent"] not in LATENT_LOSSES:
        raise ValueError(f"model.loss.latent={merged['latent']!r}; accepted: {', '.join(LATENT_LOSSES)}")
    return merged


class SketchEncoderModule(L.LightningModule):
    def __init__(
        self,
        net: Mapping[str, Any] | None = None,
        deepsdf: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        augment: Mapping[str, Any] | None = None,
        loader: Mapping[str, Any] | None = None,
        data_name: str | None = None,
        seed: int | None = None,
    ) -> None:
        """``net``: :class:`SketchEncoderNet` keyword arguments except the sizes; ``deepsdf``: the
        record of :func:`sketch2shape.models.sketch_encoder.deepsdf_record` (gives ``latent_dim``,
        ``num_codes``); ``optimizer`` / ``scheduler`` are ``_partial_`` specs with a ``_target_``;
        ``loader`` (the data loader settings the task's datamodule is built from), ``data_name`` and
        ``seed`` are recorded with the checkpoint. Built by the train_sketch_encoder task with
        ``hydra.utils.instantiate(cfg.model, ...)`` (``sketch2shape/conf/model/sketch_encoder.yaml``).
        Call :meth:`set_codes` before training."""
        super().__init__()
        net, deepsdf, loss, optimizer, scheduler, augment, loader = map(plain, (net, deepsdf, loss, optimizer, scheduler, augment, loader))
        deepsdf = dict(deepsdf or {})
        for key in ("latent_dim", "num_codes"):
            if key not in deepsdf:
                raise ValueError(f"deepsdf record has no {key!r}; build it with sketch2shape.models.sketch_encoder.deepsdf_record")
        loss = loss_settings(loss)
        self.save_hyperparameters(
            {"net": net, "deepsdf": deepsdf, "loss": loss, "optimizer": optimizer, "scheduler": scheduler,
             "augment": augment, "loader": loader, "data_name": data_name, "seed": seed}
        )
        self.net = SketchEncoderNet(latent_dim=deepsdf["latent_dim"], num_codes=deepsdf["num_codes"], deepsdf=deepsdf, **dict(net or {}))
        self.augment = SketchAugment(augment)
        self._decoder: tuple[nn.Module, ...] = ()  # not a submodule: kept out of state_dict / checkpoint

    @property
    def sdf_points(self) -> int:
        """SDF sample points per sketch the loss needs from the data (0: the SDF term is off)."""
        loss = self.hparams.loss
        return int(loss["sdf_points"]) if float(loss["sdf_weight"]) > 0 else 0

    # --- setup --------------------------------------------------------------------------------
    def set_codes(self, codes: Tensor) -> None:
        """The DeepSDF training codes ``(num_codes, latent_dim)``, rows in ``deepsdf.train_obj_ids`` order."""
        self.net.set_codes(codes)

    def attach_decoder(self, decoder: nn.Module) -> None:
        """The frozen DeepSDF decoder for the SDF loss term and the unseen-shape validation (eval
        mode, no gradients to its weights)."""
        decoder.eval().requires_grad_(False)
        self._decoder = (decoder,)

    @property
    def decoder(self) -> nn.Module | None:
        return self._decoder[0] if self._decoder else None

    def on_fit_start(self) -> None:
        if self.decoder is not None:
            self.decoder.to(self.device)

    # --- loss ---------------------------------------------------------------------------------
    def latent_loss(self, pred: Tensor, target: Tensor) -> Tensor:
        """Scale-free latent loss of codes ``(B, D)`` (the mean code scores about 1)."""
        scale = self.net.code_scale
        if self.hparams.loss["latent"] == "l1":
            return (pred - target).abs().mean() / scale
        return (pred - target).pow(2).mean() / scale.pow(2)

    def sdf_loss(self, pred: Tensor, target: Tensor, points: Tensor) -> Tensor:
        """Clamped L1 between ``f(pred, x)`` and ``f(target, x)``: codes ``(B, D)``, points ``(B, P, 3)``."""
        decoder, (batch, count) = self.decoder, points.shape[:2]
        flat = points.reshape(-1, 3)
        pred_codes = pred[:, None, :].expand(-1, count, -1).reshape(batch * count, -1)
        with torch.no_grad():
            truth = decoder(target[:, None, :].expand(-1, count, -1).reshape(batch * count, -1), flat)
        return clamped_l1(decoder(pred_codes, flat), truth, float(self.hparams.loss["sdf_clamp"]))

    def target_codes(self, batch: dict) -> Tensor:
        """The true codes ``(B, D)`` of a batch: ``batch["code"]`` (pairs with any code, e.g. decoded
        interpolations, :mod:`sketch2shape.data.sketch_pairs`) or rows ``batch["code_index"]`` of
        the training code table."""
        return batch["code"].to(self.net.codes) if "code" in batch else self.net.codes[batch["code_index"]]

    def losses(self, batch: dict, augment: bool) -> dict[str, Tensor]:
        """Named loss terms of a batch; ``loss`` is the weighted total."""
        sketches = self.augment(batch["sketch"]) if augment else batch["sketch"]
        pred = self.net(sketches)
        target = self.target_codes(batch)
        settings = self.hparams.loss
        terms = {"latent": self.latent_loss(pred, target)}
        total = float(settings["latent_weight"]) * terms["latent"]
        if float(settings["sdf_weight"]) > 0 and self.decoder is not None and "points" in batch:
            terms["sdf"] = self.sdf_loss(pred, target, batch["points"])
            total = total + float(settings["sdf_weight"]) * terms["sdf"]
        terms["loss"] = total
        return terms

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        terms = self.losses(batch, augment=True)
        size = len(batch["sketch"])
        for name, value in terms.items():
            self.log(f"train/{name}", value, on_step=False, on_epoch=True, prog_bar=name == "loss", batch_size=size)
        return terms["loss"]

    # --- validation: held-out views of the training shapes; unseen shapes in SDF space ---------
    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        if "sdf" in batch:
            self._validate_unseen(batch)
            return
        pred = self.net(batch["sketch"])
        target = self.target_codes(batch)
        scale, size = self.net.code_scale, len(pred)
        log = {"batch_size": size, "add_dataloader_idx": False}
        self.log("val/latent_rel_mse", (pred - target).pow(2).mean() / scale.pow(2), prog_bar=True, **log)
        self.log("val/latent_l1", (pred - target).abs().mean(), **log)
        if "code_index" in batch and bool((batch["code_index"] >= 0).all()):
            nearest = torch.cdist(pred, self.net.codes).argmin(1)
            self.log("val/code_acc", (nearest == batch["code_index"]).float().mean(), prog_bar=True, **log)

    def sdf_error(self, codes: Tensor, points: Tensor, sdf: Tensor) -> Tensor:
        """DeepSDF's clamped L1 of codes ``(B, D)`` against true SDF ``(B, P)`` at ``points (B, P, 3)``."""
        batch, count = points.shape[:2]
        latent = codes[:, None, :].expand(-1, count, -1).reshape(batch * count, -1)
        pred = self.decoder(latent, points.reshape(-1, 3))
        return clamped_l1(pred, sdf.reshape(-1), float(self.hparams.loss["sdf_clamp"]))

    def _validate_unseen(self, batch: dict) -> None:
        if self.decoder is None:
            return
        pred = self.net(batch["sketch"])
        mean = self.net.code_mean.expand_as(pred)
        log = {"batch_size": len(pred), "add_dataloader_idx": False}
        self.log("val_shapes/sdf_l1", self.sdf_error(pred, batch["points"], batch["sdf"]), prog_bar=True, **log)
        self.log("val_shapes/mean_code_sdf_l1", self.sdf_error(mean, batch["points"], batch["sdf"]), **log)

    # --- optimization ---------------------------------------------------------------------------
    def configure_optimizers(self):
        spec = self.hparams.optimizer or {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}
        optimizer = instantiate(spec)(self.net.parameters())
        if not self.hparams.scheduler:
            return optimizer
        scheduler = instantiate(self.hparams.scheduler)(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def load_sketch_encoder(ckpt_path: str | Path, device: str | torch.device = "cpu") -> SketchEncoderNet:
    """The trained :class:`SketchEncoderNet` of a ``train_sketch_encoder`` checkpoint, eval mode, frozen.

    ``net.deepsdf`` tells which DeepSDF checkpoint its codes belong to; check with
    :meth:`SketchEncoderNet.check_compatible` before decoding its codes.
    """

    hint = "; train one with scripts/train_sketch_encoder.py (logs/train_sketch_encoder/runs/<time>/checkpoints/last.ckpt)"
    module = load_lightning_module(SketchEncoderModule, ckpt_path, device, "sketch_encoder", hint)
    net = module.net.eval()
    net.requires_grad_(False)
    return net
