"""Build the Lightning trainer of a training task from its Hydra config (loggers, callbacks, device).

It sits in :mod:`sketch2shape.models` (not :mod:`sketch2shape.utils`) because every trainer gets
this package's :class:`~sketch2shape.models.callbacks.EpochHistory` callback.
"""

from __future__ import annotations

import inspect
import logging
import sys

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sketch2shape.models.callbacks import EpochHistory, EpochProgress, TrainingSummary
from sketch2shape.utils.config import ConfigError, check_keys
from sketch2shape.utils.device import trainer_device_settings
from sketch2shape.utils.progress import QUIET_INTERVAL, interactive
from sketch2shape.utils.run_records import describe_training
from sketch2shape.utils.training import instantiate_group

log = logging.getLogger(__name__)

MATMUL_PRECISIONS = ("highest", "high", "medium")


def set_matmul_precision(value: str | None) -> str:
    """``torch.set_float32_matmul_precision(value)`` (``trainer.float32_matmul_precision``;
    ``None``: ``highest``). ``high`` allows TF32 and ``medium`` bfloat16 in fp32 matmuls on GPUs
    that have them. Raises :class:`ConfigError` naming the accepted values for another one."""
    value = "highest" if value is None else str(value)
    if value not in MATMUL_PRECISIONS:
        raise ConfigError(f"trainer.float32_matmul_precision={value!r}; accepted: {', '.join(MATMUL_PRECISIONS)}")
    torch.set_float32_matmul_precision(value)
    return value


def quiet_progress(trainer_cfg: dict, callbacks: list) -> bool:
    """Whether Lightning's progress bar should give way to :class:`EpochProgress` lines: the bar is
    enabled and is Lightning's own (no progress bar callback given), and stdout, where it draws, is
    not a terminal (a file or a pipe keeps every redraw: :mod:`sketch2shape.utils.progress`)."""
    from lightning.pytorch.callbacks import ProgressBar

    enabled = trainer_cfg.get("enable_progress_bar", True) is not False
    return enabled and not any(isinstance(c, ProgressBar) for c in callbacks) and not interactive(sys.stdout)


def build_trainer(cfg: DictConfig, callbacks: list | None = None) -> L.Trainer:
    """The Lightning trainer of ``cfg.trainer`` with the config's loggers and callbacks.

    ``cfg.device`` (auto|cpu|cuda|cuda:N) sets the trainer's accelerator/devices
    (:func:`sketch2shape.utils.device.trainer_device_settings`). An :class:`EpochHistory` callback
    is always added: it keeps every epoch's metrics in the checkpoint and writes
    ``<run>/epoch_metrics.csv``, whatever the loggers (the training pictures read it), and a
    :class:`TrainingSummary`: ``<run>/training_summary.json``, the epochs run of those planned and
    whether the time cap ``trainer.max_time`` stopped the training (:func:`log_training_end`).
    ``trainer.float32_matmul_precision`` is applied with :func:`set_matmul_precision` and not
    passed to the Trainer. When stdout is not a terminal, Lightning's progress bar gives way to a
    line per epoch at most every :data:`~sketch2shape.utils.progress.QUIET_INTERVAL` seconds
    (:func:`quiet_progress`, :class:`EpochProgress`).
    """
    loggers = instantiate_group(cfg.get("logger"))
    all_callbacks = instantiate_group(cfg.get("callbacks")) + list(callbacks or [])
    if not any(isinstance(c, EpochHistory) for c in all_callbacks):
        all_callbacks.append(EpochHistory(cfg.paths.output_dir))
    if not any(isinstance(c, TrainingSummary) for c in all_callbacks):
        all_callbacks.append(TrainingSummary(cfg.paths.output_dir))
    overrides = trainer_device_settings(cfg.get("device", "auto"), cfg.trainer)
    if overrides:
        log.info("device=%s: trainer %s", cfg.get("device"), overrides)
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    precision = set_matmul_precision(trainer_cfg.pop("float32_matmul_precision", None))
    if quiet_progress(trainer_cfg, all_callbacks):
        trainer_cfg["enable_progress_bar"] = False
        all_callbacks.append(EpochProgress(QUIET_INTERVAL))
    accepted = [name for name in inspect.signature(L.Trainer.__init__).parameters if name not in ("self", "logger", "callbacks")]
    check_keys({k: v for k, v in trainer_cfg.items() if not k.startswith("_")}, (*accepted, "float32_matmul_precision"), "trainer")
    if precision != "highest":
        log.info("float32 matmul precision: %s", precision)
    return instantiate(trainer_cfg, logger=loggers or False, callbacks=all_callbacks, **overrides)


def last_checkpoint(trainer: L.Trainer, logger: logging.Logger | None = None) -> str | None:
    """The path of the run's last (else best) checkpoint, logged and printed as ``checkpoint: <path>``
    (the line the demo and the tests read); ``None`` when the trainer saved none."""
    callback = trainer.checkpoint_callback
    path = (callback.last_model_path or callback.best_model_path) if callback is not None else None
    if path:
        (logger or log).info("checkpoint: %s", path)
        print(f"checkpoint: {path}")
    return path or None


def log_training_end(trainer: L.Trainer, logger: logging.Logger | None = None) -> dict | None:
    """Log the training's :class:`TrainingSummary` in one line, ``training: 64 of 100 planned
    epochs in 360 s: stopped by the time cap (trainer.max_time: 0:06:00)``, as a warning when the
    time cap stopped it (the results then depend on how fast the machine ran); the tasks end with
    it. Returns the summary (``None`` on a trainer without one, or before it finished)."""
    summary = next((c.summary for c in trainer.callbacks if isinstance(c, TrainingSummary)), None)
    if summary is not None and trainer.is_global_zero:
        level = logging.WARNING if summary["stopped_by"] == "max_time" else logging.INFO
        (logger or log).log(level, "training: %s", describe_training(summary))
    return summary


def finish_distributed() -> None:
    """Destroy the process group a DDP run created (no-op otherwise). Without it, gloo's threads
    can still be running when the interpreter exits, which aborts the process (SIGABRT,
    "terminate called without an active exception") after a finished training."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
