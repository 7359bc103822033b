"""Training the Siamese network with metric learning (pytorch-metric-learning), in Lightning.

Batch (from ``sketch2shape.data.siamese_dataset``): ``sketch (B, 1, H, W)``, ``normal (B, 3, H, W)``
float in [0, 1], aligned per item, ``label (B,)`` shape labels, ``view (B,)``. The loss compares
sketch embeddings with normal-map embeddings (``pairs: cross``: sketch queries against normal
references and back; ``joint``: all embeddings of the batch together, also sketch-sketch and
normal-normal pairs). Positives share the shape label: the same view and other views.

Validation is retrieval (val sketches against train+val normal maps) logged as ``val/hit@k``
and ``val/recall@k`` every epoch.

Everything needed to rebuild the network is in the hyperparameters, so
``SiameseModule.load_from_checkpoint(path)`` needs no other input; :func:`load_siamese` returns
the network alone (frozen, eval mode).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from torch import Tensor

from sketch2shape.data.augment import PairAugment
from sketch2shape.metrics.retrieval import retrieval_metrics, search_labels
from sketch2shape.models.checkpoints import load_lightning_module
from sketch2shape.models.siamese import SiameseNet
from sketch2shape.utils.config import plain

PAIRS = ("cross", "joint")


def warmup_cosine(optimizer: torch.optim.Optimizer, total_epochs: int, warmup_epochs: int = 2, min_lr_ratio: float = 0.02):
    """Per-epoch LR factor: linear warmup for ``warmup_epochs``, then cosine down to ``min_lr_ratio``."""

    def factor(epoch: int) -> float:
        if epoch < warmup_epochs:
            return (epoch + 1) / (warmup_epochs + 1)
        progress = min(1.0, (epoch - warmup_epochs) / max(1, total_epochs - warmup_epochs))
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class SiameseModule(L.LightningModule):
    def __init__(
        self,
        net: Mapping[str, Any] | None = None,
        loss: Mapping[str, Any] | None = None,
        miner: Mapping[str, Any] | None = None,
        optimizer: Mapping[str, Any] | None = None,
        scheduler: Mapping[str, Any] | None = None,
        augment: Mapping[str, Any] | None = None,
        pairs: str = "cross",
        ks: Sequence[int] = (1, 5, 10),
        loader: Mapping[str, Any] | None = None,
        data_name: str | None = None,
    ) -> None:
        """Every argument is a plain config mapping (``sketch2shape/conf/model/siamese.yaml``, built
        by the train_siamese task with ``hydra.utils.instantiate(cfg.model, ...)``); ``loss``,
        ``miner``, ``optimizer`` (``_partial_``) and ``scheduler`` (``_partial_``) carry a ``_target_``.
        ``loader`` (the data loader settings the task's datamodule is built from) and ``data_name``
        are recorded with the checkpoint; eval finds the newest checkpoint of a dataset by the latter."""
        super().__init__()
        if pairs not in PAIRS:
            raise ValueError(f"model.pairs={pairs!r}; accepted: {', '.join(PAIRS)}")
        net, loss, miner, optimizer, scheduler, augment, loader = map(plain, (net, loss, miner, optimizer, scheduler, augment, loader))
        self.save_hyperparameters(
            {"net": net, "loss": loss, "miner": miner, "optimizer": optimizer, "scheduler": scheduler,
             "augment": augment, "pairs": pairs, "ks": list(ks), "loader": loader, "data_name": data_name}
        )
        self.net = SiameseNet(**dict(net or {}))
        default_loss = {"_target_": "pytorch_metric_learning.losses.NTXentLoss", "temperature": 0.1}
        self.loss_fn = instantiate(loss or default_loss)
        self.miner = instantiate(miner) if miner else None
        self.augment = PairAugment(augment)
        self.ks = [int(k) for k in ks]
        self._val: dict[int, list[tuple[Tensor, Tensor, Tensor]]] = {0: [], 1: []}

    # --- training -----------------------------------------------------------------------------
    def _pair_loss(self, queries: Tensor, refs: Tensor, labels: Tensor) -> Tensor:
        # A copy, not `labels` itself: pytorch-metric-learning drops the diagonal from the positives
        # when `ref_labels is labels` (it assumes the same embeddings), and the diagonal here is
        # the most important positive: the sketch and the normal map of the same view.
        ref_labels = labels.clone()
        tuples = self.miner(queries, labels, refs, ref_labels) if self.miner is not None else None
        return self.loss_fn(queries, labels, tuples, ref_emb=refs, ref_labels=ref_labels)

    def metric_loss(self, sketch_emb: Tensor, normal_emb: Tensor, labels: Tensor) -> Tensor:
        """The metric-learning loss of a batch of embeddings ``(B, D)`` with shape labels ``(B,)``."""
        if self.hparams.pairs == "cross":
            return 0.5 * (self._pair_loss(sketch_emb, normal_emb, labels) + self._pair_loss(normal_emb, sketch_emb, labels))
        embeddings, both = torch.cat([sketch_emb, normal_emb]), torch.cat([labels, labels])
        tuples = self.miner(embeddings, both) if self.miner is not None else None
        return self.loss_fn(embeddings, both, tuples)

    def training_step(self, batch: dict, batch_idx: int) -> Tensor:
        sketches, normals = self.augment(batch["sketch"], batch["normal"])
        labels = batch["label"]
        loss = self.metric_loss(self.net.embed_sketch(sketches), self.net.embed_normal(normals), labels)
        self.log("train/loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(labels))
        return loss

    # --- validation: retrieval ------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val = {0: [], 1: []}

    def validation_step(self, batch: dict, batch_idx: int, dataloader_idx: int = 0) -> None:
        embed = self.net.embed_sketch if dataloader_idx == 0 else self.net.embed_normal
        self._val[dataloader_idx].append((embed(batch["image"]).cpu(), batch["label"].cpu(), batch["view"].cpu()))

    def on_validation_epoch_end(self) -> None:
        if not self._val[0] or not self._val[1]:
            return
        query, query_labels, _ = (torch.cat(x) for x in zip(*self._val[0]))
        gallery, gallery_labels, _ = (torch.cat(x) for x in zip(*self._val[1]))
        _, retrieved = search_labels(query, gallery, gallery_labels.numpy(), max(self.ks))
        metrics = retrieval_metrics(retrieved, query_labels.numpy(), self.ks)
        for name, value in metrics.items():
            self.log(f"val/{name}", value, prog_bar=name == "hit@1")
        self._val = {0: [], 1: []}

    # --- optimization ---------------------------------------------------------------------------
    def configure_optimizers(self):
        spec = self.hparams.optimizer or {"_target_": "torch.optim.AdamW", "_partial_": True, "lr": 1e-3}
        optimizer = instantiate(spec)(self.parameters())
        if not self.hparams.scheduler:
            return optimizer
        scheduler = instantiate(self.hparams.scheduler)(optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


def load_siamese(ckpt_path: str | Path, device: str | torch.device = "cpu") -> SiameseNet:
    """The trained :class:`SiameseNet` of a ``train_siamese`` checkpoint, in eval mode, frozen."""

    module = load_lightning_module(SiameseModule, ckpt_path, device, "a Siamese network (train_siamese)", " (train one with scripts/train_siamese.py)")
    net = module.net.eval()
    net.requires_grad_(False)
    return net
