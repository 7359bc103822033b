"""Build Lightning trainers, loggers and callbacks from Hydra config nodes."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


def instantiate_group(node: DictConfig | None) -> list:
    """Instantiate every ``_target_`` entry of a config group node (loggers, callbacks)."""
    if not node:
        return []
    return [instantiate(item) for item in node.values() if isinstance(item, DictConfig) and "_target_" in item]


def build_trainer(cfg: DictConfig, callbacks: list | None = None) -> L.Trainer:
    """The Lightning trainer of ``cfg.trainer`` with the config's loggers and callbacks.

    ``cfg.device`` (auto|cpu|cuda|cuda:N) sets the trainer's accelerator/devices
    (:func:`sketch2shape.utils.device.trainer_device_settings`). An :class:`EpochHistory` callback
    is always added: it keeps every epoch's metrics in the checkpoint and writes
    ``<run>/epoch_metrics.csv``, whatever the loggers (the training pictures read it).
    """
    from sketch2shape.models.callbacks import EpochHistory
    from sketch2shape.utils.device import trainer_device_settings

    loggers = instantiate_group(cfg.get("logger"))
    all_callbacks = instantiate_group(cfg.get("callbacks")) + list(callbacks or [])
    if not any(isinstance(c, EpochHistory) for c in all_callbacks):
        all_callbacks.append(EpochHistory(cfg.paths.output_dir))
    overrides = trainer_device_settings(cfg.get("device", "auto"), cfg.trainer)
    if overrides:
        log.info("device=%s: trainer %s", cfg.get("device"), overrides)
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=all_callbacks, **overrides)


def save_config(cfg: DictConfig, run_dir: str | Path) -> Path:
    """Store the resolved config of a run next to its outputs (the checkpoints hold it too)."""
    from sketch2shape.utils.io import write_text

    path = Path(run_dir) / "config.yaml"
    write_text(path, OmegaConf.to_yaml(cfg, resolve=True))
    return path
