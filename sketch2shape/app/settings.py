"""Settings of the browser app: ``conf/app.yaml``, overridden by command-line flags.

Relative paths (checkpoints, data folder) are relative to the current folder, as for
``sketch2shape reconstruct``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sketch2shape.utils.hydra import REPO_ROOT

CONFIG_PATH = REPO_ROOT / "conf" / "app.yaml"
DEMO_RUN = Path("logs") / "demo" / "procedural_chair_16"
INIT_MODES = ("retrieval", "mean")


@dataclass(frozen=True)
class AppSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    deepsdf_ckpt: str = str(DEMO_RUN / "train_deepsdf" / "checkpoints" / "last.ckpt")
    siamese_ckpt: str = str(DEMO_RUN / "train_siamese" / "checkpoints" / "last.ckpt")
    data_dir: str = "data"
    device: str = "auto"
    init: str = "mean"
    steps: int = 60
    silhouette_weight: float = 3.0
    render_resolution: int = 64
    resolution: int = 128
    default_view: int = 13
    max_upload_mb: float = 5.0
    max_image_side: int = 4096
    max_queue: int = 8
    keep_jobs: int = 32
    abandon_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.init not in INIT_MODES:
            raise ValueError(f"app init={self.init!r}; accepted: {', '.join(INIT_MODES)}")
        for key in ("steps", "render_resolution", "resolution", "max_image_side", "keep_jobs"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"app {key}={getattr(self, key)} must be a positive integer")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"app port={self.port} must be in 1..65535")
        if self.silhouette_weight < 0:
            raise ValueError(f"app silhouette_weight={self.silhouette_weight} must be >= 0")
        if self.max_upload_mb <= 0 or self.max_queue < 0 or self.abandon_after_s <= 0:
            raise ValueError("app max_upload_mb and abandon_after_s must be > 0, max_queue >= 0")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def replace(self, **changes: Any) -> "AppSettings":
        """A copy with ``changes``; ``None`` values (flags not given) keep the current value."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(path: str | Path | None = None, **overrides: Any) -> AppSettings:
    """``AppSettings`` from a YAML file (default ``conf/app.yaml``; absent: the built-in defaults)."""
    from omegaconf import OmegaConf

    path = Path(path) if path is not None else CONFIG_PATH
    values: dict[str, Any] = {}
    if path.is_file():
        values = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
        unknown = sorted(set(values) - set(AppSettings.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}; accepted: {', '.join(AppSettings.__dataclass_fields__)}")
    return AppSettings(**values).replace(**overrides)
