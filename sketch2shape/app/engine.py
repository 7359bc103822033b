"""The reconstruction behind the app: trained models, the dataset's views, sketch -> mesh.

Everything heavy (checkpoints, the retrieval index) is loaded once by :meth:`Reconstructor.load`
and then used by the one worker thread only (:mod:`sketch2shape.app.jobs`). What request
handlers need quickly (the views, a view's framing, checking a drawing) reads only the small
dataset files and never touches the models.

Without a dataset folder (only the checkpoints were copied) the app still works: one default
camera, the default framing and the mean code as start, like ``sketch2shape reconstruct``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import trimesh

from sketch2shape.app.settings import AppSettings
from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.user_sketch import Framing, dataset_framing, normalize_sketch
from sketch2shape.render.camera import Camera, cameras_from_json

DEFAULT_DATA = "procedural_chair_16"
DEFAULT_CAMERA = Camera(azimuth_deg=30.0, elevation_deg=35.0)

# progress(stage, step, terms): stage "optimizing" with the step and its loss terms, or "meshing".
Progress = Callable[[str, int, dict[str, float]], None]


class ModelsMissing(RuntimeError):
    """The checkpoints are not there: the message says how to make them."""


def missing_models_message(settings: AppSettings) -> str | None:
    """The page's and /api/health's explanation when a checkpoint is missing, else None."""
    missing = [p for p in (settings.deepsdf_ckpt, settings.siamese_ckpt) if not Path(p).is_file()]
    if not missing:
        return None
    return (
        f"no trained models found at {', '.join(str(Path(p)) for p in missing)}: run `sketch2shape demo` first "
        "(or pass --deepsdf-ckpt/--siamese-ckpt)"
    )


def direction_name(azimuth_deg: float, elevation_deg: float) -> str:
    """'front-left, above' for a camera (azimuth 0 looks at the front, positive turns to +X = the chair's left)."""
    names = ["front", "front-left", "left", "back-left", "back", "back-right", "right", "front-right"]
    side = names[int(((azimuth_deg % 360.0) + 22.5) // 45.0) % 8]
    if elevation_deg > 50:
        return f"{side}, from high above"
    if elevation_deg > 5:
        return f"{side}, from above"
    if elevation_deg < -5:
        return f"{side}, from below"
    return f"{side}, level"


@dataclass(frozen=True)
class ViewInfo:
    index: int
    azimuth_deg: float
    elevation_deg: float
    label: str
    camera: Camera


@dataclass
class Models:
    deepsdf: object
    siamese: object
    device: torch.device
    index: object | None  # RetrievalIndex, or None for init=mean / no dataset


class Reconstructor:
    """Sketch -> mesh with the configured checkpoints and dataset (see module docstring)."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.models: Models | None = None
        self._lock = threading.Lock()
        self._framings: dict[int, Framing] = {}
        self._data_name: str | None = None
        self._views: list[ViewInfo] | None = None

    # ---- cheap: dataset files only -------------------------------------------------------------
    def missing(self) -> str | None:
        return missing_models_message(self.settings)

    @property
    def data_name(self) -> str:
        """The dataset the DeepSDF checkpoint was trained on (its hyperparameters), else the demo's."""
        if self._data_name is None:
            name = None
            if Path(self.settings.deepsdf_ckpt).is_file():
                try:
                    checkpoint = torch.load(self.settings.deepsdf_ckpt, map_location="cpu", weights_only=False)
                    name = checkpoint.get("hyper_parameters", {}).get("data_name")
                except Exception:  # an unreadable checkpoint is reported by load(); views fall back
                    name = None
            self._data_name = str(name or DEFAULT_DATA)
        return self._data_name

    @property
    def layout(self) -> DatasetLayout:
        return DatasetLayout(Path(self.settings.data_dir) / self.data_name)

    def views(self) -> list[ViewInfo]:
        """The dataset's views (``cameras.json``), or one default camera without a dataset."""
        if self._views is None:
            path = self.layout.cameras
            cameras = cameras_from_json(json.loads(path.read_text())) if path.is_file() else [DEFAULT_CAMERA]
            self._views = [ViewInfo(i, c.azimuth_deg, c.elevation_deg, direction_name(c.azimuth_deg, c.elevation_deg), c) for i, c in enumerate(cameras)]
        return self._views

    def has_dataset(self) -> bool:
        return self.layout.cameras.is_file()

    def default_view(self) -> int:
        return self.settings.default_view if self.settings.default_view < len(self.views()) else 0

    def view(self, index: int) -> ViewInfo:
        views = self.views()
        if not 0 <= index < len(views):
            raise ValueError(f"view={index} is not a view of {self.layout.root}; accepted: 0..{len(views) - 1}")
        return views[index]

    def train_obj_ids(self) -> list[str]:
        from sketch2shape.data.metainfo import obj_ids_of, read_metainfo

        if self.models is not None and self.models.deepsdf.train_obj_ids:
            return list(self.models.deepsdf.train_obj_ids)
        if self.layout.metainfo.is_file():
            return obj_ids_of(read_metainfo(self.layout.metainfo), "train")
        return []

    def example_sketch(self, index: int) -> Path | None:
        """A training sketch from view ``index``: shows the user how that view looks."""
        for obj_id in self.train_obj_ids()[:1]:
            path = self.layout.shape(obj_id).sketch(index)
            if path.is_file():
                return path
        return None

    def framing(self, index: int) -> Framing:
        """Where the training sketches of view ``index`` sit (cached)."""
        with self._lock:
            if index not in self._framings:
                ids = self.train_obj_ids() if self.has_dataset() else []
                self._framings[index] = dataset_framing(self.layout, ids, index)
            return self._framings[index]

    def normalize(self, gray: np.ndarray, index: int, name: str = "sketch") -> np.ndarray:
        """The drawing in the training sketches' form for view ``index``; SketchInputError if empty."""
        return normalize_sketch(gray, self.framing(index), name=name)

    # ---- heavy: the worker thread only ---------------------------------------------------------
    def load(self) -> Models:
        """Load both checkpoints and the retrieval index (once); ModelsMissing without checkpoints."""
        if self.models is not None:
            return self.models
        message = self.missing()
        if message:
            raise ModelsMissing(message)
        from sketch2shape.models.siamese import load_siamese
        from sketch2shape.optimize.reconstruct import load_deepsdf
        from sketch2shape.optimize.sketch import RetrievalIndex
        from sketch2shape.utils.device import resolve_device

        device = resolve_device(self.settings.device)
        deepsdf = load_deepsdf(self.settings.deepsdf_ckpt, device)
        try:
            siamese = load_siamese(self.settings.siamese_ckpt, device)
        except Exception as err:  # e.g. a checkpoint of an older SiameseNet: name the file
            raise RuntimeError(f"siamese checkpoint {self.settings.siamese_ckpt} cannot be loaded with this version: {err}".splitlines()[0]) from err
        index = None
        if self.settings.init == "retrieval" and self.has_dataset() and deepsdf.train_obj_ids:
            index = RetrievalIndex(siamese, self.layout, deepsdf.train_obj_ids, len(self.views()), device)
        self.models = Models(deepsdf, siamese, device, index)
        return self.models

    def reconstruct(
        self,
        sketches: Sequence[tuple[np.ndarray, int]],
        steps: int,
        progress: Progress,
        start: torch.Tensor | None = None,
    ) -> tuple[trimesh.Trimesh, torch.Tensor]:
        """Mesh and latent code for normalized sketches ``[(sketch, view index), ...]``.

        One sketch without ``start``: :func:`reconstruct_from_sketch` (the same result as
        ``sketch2shape reconstruct``). Refinement (``start`` = the code of an earlier result, the
        earlier sketches plus a new one from another view): the same objective averaged over all
        views, from ``start``. ``progress`` may raise to stop the optimization (cancellation).
        """
        from sketch2shape.optimize.latent import LatentOptimSettings, optimize_latent
        from sketch2shape.optimize.reconstruct import MeshSettings, mesh_latent
        from sketch2shape.optimize.sketch import SketchObjective, SketchView, reconstruct_from_sketch, sketch_region
        from sketch2shape.render.shading import from_uint8
        from sketch2shape.render.sphere_tracing import TracingSettings

        models = self.load()
        resolution = self.settings.render_resolution
        optim = LatentOptimSettings(steps=steps, lr=1e-2, lr_decay=0.3, lr_decay_every=max(1, int(steps * 0.7)), prior_weight=1e-3, keep_best=True)

        def report(step: int, terms: dict[str, float]) -> None:
            progress("optimizing", step + 1, terms)

        if start is None and len(sketches) == 1:
            sketch, index = sketches[0]
            result = reconstruct_from_sketch(
                sketch, self.view(index).camera, models.deepsdf, models.siamese, optim, TracingSettings(),
                resolution=resolution, index=models.index, silhouette_weight=self.settings.silhouette_weight, progress=False, callback=report,
            )
            latent = result.latent
        else:
            views = []
            for sketch, index in sketches:
                sketch_t = from_uint8(sketch)
                with torch.no_grad():
                    embedding = models.siamese.embed_sketch(sketch_t[None, None].to(models.device))[0]
                camera = self.view(index).camera.with_resolution(resolution)
                views.append(SketchView(index, camera, sketch_t, embedding, sketch_region(sketch_t, resolution).to(models.device)))
            objective = SketchObjective(models.deepsdf.decoder, models.siamese, views, TracingSettings(), self.settings.silhouette_weight)
            init = start.to(models.device) if start is not None else models.deepsdf.mean_latent().clone()

            def reporting(latent: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
                terms = objective(latent, step)
                report(step, {k: float(v.detach()) for k, v in terms.items()})
                return terms

            latent = optimize_latent(reporting, init, optim).latent
        progress("meshing", steps, {})
        with torch.no_grad():
            mesh = mesh_latent(models.deepsdf, latent, MeshSettings(resolution=self.settings.resolution))
        return mesh, latent.detach().cpu()
