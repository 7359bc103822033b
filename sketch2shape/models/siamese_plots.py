"""Figures of a Siamese training run, read back from the CSV logger's metrics.csv."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from sketch2shape.models.callbacks import EPOCH_METRICS
from sketch2shape.utils.io import save_figure

log = logging.getLogger(__name__)


def epoch_table(metrics_csv: str | Path) -> pd.DataFrame:
    """One row per epoch with the columns logged that epoch (Lightning writes one row per log call)."""
    frame = pd.read_csv(metrics_csv)
    if "epoch" not in frame.columns:
        raise ValueError(f"{metrics_csv} has no epoch column; is it a Lightning CSVLogger file?")
    return frame.groupby("epoch").first().reset_index()


def run_epoch_table(run_dir: str | Path, metrics_csv: str | Path | None = None) -> pd.DataFrame | None:
    """One row per epoch of a run: ``metrics_csv`` if given, else the run's ``epoch_metrics.csv``
    (:class:`sketch2shape.models.callbacks.EpochHistory`: whatever the logger, the epochs before a
    resume included), else its CSV log ``csv/metrics.csv`` (runs older than that callback).
    None, with a warning, when the run has none of them."""

    candidates = [Path(metrics_csv)] if metrics_csv else [Path(run_dir) / EPOCH_METRICS, Path(run_dir) / "csv" / "metrics.csv"]
    for path in candidates:
        if path.is_file():
            return epoch_table(path)
    log.warning("no %s: skipping the training curve", " nor ".join(str(p) for p in candidates))
    return None


def save_training_curve(run_dir: str | Path, metrics_csv: str | Path | None = None) -> Path | None:
    """Plot train/loss and val/hit@1 (and val/recall@1) per epoch into ``run_dir/training_curve.png``.

    Returns None (with a warning) when the run has no CSV log, e.g. with ``logger=tensorboard``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt


    run_dir = Path(run_dir)
    table = run_epoch_table(run_dir, metrics_csv)
    if table is None:
        return None
    fig, (ax_loss, ax_val) = plt.subplots(1, 2, figsize=(10, 3.5))
    if "train/loss" in table:
        rows = table.dropna(subset=["train/loss"])
        ax_loss.plot(rows["epoch"], rows["train/loss"], marker=".")
    ax_loss.set(xlabel="epoch", ylabel="train loss", title="metric-learning loss")
    for name in ("val/hit@1", "val/hit@5", "val/recall@1", "val/recall@10"):
        if name in table:
            rows = table.dropna(subset=[name])
            ax_val.plot(rows["epoch"], rows[name], marker=".", label=name)
    ax_val.set(xlabel="epoch", ylim=(0, 1.02), title="validation retrieval")
    ax_val.legend(loc="lower right")
    for ax in (ax_loss, ax_val):
        ax.grid(alpha=0.3)
    path = run_dir / "training_curve.png"
    save_figure(path, fig)
    return path
