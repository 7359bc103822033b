"""Evaluate a sketch encoder by decoding its codes: chamfer / F-score of the meshes, next to the mean code.

Used at the end of the train_sketch_encoder task (``final_eval``) on shapes the encoder has
never seen (the val split), one synthetic sketch per shape and view, and by the training-curve figure.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
from sketch2shape.models.siamese_plots import run_epoch_table
from sketch2shape.optimize.latent import LatentOptimSettings
from sketch2shape.optimize.reconstruct import MeshSettings, reconstruct_shape, save_reconstruction_pictures
from sketch2shape.utils.io import atomic_path, save_figure

log = logging.getLogger(__name__)


def read_sketch(path: Path) -> torch.Tensor:
    """``(1, 1, H, W)`` float sketch in [0, 1], black strokes on white, from a PNG."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/preprocess_data.py data=...` first")
    return torch.from_numpy(np.asarray(Image.open(path).convert("L"), dtype=np.float32) / 255.0)[None, None]


def evaluate_encoder_codes(
    encoder,
    deepsdf,
    layout: DatasetLayout,
    obj_ids: Sequence[str],
    views: Sequence[int],
    mesh_resolution: int = 128,
    chamfer_points: int = 30_000,
) -> tuple[pd.DataFrame, list]:
    """Chamfer / F-score of the encoder's code (one per shape and view), of the training code
    nearest to it (``encoder_nearest_code``: the encoder used as retrieval) and of the mean code.

    Returns a table ``obj_id, view, method (encoder | encoder_nearest_code | mean_code), chamfer,
    fscore`` (``view`` is -1 for the mean code) and the encoder's reconstructions (for pictures).
    """

    device = encoder.codes.device
    mesh = MeshSettings(resolution=int(mesh_resolution))
    optim = LatentOptimSettings()
    mean_code = deepsdf.mean_latent().to(device)
    rows, recons = [], []
    for obj_id in obj_ids:
        for view in views:
            with torch.no_grad():
                code = encoder.encode_sketch(read_sketch(layout.shape(obj_id).sketch(int(view))))[0]
            recon = reconstruct_shape(deepsdf, layout, obj_id, code, None, optim, mesh, chamfer_points)
            recons.append(recon)
            rows.append({"obj_id": obj_id, "view": int(view), "method": "encoder", "chamfer": recon.metrics.chamfer, "fscore": recon.metrics.fscore})
            nearest = encoder.codes[torch.cdist(code[None], encoder.codes)[0].argmin()]
            snapped = reconstruct_shape(deepsdf, layout, obj_id, nearest, None, optim, mesh, chamfer_points)
            rows.append({"obj_id": obj_id, "view": int(view), "method": "encoder_nearest_code", "chamfer": snapped.metrics.chamfer, "fscore": snapped.metrics.fscore})
            log.info("%s view %d: chamfer x1000 encoder %.3f, its nearest training code %.3f", obj_id, view,
                     recon.metrics.chamfer * 1000, snapped.metrics.chamfer * 1000)
        recon = reconstruct_shape(deepsdf, layout, obj_id, mean_code, None, optim, mesh, chamfer_points)
        rows.append({"obj_id": obj_id, "view": -1, "method": "mean_code", "chamfer": recon.metrics.chamfer, "fscore": recon.metrics.fscore})
        log.info("%s: mean code chamfer x1000 %.3f", obj_id, recon.metrics.chamfer * 1000)
    return pd.DataFrame(rows, columns=["obj_id", "view", "method", "chamfer", "fscore"]), recons


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: shapes, chamfer x1000 mean / median, F-score mean."""
    grouped = table.groupby("method")
    return pd.DataFrame({
        "count": grouped["chamfer"].count(),
        "chamfer_x1000_mean": grouped["chamfer"].mean() * 1000,
        "chamfer_x1000_median": grouped["chamfer"].median() * 1000,
        "fscore_mean": grouped["fscore"].mean(),
    }).reset_index()


def write_table(path: str | Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.8f")


def save_encoder_training_curve(run_dir: str | Path, metrics_csv: str | Path | None = None) -> Path | None:
    """``run_dir/training_curve.png``: training loss terms and validation (held-out views) per epoch.

    Returns None (with a warning) when the run has no CSV log.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    run_dir = Path(run_dir)
    table = run_epoch_table(run_dir, metrics_csv)
    if table is None:
        return None
    fig, (ax_loss, ax_val, ax_unseen) = plt.subplots(1, 3, figsize=(15, 3.5))
    for name in ("train/loss", "train/latent", "train/sdf", "val/latent_rel_mse"):
        if name in table:
            rows = table.dropna(subset=[name])
            ax_loss.plot(rows["epoch"], rows[name], marker=".", label=name)
    ax_loss.axhline(1.0, color="gray", linestyle="--", linewidth=0.8, label="mean code (latent)")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="losses (latent: / code variance)")
    ax_loss.legend(loc="upper right", fontsize=8)
    if "val/code_acc" in table:
        rows = table.dropna(subset=["val/code_acc"])
        ax_val.plot(rows["epoch"], rows["val/code_acc"], marker=".", label="val/code_acc")
    ax_val.set(xlabel="epoch", ylim=(0, 1.02), title="held-out views: nearest code is the shape's")
    ax_val.legend(loc="lower right")
    for name, label in (("val_shapes/sdf_l1", "encoder"), ("val_shapes/mean_code_sdf_l1", "mean code")):
        if name in table:
            rows = table.dropna(subset=[name])
            ax_unseen.plot(rows["epoch"], rows[name], marker=".", label=label)
    ax_unseen.set(xlabel="epoch", ylabel="clamped L1 to the true SDF", title="unseen shapes (val split, all views)")
    if ax_unseen.lines:
        ax_unseen.legend(loc="upper right")
    for ax in (ax_loss, ax_val, ax_unseen):
        ax.grid(alpha=0.3)
    path = run_dir / "training_curve.png"
    save_figure(path, fig)
    return path


def final_eval(settings, out_dir: str | Path, encoder, deepsdf, data_cfg, device: torch.device) -> pd.DataFrame | None:
    """The ``final_eval`` of a sketch-encoder training run: chamfer of the decoded codes of the
    ``settings.split`` shapes' sketches (``settings.views``) next to the mean code.

    ``settings``: the ``final_eval`` config node (``split``, ``views``, ``mesh_resolution``,
    ``chamfer_points``); ``data_cfg``: the ``data`` node. Writes ``final_eval.csv`` (per shape),
    ``final_eval_summary.csv`` and ``reconstructions.png`` into ``out_dir`` and returns the summary,
    or ``None`` (with a warning) when the split has no shapes.
    """

    deepsdf = deepsdf.to(device)
    encoder = encoder.eval().to(device)
    encoder.check_compatible(deepsdf, data_cfg.name)
    layout = DatasetLayout.from_config(data_cfg)
    obj_ids = obj_ids_of(read_metainfo(layout.metainfo), settings.split)
    if not obj_ids:
        log.warning("final_eval: no shapes in split %s of %s; skipped", settings.split, layout.metainfo)
        return None
    views = list(settings.views)
    table, recons = evaluate_encoder_codes(encoder, deepsdf, layout, obj_ids, views, settings.mesh_resolution, settings.chamfer_points)
    out = Path(out_dir)
    write_table(out / "final_eval.csv", table)
    summary = summarize(table)
    write_table(out / "final_eval_summary.csv", summary)
    save_reconstruction_pictures(out, layout, recons)
    for row in summary.itertuples():
        log.info("final_eval %s (%s, views %s): chamfer x1000 mean %.3f median %.3f, F-score %.3f over %d",
                 row.method, settings.split, views, row.chamfer_x1000_mean, row.chamfer_x1000_median, row.fscore_mean, row.count)
    return summary
