"""The preprocessing steps of one shape. Each reads earlier outputs and writes its own atomically.

=========  ===================================  ==================
step       writes                               reads
=========  ===================================  ==================
mesh       normalized_mesh.obj, normalization   mesh.obj
sdf        sdf_samples.npy                      normalized_mesh.obj
surface    surface_samples.npy                  normalized_mesh.obj
normals    normals/<view>.png                   normalized_mesh.obj
synthetic  sketches/<view>.png                  normals/<view>.png
=========  ===================================  ==================
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from sketch2shape.data.layout import ShapeFiles
from sketch2shape.data.preprocess.mesh import load_mesh, load_source_mesh, normalize_mesh
from sketch2shape.data.preprocess.sdf import SDFSettings, compute_sdf, sample_points, sample_surface
from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import normals_to_image, to_uint8
from sketch2shape.render.sketch import SketchSettings, sketch_from_normal_map
from sketch2shape.utils.config import ConfigError, check_keys, dataclass_kwargs, field_names
from sketch2shape.utils.io import save_image, save_mesh, save_npy, write_json

STEPS = ("mesh", "sdf", "surface", "normals", "synthetic")
DEPENDS_ON = {"mesh": (), "sdf": ("mesh",), "surface": ("mesh",), "normals": ("mesh",), "synthetic": ("normals",)}
# The settings each step reads from ``data.preprocess_<step>`` (besides ``skip``, the runner's).
STEP_KEYS: dict[str, tuple[str, ...]] = {
    "mesh": ("padding", "min_kept_faces", "min_kept_area"),
    "sdf": field_names(SDFSettings),
    "surface": ("num_samples",),
    "normals": (),
    "synthetic": field_names(SketchSettings),
}


def check_step_settings(step: str, settings: dict, where: str | None = None) -> None:
    """Refuse settings that ``step`` does not read (:data:`STEP_KEYS`) or values its settings
    class rejects, with a :class:`~sketch2shape.utils.config.ConfigError` naming the node
    (``where``, default ``data.preprocess_<step>``): before any shape is processed, not once per
    shape in the workers."""
    where = where or f"data.preprocess_{step}"
    check_keys(settings, STEP_KEYS[step], where)
    try:
        if step == "sdf":
            sdf_settings(settings)
        elif step == "synthetic":
            sketch_settings(settings)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from None


@dataclass(frozen=True)
class StepContext:
    """What a step needs besides the shape's files: its settings, the views, a seed."""

    files: ShapeFiles
    settings: dict[str, Any]
    cameras: list[Camera]
    seed: int
    cache: dict[str, Any] = field(default_factory=dict)  # shared between the steps of one shape

    def rng(self, step: str) -> np.random.Generator:
        """A generator that depends only on (seed, obj_id, step)."""
        return np.random.default_rng([self.seed, zlib.crc32(self.files.obj_id.encode()), zlib.crc32(step.encode())])

    def normalized_mesh(self):
        if "mesh" not in self.cache:
            self.cache["mesh"] = load_mesh(self.files.normalized_mesh)
        return self.cache["mesh"]


def run_mesh(ctx: StepContext) -> dict:
    """Clean and normalize ``mesh.obj``.

    Fails (:class:`~sketch2shape.data.preprocess.mesh.MeshError`, recorded by the runner) on a
    mesh that cannot be read, has no valid triangle, or lost most of its triangles or of their
    area in cleaning (settings ``min_kept_faces``/``min_kept_area``, default 0.5): what is left of
    such a mesh would go through every step and give near-blank normal maps.
    """
    raw = load_source_mesh(
        ctx.files.mesh,
        min_kept_faces=float(ctx.settings.get("min_kept_faces", 0.5)),
        min_kept_area=float(ctx.settings.get("min_kept_area", 0.5)),
    )
    mesh, norm = normalize_mesh(raw, padding=float(ctx.settings.get("padding", 0.03)))
    save_mesh(ctx.files.normalized_mesh, mesh)
    write_json(ctx.files.normalization, norm.to_dict())
    ctx.cache["mesh"] = mesh
    return {"vertices": len(mesh.vertices), "faces": len(mesh.faces), "watertight": bool(mesh.is_watertight)}


def sdf_settings(settings: dict) -> SDFSettings:
    """The :class:`SDFSettings` of the sdf step's settings (a key that is no field raises
    :class:`~sketch2shape.utils.config.ConfigError`)."""
    values = dataclass_kwargs(SDFSettings, settings, "data.preprocess_sdf")
    if "near_surface_stds" in values:
        values["near_surface_stds"] = tuple(float(s) for s in values["near_surface_stds"])
    return SDFSettings(**values)


def run_sdf(ctx: StepContext) -> dict:
    mesh = ctx.normalized_mesh()
    settings = sdf_settings(ctx.settings)
    points = sample_points(mesh, settings, ctx.rng("sdf"))
    result = compute_sdf(mesh, points, settings)
    save_npy(ctx.files.sdf_samples, result.samples)
    return {"sign_method": result.sign_method, "inside_fraction": float((result.samples[:, 3] < 0).mean())}


def run_surface(ctx: StepContext) -> dict:
    count = int(ctx.settings.get("num_samples", 50_000))
    points = sample_surface(ctx.normalized_mesh(), count, ctx.rng("surface"))
    save_npy(ctx.files.surface_samples, points.astype(np.float32))
    return {}


def _remove_extra_views(folder: Path, count: int) -> None:
    """Drop images of view indices the current view set no longer has."""
    if folder.is_dir():
        for path in folder.glob("*.png"):
            if path.stem.isdigit() and int(path.stem) >= count:
                path.unlink()


def run_normals(ctx: StepContext) -> dict:
    raycaster = MeshRaycaster(ctx.normalized_mesh())
    for view, camera in enumerate(ctx.cameras):
        render = raycaster.render(camera)
        image = normals_to_image(torch.from_numpy(render.normals), torch.from_numpy(render.mask))
        save_image(ctx.files.normal_map(view), to_uint8(image))
    _remove_extra_views(ctx.files.normals_dir, len(ctx.cameras))
    return {"views": len(ctx.cameras)}


def sketch_settings(settings: dict) -> SketchSettings:
    """The :class:`SketchSettings` of the synthetic step's settings (a key that is no field raises
    :class:`~sketch2shape.utils.config.ConfigError`)."""
    return SketchSettings(**dataclass_kwargs(SketchSettings, settings, "data.preprocess_synthetic"))


def run_synthetic(ctx: StepContext) -> dict:
    settings = sketch_settings(ctx.settings)
    for view in range(len(ctx.cameras)):
        normal_image = np.asarray(Image.open(ctx.files.normal_map(view)).convert("RGB"))
        save_image(ctx.files.sketch(view), sketch_from_normal_map(normal_image, settings))
    _remove_extra_views(ctx.files.sketches_dir, len(ctx.cameras))
    return {"views": len(ctx.cameras)}


RUNNERS: dict[str, Callable[[StepContext], dict]] = {
    "mesh": run_mesh,
    "sdf": run_sdf,
    "surface": run_surface,
    "normals": run_normals,
    "synthetic": run_synthetic,
}


def step_outputs(step: str, files: ShapeFiles, n_views: int) -> list[Path]:
    """The files whose existence means ``step`` finished for this shape."""
    if step == "mesh":
        return [files.normalized_mesh, files.normalization]
    if step == "sdf":
        return [files.sdf_samples]
    if step == "surface":
        return [files.surface_samples]
    if step == "normals":
        return [files.normal_map(v) for v in range(n_views)]
    if step == "synthetic":
        return [files.sketch(v) for v in range(n_views)]
    raise KeyError(f"unknown step {step!r}; accepted: {', '.join(STEPS)}")
