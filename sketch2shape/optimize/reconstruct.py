"""Reconstruct the shapes of a split from a trained DeepSDF: the driver every optimizer shares.

For each shape: pick a start code, optionally optimize it against an objective (SDF samples,
normal maps, a sketch), extract a mesh, compute chamfer/F-score against the shape's surface
samples, save the mesh, and finally write ``metrics.csv`` and pictures into the run folder.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import trimesh

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import SPLITS, obj_ids_of, read_metainfo
from sketch2shape.data.preprocess.mesh import load_mesh
from sketch2shape.metrics.chamfer import FSCORE_THRESHOLD, SurfaceMetrics, surface_metrics
from sketch2shape.models.checkpoints import load_deepsdf
from sketch2shape.models.shape_space import ShapeSpace
from sketch2shape.optimize.latent import LatentOptimSettings, Objective, optimize_latent
from sketch2shape.optimize.meshing import MeshSettings, mesh_latent  # noqa: F401  (defined there)
from sketch2shape.utils.config import as_bool, check_keys, plain
from sketch2shape.utils.device import resolve_device
from sketch2shape.utils.io import atomic_path, save_mesh
from sketch2shape.utils.training import save_config
from sketch2shape.viz import plot_curves, render_mesh, save_labeled_grid, short_id

log = logging.getLogger(__name__)

def select_shapes(metainfo: pd.DataFrame, split: str | None, obj_ids: Sequence[str] | None, metainfo_path: str | Path = "metainfo.csv") -> tuple[str, list[str]]:
    """The split and obj_ids to work on.

    Without ``obj_ids`` all shapes of ``split`` (default val). With ``obj_ids`` they must all be
    known and from one split, which is inferred if ``split`` is not given.
    """
    if split is not None and split not in SPLITS:
        raise ValueError(f"split={split!r}; accepted: {', '.join(SPLITS)}")
    if not obj_ids:
        split = split or "val"
        ids = obj_ids_of(metainfo, split)
        if not ids:
            raise ValueError(f"{metainfo_path} has no shapes in split {split!r}")
        return split, ids
    ids = [str(i) for i in obj_ids]
    split_of = dict(zip(metainfo["obj_id"], metainfo["split"]))
    unknown = [i for i in ids if i not in split_of]
    if unknown:
        raise ValueError(f"obj_ids {unknown} are not in {metainfo_path}")
    splits = sorted({split_of[i] for i in ids})
    if len(splits) > 1:
        raise ValueError(f"obj_ids come from several splits {splits}: " + ", ".join(f"{i}={split_of[i]}" for i in ids) + "; pass ids of one split")
    if split is not None and splits[0] != split:
        raise ValueError(f"obj_ids {ids} are in split {splits[0]!r}, not split={split!r}")
    return splits[0], ids


@dataclass
class Reconstruction:
    obj_id: str
    latent: torch.Tensor
    mesh: trimesh.Trimesh
    metrics: SurfaceMetrics
    history: list[dict[str, float]] = field(default_factory=list)


def reconstruct_shape(
    model: ShapeSpace,
    layout: DatasetLayout,
    obj_id: str,
    init: torch.Tensor,
    objective: Objective | None,
    optim: LatentOptimSettings,
    mesh_settings: MeshSettings,
    chamfer_points: int = 30_000,
    fscore_threshold: float = FSCORE_THRESHOLD,
) -> Reconstruction:
    history: list[dict[str, float]] = []
    latent = init
    if objective is not None:
        result = optimize_latent(objective, init, optim, progress=True, description=f"optimize {obj_id[:12]}")
        latent, history = result.latent, result.history
    mesh = mesh_latent(model, latent, mesh_settings)
    surface_path = layout.shape(obj_id).surface_samples
    if not surface_path.is_file():
        raise FileNotFoundError(f"{surface_path} is missing: run `python scripts/preprocess_data.py data={layout.name}` first")
    metrics = surface_metrics(mesh, np.load(surface_path), count=chamfer_points, threshold=fscore_threshold)
    return Reconstruction(obj_id, latent.detach().cpu(), mesh, metrics, history)


@dataclass
class LatentMethod:
    """One way of finding a shape's latent code, built once and run the same way by its task
    (``optimize_sketch``, ``optimize_normals``, ``optimize_deepsdf``) and by the comparison
    (``eval_sketch_to_shape``): ``start(obj_id)`` is the start code ``(D,)``; ``objective(obj_id)``
    the loss that ``optim`` minimizes from it (:func:`~sketch2shape.optimize.latent.optimize_latent`),
    or ``None`` when the start code is the answer. Builders: ``sketch_method``
    (:mod:`~sketch2shape.optimize.sketch`), ``normals_method`` (:mod:`~sketch2shape.optimize.normals`),
    ``sdf_method`` (:mod:`~sketch2shape.optimize.sdf`)."""

    name: str
    start: Callable[[str], torch.Tensor]
    objective: Callable[[str], Objective] | None
    optim: LatentOptimSettings


# What one bad shape may raise in a long run (missing or broken files, a bad setting for this shape,
# a numerical failure); the run records it and carries on with the other shapes.
SHAPE_ERRORS = (FileNotFoundError, ValueError, KeyError, RuntimeError)


def attempt_shape(failures: list[dict], obj_id: str, build: Callable[[], Reconstruction], **labels: str) -> Reconstruction | None:
    """``build()``, or ``None`` when it raises one of :data:`SHAPE_ERRORS`: the error is logged and
    ``{**labels, "obj_id", "error"}`` appended to ``failures`` (see :func:`write_failures`)."""
    try:
        return build()
    except SHAPE_ERRORS as err:
        log.error("FAILED %s%s: %s", " ".join(labels.values()) + " " if labels else "", obj_id, err)
        failures.append({**labels, "obj_id": obj_id, "error": str(err)})
        return None


def write_failures(path: str | Path, failures: Sequence[dict]) -> None:
    """``failures.csv`` of a run (atomically), when any shape failed."""
    if failures:
        with atomic_path(Path(path)) as tmp:
            pd.DataFrame(list(failures)).to_csv(tmp, index=False)


def metrics_table(reconstructions: Sequence[Reconstruction], split: str) -> pd.DataFrame:
    """``<split>/chamfer,<split>/fscore,obj_id`` per shape, and the mean as a last row ``mean_metric``."""
    rows = [{f"{split}/chamfer": r.metrics.chamfer, f"{split}/fscore": r.metrics.fscore, "obj_id": r.obj_id} for r in reconstructions]
    table = pd.DataFrame(rows, columns=[f"{split}/chamfer", f"{split}/fscore", "obj_id"])
    mean = {f"{split}/chamfer": table[f"{split}/chamfer"].mean(), f"{split}/fscore": table[f"{split}/fscore"].mean(), "obj_id": "mean_metric"}
    return pd.concat([table, pd.DataFrame([mean])], ignore_index=True)


def write_metrics(path: str | Path, table: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False, float_format="%.8f")


def describe(table: pd.DataFrame, split: str) -> str:
    chamfer = table.loc[table["obj_id"] != "mean_metric", f"{split}/chamfer"] * 1000
    fscores = table.loc[table["obj_id"] != "mean_metric", f"{split}/fscore"]
    return (
        f"{len(chamfer)} shapes of {split}: chamfer x1000 mean {chamfer.mean():.3f} median {chamfer.median():.3f}; "
        f"F-score@{FSCORE_THRESHOLD} mean {fscores.mean():.3f}"
    )


# The ``metrics:`` node of the optimize_* configs: keyword arguments of run_reconstructions.
METRICS_KEYS = ("chamfer_points", "fscore_threshold")


def run_settings(cfg, optim_extra: tuple[str, ...] = ()) -> tuple[LatentOptimSettings | None, MeshSettings, dict]:
    """The ``optim`` (None if the config has none), ``mesh`` and ``metrics`` settings of a run's
    config, each node checked strictly (:mod:`sketch2shape.utils.config`); ``optim_extra`` are
    ``optim`` keys the task's objective reads (e.g. :data:`~sketch2shape.optimize.latent.SDF_OPTIM_KEYS`)."""
    optim = LatentOptimSettings.from_config(cfg.optim, "optim", optim_extra) if cfg.get("optim") is not None else None
    metrics = dict(plain(cfg.get("metrics")) or {})
    check_keys(metrics, METRICS_KEYS, "metrics")
    return optim, MeshSettings.from_config(cfg.mesh), metrics


def run_reconstructions(
    model: ShapeSpace,
    layout: DatasetLayout,
    split: str,
    obj_ids: Sequence[str],
    init_fn: Callable[[str], torch.Tensor],
    objective_fn: Callable[[str], Objective] | None,
    optim: LatentOptimSettings,
    mesh_settings: MeshSettings,
    out_dir: str | Path,
    save_meshes: bool = True,
    chamfer_points: int = 30_000,
    fscore_threshold: float = FSCORE_THRESHOLD,
) -> tuple[pd.DataFrame, list[Reconstruction]]:
    """Reconstruct ``obj_ids``; write metrics.csv (updated after every shape) and meshes.

    A shape that fails (e.g. missing samples) is logged with its error and left out of the
    table; the others carry on.
    """
    out_dir = Path(out_dir)
    done: list[Reconstruction] = []
    failures: list[dict] = []
    for obj_id in obj_ids:

        def build(obj_id: str = obj_id) -> Reconstruction:
            objective = objective_fn(obj_id) if objective_fn is not None else None
            return reconstruct_shape(model, layout, obj_id, init_fn(obj_id), objective, optim, mesh_settings, chamfer_points, fscore_threshold)

        recon = attempt_shape(failures, obj_id, build)
        if recon is None:
            continue
        done.append(recon)
        if save_meshes:
            save_mesh(out_dir / "meshes" / f"{obj_id}.obj", recon.mesh)
        log.info("%s chamfer x1000 %.3f F-score %.3f", obj_id, recon.metrics.chamfer * 1000, recon.metrics.fscore)
        write_metrics(out_dir / "metrics.csv", metrics_table(done, split))
    write_failures(out_dir / "failures.csv", failures)
    if not done:
        raise RuntimeError(f"no shape could be reconstructed; failures: {failures}")
    table = metrics_table(done, split)
    return table, done


def save_reconstruction_pictures(out_dir: str | Path, layout: DatasetLayout, reconstructions: Sequence[Reconstruction], max_shapes: int = 12) -> None:
    """``reconstructions.png`` (ground truth above reconstruction) and ``optimization.png`` (loss curves)."""

    out_dir = Path(out_dir)
    shown = list(reconstructions)[:max_shapes]
    if not shown:
        return
    truths, renders, labels = [], [], []
    for recon in shown:
        gt = layout.shape(recon.obj_id).normalized_mesh
        renders.append(render_mesh(recon.mesh))
        truths.append(render_mesh(load_mesh(gt)) if gt.is_file() else np.full_like(renders[-1], 255))
        labels.append(f"{short_id(recon.obj_id)}\nCD {recon.metrics.chamfer * 1000:.2f}")
    save_labeled_grid(out_dir / "reconstructions.png", [truths, renders], row_labels=["truth", "result"], col_labels=labels)
    curves = {short_id(r.obj_id): [h["total"] for h in r.history] for r in shown if r.history}
    if curves:
        plot_curves(out_dir / "optimization.png", curves, xlabel="step", title="latent optimization loss")


@dataclass
class ReconstructionRun:
    """What every optimize_* command sets up from its config before its own objective."""

    cfg: object
    device: torch.device
    out_dir: Path
    layout: DatasetLayout
    split: str
    obj_ids: list[str]
    model: ShapeSpace
    optim_extra: tuple[str, ...] = ()  # optim keys the task's objective reads (see run_settings)

    @classmethod
    def from_config(cls, cfg, optim_extra: tuple[str, ...] = ()) -> "ReconstructionRun":
        """Check the config's optim/mesh/metrics nodes (:func:`run_settings`: a wrong key stops
        here, before anything is loaded), seed, pick the device and the shapes, load the model."""
        import lightning as L


        run_settings(cfg, tuple(optim_extra))
        L.seed_everything(cfg.seed)
        device = resolve_device(cfg.device)
        out_dir = Path(cfg.paths.output_dir)
        save_config(cfg, out_dir)
        layout = DatasetLayout.from_config(cfg.data)
        split, obj_ids = select_shapes(read_metainfo(layout.metainfo), cfg.get("split"), cfg.get("obj_ids"), layout.metainfo)
        return cls(cfg, device, out_dir, layout, split, obj_ids, load_deepsdf(cfg.ckpt_path, device), tuple(optim_extra))

    def run(self, method: LatentMethod) -> tuple[pd.DataFrame, list[Reconstruction]]:
        """Reconstruct every shape with ``method`` and the config's mesh/metrics settings; write pictures."""
        cfg = self.cfg
        _, mesh, metrics = run_settings(cfg, self.optim_extra)
        table, recons = run_reconstructions(
            self.model, self.layout, self.split, self.obj_ids, method.start, method.objective,
            method.optim, mesh, self.out_dir, save_meshes=as_bool(cfg.save_mesh, "save_mesh"), **metrics,
        )
        save_reconstruction_pictures(self.out_dir, self.layout, recons)
        return table, recons

    def summary(self, table: pd.DataFrame, extra: str = "") -> str:
        return f"{describe(table, self.split)}{extra}; metrics in {self.out_dir / 'metrics.csv'}"
