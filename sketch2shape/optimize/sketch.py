"""``optimize_sketch``: a 3D shape from a sketch, by steering a DeepSDF code through a learned distance.

For each shape: its synthetic sketch from the configured view(s) is embedded by the Siamese
network; the DeepSDF code starts from the mean code or from retrieval (the training shape whose
normal maps are nearest to the sketch in the Siamese space) and is optimized so that the
Siamese distance between the sketch and the differentiable rendering from the same camera
shrinks, with the latent prior keeping the shape plausible, and optionally a silhouette term
(the area enclosed by the sketch's outline).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.models.deepsdf import sdf_field
from sketch2shape.models.siamese_module import load_siamese
from sketch2shape.models.sketch_encoder_module import load_sketch_encoder
from sketch2shape.optimize.latent import LatentOptimSettings, optimize_latent
from sketch2shape.optimize.normals import check_views, dataset_cameras, load_normal_target, tracing_settings
from sketch2shape.optimize.reconstruct import LatentMethod, Reconstruction, ReconstructionRun
from sketch2shape.optimize.sketch_objective import SketchLoss, SketchObjective, SketchView, soft_normal_image  # noqa: F401  (defined there)
from sketch2shape.render.camera import Camera
from sketch2shape.render.shading import from_uint8, normals_to_image, to_uint8
from sketch2shape.render.sphere_tracing import TracingSettings, render
from sketch2shape.utils.config import as_bool
from sketch2shape.utils.hydra import compose
from sketch2shape.viz import plot_curves, save_labeled_grid

INIT_MODES = ("mean", "retrieval", "encoder")


def load_sketch(path: Path) -> torch.Tensor:
    """(H, W) float sketch in [0, 1], black strokes on white."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/preprocess_data.py data=...` first")
    return from_uint8(np.asarray(Image.open(path).convert("L")))


def sketch_region(sketch: torch.Tensor, resolution: int) -> torch.Tensor:
    """(R, R) float mask of the area enclosed by the sketch's outer strokes, area-downsampled."""
    ink = (sketch.numpy() < 0.5).astype(np.uint8)
    contours, _ = cv2.findContours(ink, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(ink)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    mask = torch.from_numpy(filled.astype(np.float32))[None, None]
    return F.interpolate(mask, size=(resolution, resolution), mode="area")[0, 0]


class RetrievalIndex:
    """Siamese embeddings of the normal maps of all views of the training shapes."""

    def __init__(self, siamese, layout: DatasetLayout, obj_ids: Sequence[str], views: int, device: torch.device, batch_size: int = 64) -> None:
        self.obj_ids, paths = [], []
        for obj_id in obj_ids:
            for view in range(views):
                self.obj_ids.append(obj_id)
                paths.append(layout.shape(obj_id).normal_map(view))
        chunks = []
        with torch.no_grad():
            for start in range(0, len(paths), batch_size):
                images = torch.stack([from_uint8(np.asarray(Image.open(p).convert("RGB"))).permute(2, 0, 1) for p in paths[start : start + batch_size]])
                chunks.append(siamese.embed_normal(images.to(device)))
        self.embeddings = torch.cat(chunks)

    def nearest_shape(self, sketch_embedding: torch.Tensor) -> str:
        distances = 1.0 - self.embeddings @ sketch_embedding
        return self.obj_ids[int(distances.argmin())]


def check_compatible(deepsdf, siamese_ckpt: str, data_name: str) -> None:
    """Both checkpoints must come from the dataset being reconstructed (codes and views refer to it)."""
    trained = deepsdf.hparams.get("data_name")
    if trained and trained != data_name:
        raise ValueError(f"ckpt_path: the DeepSDF checkpoint was trained on data={trained}, not data={data_name}")
    siamese_hparams = torch.load(siamese_ckpt, map_location="cpu", weights_only=False).get("hyper_parameters", {})
    siamese_data = siamese_hparams.get("data_name")
    if siamese_data and siamese_data != data_name:
        raise ValueError(f"siamese_ckpt_path: the Siamese checkpoint was trained on data={siamese_data}, not data={data_name}")


def sketch_views_loader(layout: DatasetLayout, siamese, cameras: Sequence[Camera], view_indices: Sequence[int], resolution: int, device: torch.device):
    """A function ``obj_id -> [SketchView]``: a shape's synthetic sketches from ``view_indices``, embedded."""

    def views_of(obj_id: str) -> list[SketchView]:
        views = []
        for v in view_indices:
            sketch = load_sketch(layout.shape(obj_id).sketch(v))
            with torch.no_grad():
                embedding = siamese.embed_sketch(sketch[None, None].to(device))[0]
            views.append(SketchView(v, cameras[v].with_resolution(resolution), sketch, embedding, sketch_region(sketch, resolution).to(device)))
        return views

    return views_of


def start_from_sketches(init: str, views: Sequence[SketchView], model, index: "RetrievalIndex | None" = None, encoder=None) -> torch.Tensor:
    """(D,) start code for sketch(es): the mean code, the code of the retrieved training shape
    (first view's sketch), or the sketch encoder's prediction (averaged over the views)."""
    if init == "mean":
        return model.mean_latent().clone()
    if init == "retrieval":
        if index is None:
            raise ValueError("init=retrieval needs a retrieval index")
        return model.latent_of(index.nearest_shape(views[0].embedding)).clone()
    if init == "encoder":
        if encoder is None:
            raise ValueError("init=encoder needs encoder_ckpt_path (train one with scripts/train_sketch_encoder.py)")
        sketches = torch.stack([view.sketch for view in views])[:, None].to(model.mean_latent().device)
        with torch.no_grad():
            return encoder.encode_sketch(sketches).mean(dim=0)
    raise ValueError(f"init={init!r}; accepted: {', '.join(INIT_MODES)}")


def load_start_models(init: str, cfg, model, siamese, layout: DatasetLayout, views: int, device: torch.device):
    """(retrieval index, sketch encoder) as far as ``init`` needs them."""
    index = RetrievalIndex(siamese, layout, model.train_obj_ids, views, device) if init == "retrieval" else None
    encoder = None
    if init == "encoder":
        path = cfg.get("encoder_ckpt_path")
        if not path or not Path(str(path)).is_file():
            raise FileNotFoundError(f"encoder_ckpt_path={path} is not a file: train one with scripts/train_sketch_encoder.py, or use init=retrieval")
        encoder = load_sketch_encoder(str(path), device)
        try:
            encoder.check_compatible(model, model.hparams.get("data_name"))
        except ValueError as err:
            raise ValueError(f"encoder_ckpt_path={path}: {err}") from None
    return index, encoder


@dataclass
class SketchMethod(LatentMethod):
    """A :class:`~sketch2shape.optimize.reconstruct.LatentMethod` from a shape's synthetic
    sketches, with what its pictures need: ``views_of(obj_id)`` (the embedded sketches), the
    sphere-tracing settings and the rendering size in pixels."""

    views_of: Callable[[str], list[SketchView]] | None = None
    tracing: TracingSettings = TracingSettings()
    resolution: int = 64


def sketch_method(
    name: str, init: str, sketch_views: Sequence[int], render_node, optim: LatentOptimSettings, loss: SketchLoss, *,
    run: ReconstructionRun, siamese, cameras: Sequence[Camera], start_models: Callable[[str], tuple], optimize: bool = True, where: str = "",
) -> SketchMethod:
    """Sketch optimization as ``optimize_sketch`` and the comparison's ``start``/``sketch`` methods
    run it: the start code from ``init`` (mean | retrieval | encoder, :func:`start_from_sketches`),
    then (``optimize``) :class:`SketchObjective` with ``loss`` against the sketches of
    ``sketch_views`` rendered at ``render_node.resolution``. ``start_models(init)`` gives the
    (retrieval index, encoder) pair (:func:`load_start_models`). Raises ``ValueError`` naming
    ``where`` for an unknown ``init`` or view."""
    prefix = f"{where}." if where else ""
    if init not in INIT_MODES:
        raise ValueError(f"{prefix}init={init!r}; accepted: {', '.join(INIT_MODES)}")
    tracing = tracing_settings(render_node, f"{prefix}render")
    resolution = int(render_node["resolution"])
    views = check_views(sketch_views, len(cameras), f"{prefix}sketch_views")
    views_of = sketch_views_loader(run.layout, siamese, cameras, views, resolution, run.device)
    index, encoder = start_models(init)
    model = run.model

    def start(obj_id: str) -> torch.Tensor:
        return start_from_sketches(init, views_of(obj_id), model, index, encoder)

    def objective(obj_id: str) -> SketchObjective:
        return SketchObjective(model.decoder, siamese, views_of(obj_id), tracing, loss)

    return SketchMethod(name, start, objective if optimize else None, optim, views_of, tracing, resolution)


def optimize_sketch(cfg) -> str:
    """The ``optimize_sketch`` task: :func:`sketch_method` on every selected shape."""
    weights = SketchLoss.from_config(cfg.loss)
    if not cfg.siamese_ckpt_path or not Path(str(cfg.siamese_ckpt_path)).is_file():
        raise FileNotFoundError(f"siamese_ckpt_path={cfg.siamese_ckpt_path} is not a file: train one with scripts/train_siamese.py")
    run = ReconstructionRun.from_config(cfg)
    check_compatible(run.model, str(cfg.siamese_ckpt_path), cfg.data.name)
    siamese = load_siamese(cfg.siamese_ckpt_path, run.device)
    cameras = dataset_cameras(run.layout)
    unseen_view = check_views([cfg.unseen_view], len(cameras), "unseen_view")[0]
    method = sketch_method(
        "optimize_sketch", cfg.init, cfg.sketch_views, cfg.render, LatentOptimSettings.from_config(cfg.optim), weights, run=run, siamese=siamese,
        cameras=cameras, start_models=lambda init: load_start_models(init, cfg, run.model, siamese, run.layout, len(cameras), run.device),
        optimize=as_bool(cfg.train, "train"),
    )
    table, recons = run.run(method)
    for recon in recons:
        save_sketch_comparison(run.out_dir, run.model.decoder, recon, method.start(recon.obj_id), method.views_of(recon.obj_id), run.layout, cameras,
                               unseen_view, method.resolution, method.tracing)
    return run.summary(table, f" (init={cfg.init})")


def save_sketch_comparison(out_dir: Path, decoder, recon: Reconstruction, start: torch.Tensor, views: Sequence[SketchView], layout: DatasetLayout, cameras: Sequence[Camera],
                           unseen_view: int, resolution: int, tracing: TracingSettings) -> None:
    """``views/<obj_id>.png``: sketch | start | final | truth from the sketch view(s) and one unseen view."""

    def rendered(latent: torch.Tensor, camera: Camera) -> np.ndarray:
        return to_uint8(render(sdf_field(decoder, latent), camera, tracing, device=latent.device).image.detach())

    rows, labels = [], []
    device = start.device
    for view in views:
        sketch = F.interpolate(view.sketch[None, None], size=(resolution, resolution), mode="area")[0, 0]
        truth = load_normal_target(layout.shape(recon.obj_id).normal_map(view.view_index), view.camera, resolution, device)
        rows.append([to_uint8(sketch), rendered(start, view.camera), rendered(recon.latent.to(device), view.camera), to_uint8(normals_to_image(truth.normals, truth.mask > 0.5))])
        labels.append("sketch view")
    camera = cameras[unseen_view].with_resolution(resolution)
    truth = load_normal_target(layout.shape(recon.obj_id).normal_map(unseen_view), camera, resolution, device)
    blank = np.full((resolution, resolution), 255, dtype=np.uint8)
    rows.append([blank, rendered(start, camera), rendered(recon.latent.to(device), camera), to_uint8(normals_to_image(truth.normals, truth.mask > 0.5))])
    labels.append("unseen view")
    save_labeled_grid(out_dir / "views" / f"{recon.obj_id}.png", rows, row_labels=labels, col_labels=["sketch", "start", "final", "truth"], title=recon.obj_id)
    if recon.history:
        curves = {k: [h[k] for h in recon.history] for k in recon.history[0] if k != "lr"}
        plot_curves(out_dir / "views" / f"{recon.obj_id}_loss.png", curves, xlabel="step", title=f"{recon.obj_id} loss")


@dataclass
class SketchReconstruction:
    sketch: np.ndarray  # uint8 (R, R) the normalized input
    latent: torch.Tensor
    start: torch.Tensor
    history: list[dict[str, float]]


def reconstruct_from_sketch(
    sketch: np.ndarray,
    camera: Camera,
    model,
    siamese,
    optim: LatentOptimSettings,
    tracing: TracingSettings,
    resolution: int = 64,
    index: RetrievalIndex | None = None,
    loss: SketchLoss = SketchLoss(),
    progress: bool = True,
    callback=None,
) -> SketchReconstruction:
    """Optimize a DeepSDF code for one normalized sketch (uint8, ink 0) drawn from ``camera``,
    from the mean code or (with ``index``) the retrieved training shape's code; ``loss``: the
    weights of the terms (see :func:`sketch_optimization_settings` for optimize_sketch's).

    ``callback(step, terms)`` is called after every step (the app streams progress with it).
    """

    device = model.mean_latent().device
    sketch_t = from_uint8(sketch)
    with torch.no_grad():
        embedding = siamese.embed_sketch(sketch_t[None, None].to(device))[0]
    view = SketchView(-1, camera.with_resolution(resolution), sketch_t, embedding, sketch_region(sketch_t, resolution).to(device))
    start = model.latent_of(index.nearest_shape(embedding)).clone() if index is not None else model.mean_latent().clone()
    objective = SketchObjective(model.decoder, siamese, [view], tracing, loss)
    if callback is not None:
        inner = objective

        def objective(latent, step):  # noqa: F811 - wraps the objective to report progress
            terms = inner(latent, step)
            callback(step, {k: float(v.detach()) for k, v in terms.items()})
            return terms

    result = optimize_latent(objective, start, optim, progress=progress, description="reconstruct sketch")
    return SketchReconstruction(sketch=sketch, latent=result.latent, start=start, history=result.history)


@dataclass(frozen=True)
class SketchOptimization:
    """optimize_sketch's settings: optimizer, loss weights, sphere tracing and rendering size."""

    optim: LatentOptimSettings
    loss: SketchLoss
    tracing: TracingSettings
    resolution: int


def sketch_optimization_settings(steps: int | None = None, silhouette_weight: float | None = None) -> SketchOptimization:
    """optimize_sketch's settings from its config (``sketch2shape/conf/optimize_sketch.yaml`` with
    the ``optim``/``render`` groups: the one place they are defined), for the callers of the
    demo's way outside a Hydra task (``sketch2shape reconstruct --siamese-ckpt``, the app's demo
    mode). ``steps`` also moves the learning-rate decay to 70% of the steps."""

    overrides = []
    if steps is not None:
        overrides += [f"optim.steps={int(steps)}", f"optim.lr_decay_every={max(1, int(0.7 * int(steps)))}"]
    if silhouette_weight is not None:
        overrides.append(f"loss.silhouette_weight={float(silhouette_weight)}")
    cfg = compose("optimize_sketch", overrides)
    return SketchOptimization(LatentOptimSettings.from_config(cfg.optim), SketchLoss.from_config(cfg.loss), tracing_settings(cfg.render), int(cfg.render.resolution))
