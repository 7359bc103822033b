"""Settings of the browser app: ``sketch2shape/conf/app.yaml``, overridden by command-line flags.

Relative paths (checkpoints, data folder) are relative to the current folder, as for
``sketch2shape reconstruct``.

Models, as for ``sketch2shape reconstruct``: ``deepsdf_ckpt`` and ``encoder_ckpt`` unset (null)
use a model shipped in the package (``sketch2shape/pretrained``; ``model`` names which, unset the
default one); a user's own DeepSDF and the
sketch encoder trained for it (Lightning checkpoints or release files) plug in through the same
two settings. ``siamese_ckpt`` without ``encoder_ckpt`` is the demo's way (no encoder: optimize
from the mean code with the Siamese distance; ``deepsdf_ckpt`` defaults to the demo's run).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from sketch2shape.optimize.sketch_to_shape import SketchToShapeSettings, method_node
from sketch2shape.utils.hydra import CONFIG_DIR

CONFIG_PATH = CONFIG_DIR / "app.yaml"
DEMO_RUN = Path("logs") / "demo" / "procedural_chair_16"
DEMO_DEEPSDF = str(DEMO_RUN / "train_deepsdf" / "checkpoints" / "last.ckpt")
INIT_MODES = ("retrieval", "mean")
# torch CPU threads of the worker. Measured on the 2-core development machine (first shape of a
# release-sized DeepSDF, 128^3 mesh, while a release training kept both cores busy; the app niced):
# 1 thread 33 s, 2 threads 36 s; with two more busy processes 98 s and 106 s. 1 thread is never
# slower there and leaves a core to the rest of the machine; set more on a machine with idle cores.
DEFAULT_THREADS = 1


@dataclass(frozen=True)
class AppSettings:
    host: str = "127.0.0.1"
    port: int = 7860
    model: str | None = None  # the pretrained model by name (sketch2shape.pretrained.PRETRAINED_MODELS); None: the default one
    deepsdf_ckpt: str | None = None  # None: the pretrained DeepSDF (demo mode: the demo's run)
    encoder_ckpt: str | None = None  # None: the pretrained sketch encoder
    siamese_ckpt: str | None = None  # demo mode only (without encoder_ckpt)
    data_dir: str = "data"
    device: str = "auto"
    threads: int = DEFAULT_THREADS  # torch CPU threads of the worker (0: torch's default, one per core)
    # The method's settings; None: the method's own default (SketchToShapeSettings, defined once in
    # sketch2shape/optimize/sketch_to_shape.py; demo mode: optimize_sketch's loss weights).
    steps: int | None = None  # refinement steps after the first shape (0: the encoder's shape only); demo: optimization steps
    silhouette_weight: float | None = None
    min_iou: float | None = None
    max_line_chamfer: float | None = None  # line chamfer to the drawing above which the page says the shape ignores it
    search: bool = True  # the search among candidate codes scored against the drawing's lines (false: the encoder's shape)
    init: str = "mean"  # demo mode only
    render_resolution: int | None = None  # differentiable rendering size during the refinement / optimization
    resolution: int | None = None  # marching cubes grid of the result mesh
    default_view: int | None = None  # None: estimate the view; an index: preselect that view in the picker
    max_upload_mb: float = 5.0
    max_image_side: int = 4096
    max_queue: int = 8
    keep_jobs: int = 32
    abandon_after_s: float = 60.0

    def __post_init__(self) -> None:
        from sketch2shape.pretrained import pretrained_model

        try:
            pretrained_model(self.model)
        except ValueError as err:
            raise ValueError(f"app {err}") from None
        if self.model is not None and (self.deepsdf_ckpt or self.encoder_ckpt or self.siamese_ckpt):
            raise ValueError(f"app model={self.model!r} names a pretrained model: leave deepsdf_ckpt, encoder_ckpt and siamese_ckpt unset, or model unset")
        if self.init not in INIT_MODES:
            raise ValueError(f"app init={self.init!r}; accepted: {', '.join(INIT_MODES)}")
        for key in ("render_resolution", "resolution", "max_image_side", "keep_jobs"):
            if getattr(self, key) is not None and int(getattr(self, key)) < 1:
                raise ValueError(f"app {key}={getattr(self, key)} must be a positive integer")
        if (self.steps is not None and int(self.steps) < 0) or int(self.threads) < 0:
            raise ValueError(f"app steps={self.steps} and threads={self.threads} must be >= 0")
        if not 0 < int(self.port) < 65536:
            raise ValueError(f"app port={self.port} must be in 1..65535")
        if self.silhouette_weight is not None and self.silhouette_weight < 0:
            raise ValueError(f"app silhouette_weight={self.silhouette_weight} must be >= 0")
        if self.max_upload_mb <= 0 or self.max_queue < 0 or self.abandon_after_s <= 0:
            raise ValueError("app max_upload_mb and abandon_after_s must be > 0, max_queue >= 0")
        if self.default_view is not None and int(self.default_view) < 0:
            raise ValueError(f"app default_view={self.default_view} must be a view index >= 0, or null to estimate the view")

    @cached_property
    def method(self) -> SketchToShapeSettings:
        """The method's settings: the ones set here over the method's defaults (built once)."""
        node = method_node(self.steps, self.render_resolution, self.silhouette_weight, self.resolution, self.min_iou, search=self.search,
                           max_line_chamfer=self.max_line_chamfer)
        return SketchToShapeSettings.from_config(node, "app")

    @cached_property
    def steps_per_job(self) -> int:
        """Optimization steps of one job: the method's refinement steps (encoder mode), or ``steps``
        else optimize_sketch's (demo mode); read once, not per request."""
        if self.demo_mode and self.steps is None:
            from sketch2shape.optimize.sketch import sketch_optimization_settings

            return sketch_optimization_settings().optim.steps
        return self.method.refine.steps

    @property
    def demo_mode(self) -> bool:
        """The demo's way: a Siamese network and no sketch encoder."""
        return bool(self.siamese_ckpt) and not self.encoder_ckpt

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    def replace(self, **changes: Any) -> "AppSettings":
        """A copy with ``changes``; ``None`` values (flags not given) keep the current value."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_settings(path: str | Path | None = None, **overrides: Any) -> AppSettings:
    """``AppSettings`` from a YAML file (default ``sketch2shape/conf/app.yaml``; absent: the built-in defaults)."""
    from omegaconf import OmegaConf

    path = Path(path) if path is not None else CONFIG_PATH
    values: dict[str, Any] = {}
    if path.is_file():
        values = OmegaConf.to_container(OmegaConf.load(path), resolve=True) or {}
        unknown = sorted(set(values) - set(AppSettings.__dataclass_fields__))
        if unknown:
            raise ValueError(f"{path}: unknown keys {unknown}; accepted: {', '.join(AppSettings.__dataclass_fields__)}")
    return AppSettings(**values).replace(**overrides)
