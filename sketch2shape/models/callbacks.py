"""Lightning callbacks that write pictures of a training run into its run folder."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

log = logging.getLogger(__name__)


def read_csv_logger_metrics(trainer: L.Trainer) -> pd.DataFrame | None:
    """The metrics.csv of the run's CSVLogger, if there is one."""
    for logger in trainer.loggers:
        if isinstance(logger, L.pytorch.loggers.CSVLogger):
            path = Path(logger.log_dir) / "metrics.csv"
            if path.is_file():
                return pd.read_csv(path)
    return None


class DeepSDFReport(L.Callback):
    """At the end of training: ``loss_curve.png`` and ``reconstructions.png`` (mesh renders of
    training shapes from their learned codes next to the ground-truth normal maps)."""

    def __init__(self, out_dir: str | Path, layout, shapes: int = 8, resolution: int = 128) -> None:
        self.out_dir = Path(out_dir)
        self.layout = layout
        self.shapes = shapes
        self.resolution = resolution

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if not trainer.is_global_zero:
            return
        from sketch2shape.mesh.marching_cubes import extract_mesh
        from sketch2shape.viz import PREVIEW_CAMERA, plot_curves, render_mesh, save_labeled_grid, short_id

        metrics = read_csv_logger_metrics(trainer)
        if metrics is not None and "train/loss" in metrics:
            curves = {k: metrics[k].dropna().tolist() for k in ("train/loss", "train/sdf_l1") if k in metrics}
            plot_curves(self.out_dir / "loss_curve.png", curves, xlabel="epoch", title="DeepSDF training")
        decoder = pl_module.decoder.eval()
        renders, truths, labels = [], [], []
        with torch.no_grad():
            for obj_id in pl_module.train_obj_ids[: self.shapes]:
                latent = pl_module.latent_of(obj_id)
                mesh, _ = extract_mesh(lambda p: decoder(latent, p), resolution=self.resolution, device=latent.device)
                renders.append(render_mesh(mesh, PREVIEW_CAMERA))
                gt_mesh = self.layout.shape(obj_id).normalized_mesh
                truths.append(render_mesh(_load(gt_mesh), PREVIEW_CAMERA) if gt_mesh.is_file() else np.full_like(renders[-1], 255))
                labels.append(short_id(obj_id))
        if renders:
            save_labeled_grid(self.out_dir / "reconstructions.png", [truths, renders], row_labels=["truth", "DeepSDF"], col_labels=labels)
        log.info("wrote %s and %s", self.out_dir / "loss_curve.png", self.out_dir / "reconstructions.png")


def _load(path):
    from sketch2shape.data.preprocess.mesh import load_mesh

    return load_mesh(path)
