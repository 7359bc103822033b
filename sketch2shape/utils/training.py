"""Config helpers of training and optimization runs: instantiate config groups, store the config.

The trainer itself is built by :func:`sketch2shape.models.training.build_trainer` (it adds the
models' :class:`~sketch2shape.models.callbacks.EpochHistory`, and utils imports nothing above it).
"""

from __future__ import annotations

from pathlib import Path

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from sketch2shape.utils.io import write_text


def instantiate_group(node: DictConfig | None) -> list:
    """Instantiate every ``_target_`` entry of a config group node (loggers, callbacks)."""
    if not node:
        return []
    return [instantiate(item) for item in node.values() if isinstance(item, DictConfig) and "_target_" in item]


def save_config(cfg: DictConfig, run_dir: str | Path) -> Path:
    """Store the resolved config of a run next to its outputs (the checkpoints hold it too)."""

    path = Path(run_dir) / "config.yaml"
    write_text(path, OmegaConf.to_yaml(cfg, resolve=True))
    return path
