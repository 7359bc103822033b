"""Lightning callbacks that keep a training run's history and write pictures into its run folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import torch

from sketch2shape.data.preprocess.mesh import load_mesh
from sketch2shape.mesh.marching_cubes import extract_mesh
from sketch2shape.utils.io import atomic_path, write_json
from sketch2shape.utils.run_records import TRAINING_SUMMARY, now_iso
from sketch2shape.viz import PREVIEW_CAMERA, plot_curves, render_mesh, save_labeled_grid, short_id

log = logging.getLogger(__name__)


EPOCH_METRICS = "epoch_metrics.csv"


class EpochHistory(L.Callback):
    """Every epoch's metrics (``trainer.callback_metrics``: the epoch means of what the module
    logged, validation included), independent of the loggers.

    The history is part of the checkpoint, so a run resumed from it continues the same history
    (true epoch numbers, the epochs before the resume included); after every epoch it is written
    to ``<out_dir>/epoch_metrics.csv`` (one row per epoch: ``epoch``, ``step``, metrics).
    ``sketch2shape.models.training.build_trainer`` adds one to every training.
    """

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.rows: list[dict] = []

    @property
    def path(self) -> Path:
        return self.out_dir / EPOCH_METRICS

    def table(self) -> pd.DataFrame:
        """The history as a table, one row per epoch."""
        return pd.DataFrame(self.rows)

    def write(self) -> None:
        if self.rows:
            with atomic_path(self.path) as tmp:
                self.table().to_csv(tmp, index=False)

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.is_global_zero and self.rows:
            self.write()  # a resumed run's folder gets the history so far right away

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        row: dict = {"epoch": int(trainer.current_epoch), "step": int(trainer.global_step)}
        for name, value in trainer.callback_metrics.items():
            try:
                row[name] = float(value)
            except (TypeError, ValueError, RuntimeError):
                continue
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            self.write()

    def state_dict(self) -> dict:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = [dict(r) for r in state_dict.get("rows", [])]


class TrainingSummary(L.Callback):
    """What a training did, written at its end to ``<out_dir>/training_summary.json``
    (:data:`~sketch2shape.utils.run_records.TRAINING_SUMMARY`): ``epochs`` (Lightning's
    ``current_epoch`` at the end: the epochs run, a last one the time cap cut short included),
    ``max_epochs``, ``first_epoch`` (a resumed run's start), ``steps``, ``seconds`` of training,
    ``max_time_s`` (the ``trainer.max_time`` cap, ``null`` without one), ``finished`` and
    ``stopped_by``: ``max_epochs``, ``max_time`` (Lightning's ``Timer`` callback stopped it),
    ``max_steps`` or ``other`` (early stopping, a callback). ``build_trainer`` adds one to every
    training; :func:`sketch2shape.utils.run_records.describe_training` says it in one line."""

    def __init__(self, out_dir: str | Path) -> None:
        self.out_dir = Path(out_dir)
        self.first_epoch = 0
        self.started = self.last_epoch_end = time.perf_counter()
        self.summary: dict | None = None

    @property
    def path(self) -> Path:
        return self.out_dir / TRAINING_SUMMARY

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        self.first_epoch, self.started = int(trainer.current_epoch), time.perf_counter()
        self.last_epoch_end = self.started

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        self.last_epoch_end = time.perf_counter()  # the training's seconds end here, not after the pictures of on_train_end

    @staticmethod
    def stopped_by(trainer: L.Trainer, time_remaining: float | None) -> str:
        """What ended ``trainer``'s fit: ``max_epochs``, ``max_time`` (``time_remaining``, the
        seconds its Timer had left, ran out; None: no Timer), ``max_steps`` or ``other``."""
        if trainer.max_epochs not in (None, -1) and trainer.current_epoch >= trainer.max_epochs:
            return "max_epochs"
        if time_remaining is not None and time_remaining <= 0:
            return "max_time"
        if trainer.max_steps not in (None, -1) and trainer.global_step >= trainer.max_steps:
            return "max_steps"
        return "other"

    def on_fit_end(self, trainer: L.Trainer, pl_module) -> None:
        from lightning.pytorch.callbacks import Timer

        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        remaining = timer.time_remaining() if timer is not None else None
        self.summary = {
            "epochs": int(trainer.current_epoch), "max_epochs": trainer.max_epochs, "first_epoch": self.first_epoch,
            "steps": int(trainer.global_step), "seconds": round(self.last_epoch_end - self.started, 1),
            "max_time_s": None if remaining is None else round(timer.time_elapsed() + remaining, 1),
            "stopped_by": self.stopped_by(trainer, remaining), "finished": now_iso(),
        }
        if trainer.is_global_zero:
            write_json(self.path, self.summary)


class EpochProgress(L.Callback):
    """A training's progress as log lines (logger ``sketch2shape.models.callbacks``) instead of
    Lightning's progress bar, for output that is not a terminal: ``epoch 12/100: train/loss=0.0123
    (45 s)`` after the first epoch and the last one (whatever ended the training), and in between
    at most every ``interval`` seconds.
    ``build_trainer`` puts it in place of the bar when stdout (where the bar draws) is not a terminal.
    """

    def __init__(self, interval: float = 30.0) -> None:
        self.interval = float(interval)
        self.started: float | None = None
        self.last_line: float | None = None
        self.pending: str | None = None  # the latest epoch's line, not logged yet

    def on_train_start(self, trainer: L.Trainer, pl_module) -> None:
        self.started = self.last_line = self.pending = None

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module) -> None:
        if self.started is None:
            self.started = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        now = time.perf_counter()
        self.pending = self.line(trainer, now - (self.started or now))
        if self.last_line is None or now - self.last_line >= self.interval:
            self.last_line = now
            log.info(self.pending)
            self.pending = None

    def on_train_end(self, trainer: L.Trainer, pl_module) -> None:
        if self.pending is not None and trainer.is_global_zero:  # the last epoch, whatever stopped the training
            log.info(self.pending)
            self.pending = None

    def line(self, trainer: L.Trainer, seconds: float) -> str:
        """``epoch <n>/<max>: <metric>=<value> ... (<seconds> s)``, the metrics the bar would show."""
        total = f"/{trainer.max_epochs}" if trainer.max_epochs is not None and trainer.max_epochs > 0 else ""
        metrics = []
        for name, value in trainer.progress_bar_metrics.items():
            try:
                metrics.append(f"{name}={float(value):.4g}")
            except (TypeError, ValueError, RuntimeError):
                continue
        return f"epoch {int(trainer.current_epoch) + 1}{total}: {' '.join(metrics) or 'done'} ({seconds:.0f} s)"


def epoch_history(trainer: L.Trainer) -> pd.DataFrame | None:
    """The :class:`EpochHistory` of a trainer as a table (None if it has none or it is empty)."""
    for callback in trainer.callbacks:
        if isinstance(callback, EpochHistory) and callback.rows:
            return callback.table()
    return None


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

        written = []
        history = epoch_history(trainer)
        if history is not None and "train/loss" in history:
            curves = {}
            for name in ("train/loss", "train/sdf_l1"):
                if name in history:
                    rows = history.dropna(subset=[name])
                    curves[name] = (rows["epoch"].tolist(), rows[name].tolist())
            plot_curves(self.out_dir / "loss_curve.png", curves, xlabel="epoch", title="DeepSDF training")
            written.append(self.out_dir / "loss_curve.png")
        else:
            log.warning("no epoch history (no finished epoch?): no loss_curve.png")
        decoder = pl_module.decoder.eval()
        renders, truths, labels = [], [], []
        with torch.no_grad():
            for obj_id in pl_module.train_obj_ids[: self.shapes]:
                latent = pl_module.latent_of(obj_id)
                mesh, _ = extract_mesh(decoder.field(latent), resolution=self.resolution, device=latent.device)
                renders.append(render_mesh(mesh, PREVIEW_CAMERA))
                gt_mesh = self.layout.shape(obj_id).normalized_mesh
                truths.append(render_mesh(_load(gt_mesh), PREVIEW_CAMERA) if gt_mesh.is_file() else np.full_like(renders[-1], 255))
                labels.append(short_id(obj_id))
        if renders:
            save_labeled_grid(self.out_dir / "reconstructions.png", [truths, renders], row_labels=["truth", "DeepSDF"], col_labels=labels)
            written.append(self.out_dir / "reconstructions.png")
        if written:
            log.info("wrote %s", " and ".join(str(p) for p in written))


def _load(path):
    return load_mesh(path)
