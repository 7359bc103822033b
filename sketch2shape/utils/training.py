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
    loggers = instantiate_group(cfg.get("logger"))
    all_callbacks = instantiate_group(cfg.get("callbacks")) + list(callbacks or [])
    return instantiate(cfg.trainer, logger=loggers or False, callbacks=all_callbacks)


def save_config(cfg: DictConfig, run_dir: str | Path) -> Path:
    """Store the resolved config of a run next to its outputs (the checkpoints hold it too)."""
    from sketch2shape.utils.io import write_text

    path = Path(run_dir) / "config.yaml"
    write_text(path, OmegaConf.to_yaml(cfg, resolve=True))
    return path
