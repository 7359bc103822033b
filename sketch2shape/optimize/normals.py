"""``optimize_normals``: fit a latent code so its renderings match a shape's normal maps.

The upper bound for sketch-based optimization: the same differentiable renderer, but the
target is the ground-truth normal map itself instead of a sketch seen through a learned distance.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.models.deepsdf import sdf_field
from sketch2shape.optimize.latent import LatentOptimSettings
from sketch2shape.optimize.reconstruct import LatentMethod, Reconstruction, ReconstructionRun
from sketch2shape.optimize.sdf import start_latent_fn
from sketch2shape.render.camera import Camera, cameras_from_json
from sketch2shape.render.shading import downsample_normals, from_uint8, image_to_normals, normals_to_image, to_uint8
from sketch2shape.render.sphere_tracing import TracingSettings, render
from sketch2shape.utils.config import as_bool, check_keys, dataclass_kwargs, plain
from sketch2shape.viz import plot_curves, save_labeled_grid


def dataset_cameras(layout: DatasetLayout) -> list[Camera]:
    if not layout.cameras.is_file():
        raise FileNotFoundError(f"{layout.cameras} is missing: run `python scripts/preprocess_data.py data={layout.name}` first")
    return cameras_from_json(json.loads(layout.cameras.read_text()))


def check_views(views: Sequence[int], count: int, key: str = "views") -> list[int]:
    views = [int(v) for v in views]
    bad = [v for v in views if not 0 <= v < count]
    if bad or not views:
        raise ValueError(f"{key}={views}: the dataset has views 0..{count - 1} (see cameras.json)")
    return views


@dataclass
class NormalTarget:
    """A ground-truth view at the rendering resolution."""

    camera: Camera
    normals: torch.Tensor  # (H, W, 3) camera-space unit normals, 0 on background
    mask: torch.Tensor  # (H, W) float in [0, 1], share of the pixel covered


def load_normal_target(path: Path, camera: Camera, resolution: int, device: torch.device) -> NormalTarget:
    """A preprocessed normal map, area-downsampled to ``resolution`` (same camera, coarser pixels)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/preprocess_data.py data=...` first")
    normals, mask = downsample_normals(*image_to_normals(from_uint8(np.asarray(Image.open(path).convert("RGB")))), resolution)
    return NormalTarget(camera.with_resolution(resolution), normals.to(device), mask.to(device))


def normal_targets_loader(layout: DatasetLayout, cameras: Sequence[Camera], views: Sequence[int], resolution: int, device: torch.device):
    """A function ``obj_id -> [NormalTarget]``: a shape's preprocessed normal maps of ``views``."""

    def targets_of(obj_id: str) -> list[NormalTarget]:
        files = layout.shape(obj_id)
        return [load_normal_target(files.normal_map(v), cameras[v], resolution, device) for v in views]

    return targets_of


class NormalMapObjective:
    """L1 between rendered and true normals where both see the shape, plus a silhouette BCE that
    pulls the shape out where the truth has it and pushes it back where it has background."""

    def __init__(self, decoder, targets: Sequence[NormalTarget], tracing: TracingSettings, normal_weight: float = 1.0, silhouette_weight: float = 1.0,
                 views_per_step: int | None = None, seed: int = 0) -> None:
        self.decoder = decoder
        self.targets = list(targets)
        self.tracing = tracing
        self.normal_weight = normal_weight
        self.silhouette_weight = silhouette_weight
        self.views_per_step = views_per_step or len(self.targets)
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, latent: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        chosen = torch.randperm(len(self.targets), generator=self.generator)[: self.views_per_step].tolist()
        normal_terms, silhouette_terms = [], []
        sdf = sdf_field(self.decoder, latent)
        for index in chosen:
            target = self.targets[index]
            rendering = render(sdf, target.camera, self.tracing, device=latent.device)
            both = rendering.mask & (target.mask > 0.5)
            if both.any():
                normal_terms.append((rendering.normals[both] - target.normals[both]).abs().sum(-1).mean())
            silhouette = rendering.silhouette.clamp(1e-6, 1 - 1e-6)
            silhouette_terms.append(F.binary_cross_entropy(silhouette, target.mask))
        normal_loss = torch.stack(normal_terms).mean() if normal_terms else latent.sum() * 0
        silhouette_loss = torch.stack(silhouette_terms).mean()
        loss = self.normal_weight * normal_loss + self.silhouette_weight * silhouette_loss
        return {"loss": loss, "normal": normal_loss, "silhouette": silhouette_loss}


def save_view_comparisons(out_dir: Path, decoder, recon: Reconstruction, start: torch.Tensor, targets: Sequence[NormalTarget], tracing: TracingSettings) -> None:
    """``views/<obj_id>.png``: per view a row of truth | start | end renders (and the loss curve)."""

    rows = []
    for target in targets:
        truth = to_uint8(normals_to_image(target.normals, target.mask > 0.5))
        renders = []
        for latent in (start, recon.latent.to(start.device)):
            rendering = render(sdf_field(decoder, latent), target.camera, tracing, device=latent.device)
            renders.append(to_uint8(rendering.image.detach()))
        rows.append([truth, *renders])
    save_labeled_grid(out_dir / "views" / f"{recon.obj_id}.png", rows, col_labels=["truth", "start", "end"], title=recon.obj_id)
    if recon.history:
        curves = {k: [h[k] for h in recon.history] for k in recon.history[0] if k not in ("lr",)}
        plot_curves(out_dir / "views" / f"{recon.obj_id}_loss.png", curves, xlabel="step", title=f"{recon.obj_id} loss")


# The ``loss:`` node of optimize_normals (and of eval_sketch_to_shape's normals methods).
NORMAL_LOSS_KEYS = ("normal_weight", "silhouette_weight", "views_per_step")


def tracing_settings(node, where: str = "render") -> TracingSettings:
    """The sphere-tracing settings of a ``render:`` node (its ``resolution`` is read by the
    callers); any other key that is no :class:`TracingSettings` field raises
    :class:`~sketch2shape.utils.config.ConfigError` naming it and ``where``."""
    return TracingSettings(**dataclass_kwargs(TracingSettings, node, where, extra=("resolution",)))


@dataclass
class NormalsMethod(LatentMethod):
    """A :class:`~sketch2shape.optimize.reconstruct.LatentMethod` fitting ground-truth normal
    maps, with what its pictures need: ``targets_of(obj_id)`` and the sphere-tracing settings."""

    targets_of: Callable[[str], list[NormalTarget]] | None = None
    tracing: TracingSettings = TracingSettings()


def normals_method(name: str, views: Sequence[int], render_node, loss_node, optim: LatentOptimSettings, start: Callable[[str], torch.Tensor], *,
                   run: ReconstructionRun, cameras: Sequence[Camera], seed: int = 0, where: str = "") -> NormalsMethod:
    """``optimize_normals`` as its task and the comparison's ``normals`` method run it:
    :class:`NormalMapObjective` (``loss_node``: ``normal_weight``, ``silhouette_weight``,
    ``views_per_step``) against the preprocessed normal maps of ``views``, from ``start``. Raises
    :class:`~sketch2shape.utils.config.ConfigError` / ``ValueError`` naming ``where`` for a wrong
    key or view."""
    prefix = f"{where}." if where else ""
    tracing = tracing_settings(render_node, f"{prefix}render")
    loss = dict(plain(loss_node) or {})
    check_keys(loss, NORMAL_LOSS_KEYS, f"{prefix}loss")
    views = check_views(views, len(cameras), f"{prefix}views")
    targets_of = normal_targets_loader(run.layout, cameras, views, int(render_node["resolution"]), run.device)

    def objective(obj_id: str) -> NormalMapObjective:
        return NormalMapObjective(run.model.decoder, targets_of(obj_id), tracing, loss["normal_weight"], loss["silhouette_weight"], loss["views_per_step"], seed=int(seed))

    return NormalsMethod(name, start, objective, optim, targets_of, tracing)


def optimize_normals(cfg) -> str:
    """The ``optimize_normals`` task: :func:`normals_method` on every selected shape."""
    tracing_settings(cfg.render)
    check_keys(plain(cfg.loss), NORMAL_LOSS_KEYS, "loss")
    run = ReconstructionRun.from_config(cfg)
    start = start_latent_fn(run.model, as_bool(cfg.prior_idx, "prior_idx"), run.split, cfg.data.name)
    method = normals_method("optimize_normals", cfg.views, cfg.render, cfg.loss, LatentOptimSettings.from_config(cfg.optim), start,
                            run=run, cameras=dataset_cameras(run.layout), seed=cfg.seed)
    table, recons = run.run(method)
    for recon in recons:
        save_view_comparisons(run.out_dir, run.model.decoder, recon, method.start(recon.obj_id), method.targets_of(recon.obj_id), method.tracing)
    return run.summary(table)
