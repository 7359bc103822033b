"""Build the Lightning trainer of a training task from its Hydra config (loggers, callbacks, device).

It sits in :mod:`sketch2shape.models` (not :mod:`sketch2shape.utils`) because every trainer gets
this package's :class:`~sketch2shape.models.callbacks.EpochHistory` callback.
"""

from __future__ import annotations

import logging

import lightning as L
from hydra.utils import instantiate
from omegaconf import DictConfig

from sketch2shape.models.callbacks import EpochHistory
from sketch2shape.utils.device import trainer_device_settings
from sketch2shape.utils.training import instantiate_group

log = logging.getLogger(__name__)


def build_trainer(cfg: DictConfig, callbacks: list | None = None) -> L.Trainer:
    """The Lightning trainer of ``cfg.trainer`` with the config's loggers and callbacks.

    ``cfg.device`` (auto|cpu|cuda|cuda:N) sets the trainer's accelerator/devices
    (:func:`sketch2shape.utils.device.trainer_device_settings`). An :class:`EpochHistory` callback
    is always added: it keeps every epoch's metrics in the checkpoint and writes
    ``<run>/epoch_metrics.csv``, whatever the loggers (the training pictures read it).
    """
    loggers = instantiate_group(cfg.get("logger"))
    all_callbacks = instantiate_group(cfg.get("callbacks")) + list(callbacks or [])
    if not any(isinstance(c, EpochHistory) for c in all_callbacks):
        all_callbacks.append(EpochHistory(cfg.paths.output_dir))
    overrides = trainer_device_settings(cfg.get("device", "auto"), cfg.trainer)
    if overrides:
        log.info("device=%s: trainer %s", cfg.get("device"), overrides)
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=all_callbacks, **overrides)
