"""The reconstruction behind the app: the models, the views a sketch may be drawn from, sketch -> shape.

Two ways, chosen by the settings (:mod:`sketch2shape.app.settings`):

* **encoder** (default): :class:`sketch2shape.optimize.sketch_to_shape.SketchToShape` with the
  pretrained models shipped in the package, or the user's own DeepSDF + sketch encoder
  (``deepsdf_ckpt`` / ``encoder_ckpt``). The encoder's shape is published as soon as it exists
  (the job's *first* shape), the view is estimated unless the page gives one as a hint, then the
  refinement runs (the page may stop it; the best code so far is kept) and the better of the two
  shapes is kept. The same answer as ``sketch2shape reconstruct``.
* **demo** (``siamese_ckpt`` without ``encoder_ckpt``): the demo's way, no encoder: optimize from
  the mean code with the Siamese distance and the silhouette term, from a view the page names.

Everything heavy (model files, the retrieval index) is loaded once by :meth:`Reconstructor.load`
and then used by the one worker thread only (:mod:`sketch2shape.app.jobs`), which also sets
torch's thread count (``threads``). What request handlers need quickly (the views, a view's
framing, checking a drawing) reads only small files and never touches the models.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import trimesh

from sketch2shape.app.jobs import SEARCHING, Job, Outcome, Reporter
from sketch2shape.app.settings import DEMO_DEEPSDF, AppSettings
from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.user_sketch import Framing, dataset_framing, normalize_sketch
from sketch2shape.render.camera import GRID_VIEWS, Camera, cameras_from_json, grid_view

DEFAULT_DATA = "procedural_chair_16"
DEMO_VIEW = 13  # the demo's default view: front-left, slightly above


class ModelsMissing(RuntimeError):
    """The model files are not there: the message says how to make them."""


def grid_cameras() -> list[Camera]:
    """The preprocessing views (as ``sketch2shape reconstruct --view 0..23``)."""
    return [grid_view(i) for i in range(GRID_VIEWS)]


def model_paths(settings: AppSettings) -> dict[str, Path]:
    """The model files the settings name (encoder mode: the pretrained ones where unset)."""
    if settings.demo_mode:
        return {"deepsdf": Path(settings.deepsdf_ckpt or DEMO_DEEPSDF), "siamese": Path(str(settings.siamese_ckpt))}
    from sketch2shape.pretrained import pretrained_model

    files = pretrained_model(settings.model).files()
    return {"deepsdf": Path(settings.deepsdf_ckpt or files["deepsdf"]), "sketch_encoder": Path(settings.encoder_ckpt or files["sketch_encoder"])}


def model_source(settings: AppSettings) -> str:
    """``pretrained`` (the shipped models), ``custom`` (the user's DeepSDF + encoder) or ``demo``."""
    if settings.demo_mode:
        return "demo"
    return "pretrained" if settings.deepsdf_ckpt is None and settings.encoder_ckpt is None else "custom"


def missing_models_message(settings: AppSettings) -> str | None:
    """The page's and /api/health's explanation when the models cannot be used, else None."""
    if settings.demo_mode:
        missing = [p for p in model_paths(settings).values() if not p.is_file()]
        if not missing:
            return None
        return (
            f"no trained models found at {', '.join(str(p) for p in missing)}: run `sketch2shape demo` first "
            "(or pass --deepsdf-ckpt/--siamese-ckpt)"
        )
    if (settings.deepsdf_ckpt is None) != (settings.encoder_ckpt is None):
        return (
            "pass --deepsdf-ckpt and --encoder-ckpt together (the sketch encoder predicts codes of that DeepSDF), "
            "or neither for the pretrained models"
        )
    paths = model_paths(settings)
    missing = [p for p in paths.values() if not p.is_file()]
    if not missing:
        return None
    if model_source(settings) == "pretrained":
        from sketch2shape.pretrained import pretrained_model

        model = pretrained_model(settings.model)
        return (
            f"this installation has no pretrained model {model.name!r} ({model.folder}): train it with "
            f"`sketch2shape train-release --data {model.data}`, or pass --deepsdf-ckpt and --encoder-ckpt (your DeepSDF and the sketch encoder trained for it)"
        )
    return f"no model file at {', '.join(str(p) for p in missing)}: pass --deepsdf-ckpt and --encoder-ckpt (train_deepsdf / train_sketch_encoder checkpoints or release files)"


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


def stored_data_name(path: Path, allow_unsafe: bool) -> str | None:
    """The ``data_name`` a DeepSDF file was trained on (release file or Lightning checkpoint), or None.
    Read with ``weights_only=True``; ``allow_unsafe`` (the demo's own checkpoints only) falls back
    to a full load for old checkpoints a weights-only load refuses."""
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        if not allow_unsafe:
            return None
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
        except Exception:  # an unreadable checkpoint is reported by load(); views fall back
            return None
    if not isinstance(data, dict):
        return None
    hparams = data.get("hparams") or data.get("hyper_parameters") or {}
    name = hparams.get("data_name") if isinstance(hparams, dict) else None
    return str(name) if name else None


@dataclass(frozen=True)
class ViewInfo:
    """A view a sketch may be drawn from: its index, angles (degrees), a label ("front-left, from above") and camera."""

    index: int
    azimuth_deg: float
    elevation_deg: float
    label: str
    camera: Camera


@dataclass
class Models:
    """The loaded models (:meth:`Reconstructor.load`) and the torch device they are on."""

    deepsdf: Any
    device: torch.device
    method: Any = None  # SketchToShape (encoder mode)
    siamese: Any = None  # demo mode
    index: Any = None  # RetrievalIndex (demo mode, init=retrieval), else None


class _StopAfterFirst(Exception):
    """Stop was asked for before the refinement began: answer with the first shape."""


def camera_json(camera: Camera) -> dict[str, Any]:
    """A camera as the page gets it: ``azimuth_deg`` and ``elevation_deg`` (degrees), ``distance``
    (world units), ``fov_deg`` (degrees, full image height) and ``position`` (``[x, y, z]``, world
    coordinates). The camera looks at the origin with +Y up (:mod:`sketch2shape.render.camera`),
    so the page's viewer starts from ``position`` without a copy of the convention."""
    return {
        "azimuth_deg": float(camera.azimuth_deg), "elevation_deg": float(camera.elevation_deg),
        "distance": float(camera.distance), "fov_deg": float(camera.fov_deg),
        "position": [round(float(v), 6) for v in camera.position(torch.float64)],
    }


def result_info(result, stopped_at: int | None = None) -> dict[str, Any]:
    """The JSON the page shows about a :class:`SketchToShapeResult` (``describe()``, the view, IoUs)."""
    text = result.describe()
    later = result.best if result.chosen != "first" else (result.refined or result.searched)
    if stopped_at is not None:
        text += f"; refinement stopped by the page after {stopped_at} step(s)"
    return {
        "describe": text,
        "poor_match": bool(result.poor_match),
        "problem": result.match_problem(),  # why it is a poor match, with the measure ("" when it is not)
        "line_chamfer": None if result.best.line_chamfer is None else round(float(result.best.line_chamfer), 4),
        "chosen": "first" if result.chosen == "first" else "refined",  # the page's two shapes: the first, and the later (searched or refined)
        "view_estimated": bool(result.view_estimated),
        "camera": camera_json(result.camera),
        "first_iou": round(float(result.first.iou), 4),
        "refined_iou": None if later is None else round(float(later.iou), 4),
        "min_iou": float(result.min_iou),
        "stopped": stopped_at is not None,
    }


class Reconstructor:
    """Sketch -> shape with the configured models (see module docstring)."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.models: Models | None = None
        self._lock = threading.Lock()
        self._framings: dict[int, Framing] = {}
        self._data_name: str | None = None
        self._views: list[ViewInfo] | None = None

    # ---- cheap: small files only ---------------------------------------------------------------
    @property
    def mode(self) -> str:
        """``encoder`` or ``demo``."""
        return "demo" if self.settings.demo_mode else "encoder"

    @property
    def source(self) -> str:
        return model_source(self.settings)

    def paths(self) -> dict[str, Path]:
        return model_paths(self.settings)

    def missing(self) -> str | None:
        return missing_models_message(self.settings)

    @property
    def data_name(self) -> str:
        """The dataset the DeepSDF was trained on (its hyperparameters), else the demo's."""
        if self._data_name is None:
            name = stored_data_name(self.paths()["deepsdf"], allow_unsafe=self.settings.demo_mode)
            self._data_name = str(name or DEFAULT_DATA)
        return self._data_name

    @property
    def layout(self) -> DatasetLayout:
        return DatasetLayout(Path(self.settings.data_dir) / self.data_name)

    def has_dataset(self) -> bool:
        return self.layout.cameras.is_file()

    def views(self) -> list[ViewInfo]:
        """The views a sketch can be drawn from: the dataset's (``cameras.json``); without a dataset,
        the preprocessing views (encoder mode) or one default camera (demo mode)."""
        if self._views is None:
            path = self.layout.cameras
            if path.is_file():
                cameras = cameras_from_json(json.loads(path.read_text()))
            else:
                cameras = [Camera(azimuth_deg=30.0, elevation_deg=35.0)] if self.settings.demo_mode else grid_cameras()
            self._views = [ViewInfo(i, c.azimuth_deg, c.elevation_deg, direction_name(c.azimuth_deg, c.elevation_deg), c) for i, c in enumerate(cameras)]
        return self._views

    def default_view(self) -> int | None:
        """The view preselected in the picker: None (estimate it) unless ``default_view`` is set;
        demo mode always needs one (``default_view``, else 13, else 0)."""
        count = len(self.views())
        wanted = self.settings.default_view
        if wanted is None and not self.settings.demo_mode:
            return None
        wanted = DEMO_VIEW if wanted is None else int(wanted)
        return wanted if wanted < count else 0

    def view(self, index: int) -> ViewInfo:
        views = self.views()
        if not 0 <= index < len(views):
            raise ValueError(f"view={index} is not a view of {self.layout.root if self.has_dataset() else 'this app'}; accepted: 0..{len(views) - 1}, or none to estimate it")
        return views[index]

    def train_obj_ids(self) -> list[str]:
        from sketch2shape.data.metainfo import obj_ids_of, read_metainfo

        if self.models is not None and getattr(self.models.deepsdf, "train_obj_ids", None):
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

    def framing(self, index: int | None) -> Framing:
        """Where the sketch is placed for the models: encoder mode the default framing (the encoder
        re-frames on the strokes; as ``sketch2shape reconstruct``), demo mode where the training
        sketches of view ``index`` sit (cached)."""
        if not self.settings.demo_mode or index is None:
            return Framing()
        with self._lock:
            if index not in self._framings:
                ids = self.train_obj_ids() if self.has_dataset() else []
                self._framings[index] = dataset_framing(self.layout, ids, index)
            return self._framings[index]

    def normalize(self, gray: np.ndarray, index: int | None, name: str = "sketch") -> np.ndarray:
        """The drawing in the form the models take; SketchInputError if empty."""
        return normalize_sketch(gray, self.framing(index), name=name)

    # ---- heavy: the worker thread only ---------------------------------------------------------
    def apply_threads(self) -> None:
        """torch's CPU threads (``threads``; 0 keeps torch's default of one per core)."""
        if self.settings.threads > 0 and torch.get_num_threads() != self.settings.threads:
            torch.set_num_threads(int(self.settings.threads))

    def load(self) -> Models:
        """Load the models (once); ModelsMissing without them, CheckpointError / ValueError for a
        file that is not the expected model or an encoder trained for another DeepSDF."""
        self.apply_threads()
        if self.models is not None:
            return self.models
        message = self.missing()
        if message:
            raise ModelsMissing(message)
        from sketch2shape.utils.device import resolve_device

        device = resolve_device(self.settings.device)
        self.models = self._load_demo(device) if self.settings.demo_mode else self._load_encoder(device)
        return self.models

    def _load_encoder(self, device: torch.device) -> Models:
        from sketch2shape.models.checkpoints import load_deepsdf_file, load_sketch_encoder_file
        from sketch2shape.optimize.sketch_to_shape import SketchToShape

        paths = self.paths()
        deepsdf = load_deepsdf_file(paths["deepsdf"], device)
        encoder = load_sketch_encoder_file(paths["sketch_encoder"], device)
        try:
            method = SketchToShape.with_settings(deepsdf, encoder, self.settings.method)
        except ValueError as err:
            raise ValueError(f"{paths['sketch_encoder']} does not belong to {paths['deepsdf']}: {err}") from None
        return Models(deepsdf, device, method=method)

    def _load_demo(self, device: torch.device) -> Models:
        from sketch2shape.models.checkpoints import load_deepsdf
        from sketch2shape.models.siamese_module import load_siamese
        from sketch2shape.optimize.sketch import RetrievalIndex

        paths = self.paths()
        deepsdf = load_deepsdf(str(paths["deepsdf"]), device)
        try:
            siamese = load_siamese(str(paths["siamese"]), device)
        except Exception as err:  # e.g. a checkpoint of an older SiameseNet: name the file
            raise RuntimeError(f"siamese checkpoint {paths['siamese']} cannot be loaded with this version: {err}".splitlines()[0]) from err
        index = None
        if self.settings.init == "retrieval" and self.has_dataset() and deepsdf.train_obj_ids:
            index = RetrievalIndex(siamese, self.layout, deepsdf.train_obj_ids, len(self.views()), device)
        return Models(deepsdf, device, siamese=siamese, index=index)

    def run(self, job: Job, report: Reporter) -> Outcome:
        """Answer a job (worker thread): encoder mode publishes the first shape, then refines."""
        models = self.load()
        if self.settings.demo_mode:
            mesh, latent = self.reconstruct_demo(job.sketches, job.steps, report, start=job.start)
            report.shape("optimized", mesh)
            return Outcome(kept="optimized", latent=latent)
        # The first drawing is the main one; drawings added later ("refine the current shape with this
        # view") are scored with it by the code search (SketchToShape's ``also``).
        (sketch, index), added = job.sketches[0], job.sketches[1:]
        camera = None if index is None else self.view(index).camera
        also = [(other, None if other_index is None else self.view(other_index).camera) for other, other_index in added]
        seen: dict[str, Any] = {"steps": 0}

        def on_preview(latent, mesh) -> None:
            if len(mesh.faces):
                report.shape("first", mesh)  # the coarse shape; the full one replaces it moments later

        def on_first(result) -> None:
            seen["result"] = result
            if len(result.first.mesh.faces):
                report.shape("first", result.first.mesh, result_info(result))
            if report.stop_requested:
                raise _StopAfterFirst
            if models.method.search.enabled:
                report(SEARCHING, 0, {})

        def on_step(step: int, terms: dict[str, float]) -> None:
            from sketch2shape.optimize.sketch_to_shape import RefinementStopped

            report("refining", step + 1, terms)  # raises JobCancelled once cancelled
            seen["steps"] = step + 1
            if report.stop_requested:
                report("meshing", step + 1, {})
                raise RefinementStopped
            if step + 1 >= job.steps:
                report("meshing", step + 1, {})

        report("encoding", 0, {})
        try:
            result = models.method(sketch, camera=camera, refine=job.steps > 0, on_first=on_first, on_step=on_step, on_preview=on_preview, also=also)
        except _StopAfterFirst:
            result = seen["result"]
        info = result_info(result, seen["steps"] if report.stop_requested else None)
        later = result.best if result.chosen != "first" else result.refined  # the search's or the refinement's answer
        if later is not None and len(later.mesh.faces):
            report.shape("refined", later.mesh, info)
        if len(result.best.mesh.faces) == 0:
            raise ValueError("the model found no surface for this sketch: draw it again (a closed outline of the whole shape), or give the view")
        return Outcome(kept="first" if result.chosen == "first" else "refined", latent=result.best.latent, info=info)

    def reconstruct_demo(
        self,
        sketches: Sequence[tuple[np.ndarray, int]],
        steps: int,
        progress: Reporter,
        start: torch.Tensor | None = None,
    ) -> tuple[trimesh.Trimesh, torch.Tensor]:
        """Demo mode: mesh and latent code for normalized sketches ``[(sketch, view index), ...]``.

        One sketch without ``start``: :func:`reconstruct_from_sketch` (the same result as
        ``sketch2shape reconstruct --siamese-ckpt``). Refinement (``start`` = the code of an earlier
        result, the earlier sketches plus a new one from another view): the same objective averaged
        over all views, from ``start``. ``progress`` may raise to stop the optimization (cancellation).
        """
        from sketch2shape.optimize.latent import optimize_latent
        from sketch2shape.optimize.reconstruct import mesh_latent
        from sketch2shape.optimize.sketch import SketchObjective, SketchView, reconstruct_from_sketch, sketch_optimization_settings, sketch_region
        from sketch2shape.render.shading import from_uint8

        models = self.load()
        resolution = self.settings.method.refine.resolution
        steps = max(1, steps)
        settings = sketch_optimization_settings(steps, self.settings.silhouette_weight)  # optimize_sketch's
        optim, loss, tracing = settings.optim, settings.loss, settings.tracing

        def report(step: int, terms: dict[str, float]) -> None:
            progress("optimizing", step + 1, terms)

        if start is None and len(sketches) == 1:
            sketch, index = sketches[0]
            result = reconstruct_from_sketch(
                sketch, self.view(index).camera, models.deepsdf, models.siamese, optim, tracing,
                resolution=resolution, index=models.index, loss=loss, progress=False, callback=report,
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
            objective = SketchObjective(models.deepsdf.decoder, models.siamese, views, tracing, loss)
            init = start.to(models.device) if start is not None else models.deepsdf.mean_latent().clone()

            def reporting(latent: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
                terms = objective(latent, step)
                report(step, {k: float(v.detach()) for k, v in terms.items()})
                return terms

            latent = optimize_latent(reporting, init, optim).latent
        progress("meshing", steps, {})
        with torch.no_grad():
            mesh = mesh_latent(models.deepsdf, latent, self.settings.method.mesh)
        return mesh, latent.detach().cpu()
