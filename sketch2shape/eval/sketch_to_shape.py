"""Every way of getting a shape, one run, the same shapes: the sketch-to-shape comparison table.

For each shape of the chosen splits and each configured method (the mean code, retrieval, the
sketch encoder, sketch optimization variants, optimize_normals, optimize_deepsdf), the code is
found, meshed with the same settings and scored with the same chamfer distance. Results are
appended to ``results.csv`` after every (method, shape), so an interrupted run resumes with
``resume_from=<its folder>``; ``comparison.md`` holds the table (chamfer x1000 mean and median
per split) and ``comparison.png`` one row of renders per shape.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from sketch2shape.data.metainfo import read_metainfo
from sketch2shape.data.preprocess.mesh import load_mesh
from sketch2shape.models.siamese_module import load_siamese
from sketch2shape.optimize.latent import SDF_OPTIM_KEYS, LatentOptimSettings
from sketch2shape.optimize.normals import NORMAL_LOSS_KEYS, dataset_cameras, normals_method, tracing_settings
from sketch2shape.optimize.reconstruct import LatentMethod, MeshSettings, Reconstruction, ReconstructionRun, attempt_shape, reconstruct_shape, write_failures
from sketch2shape.optimize.sdf import sdf_method
from sketch2shape.optimize.sketch import SketchLoss, check_compatible, load_start_models, sketch_method
from sketch2shape.utils.config import check_keys, field_names
from sketch2shape.utils.io import atomic_path, save_mesh, write_text
from sketch2shape.viz import render_mesh, save_labeled_grid, short_id

log = logging.getLogger(__name__)

KINDS = ("start", "sketch", "normals", "deepsdf")
# The keys a method of each kind reads (its kind's block merged with its own entry).
_SKETCH_KEYS = ("kind", "about", "init", "sketch_views", "render", "optim", *field_names(SketchLoss))
METHOD_KEYS = {
    "start": _SKETCH_KEYS,
    "sketch": _SKETCH_KEYS,
    "normals": ("kind", "about", "views", "render", "loss", "optim"),
    "deepsdf": ("kind", "about", "init", "init_points", "optim"),
}
RESULT_COLUMNS = ["method", "split", "obj_id", "chamfer", "fscore", "seconds"]


def method_settings(cfg, name: str) -> dict:
    """A method's settings: the block of its kind (``cfg.<kind>``) overridden by its own entry.

    Keys a method of its kind does not read (:data:`METHOD_KEYS`) raise
    :class:`~sketch2shape.utils.config.ConfigError`.
    """
    entry = OmegaConf.to_container(cfg.methods[name], resolve=True)
    kind = entry.get("kind")
    if kind not in KINDS:
        raise ValueError(f"methods.{name}.kind={kind!r}; accepted: {', '.join(KINDS)}")
    base = OmegaConf.to_container(cfg[kind], resolve=True) if kind in cfg and cfg[kind] is not None else {}
    check_keys(base, METHOD_KEYS[kind], kind)
    check_keys(entry, METHOD_KEYS[kind], f"methods.{name}")
    entry.pop("about", None)
    return {**base, **entry}


def check_method(cfg, name: str) -> dict:
    """:func:`method_settings` with its ``optim``, ``render`` and ``loss`` nodes checked too, so a
    wrong key stops the run before any model is loaded; returns the settings."""
    s = method_settings(cfg, name)
    kind = s["kind"]
    LatentOptimSettings.from_config(s.get("optim") or {}, f"methods.{name}.optim ({kind}.optim)", SDF_OPTIM_KEYS if kind == "deepsdf" else ())
    if "render" in s:
        tracing_settings(s["render"], f"methods.{name}.render ({kind}.render)")
    if kind == "normals":
        check_keys(s.get("loss") or {}, NORMAL_LOSS_KEYS, f"methods.{name}.loss ({kind}.loss)")
    return s


class MethodFactory:
    """Builds the configured methods, loading each checkpoint and index once."""

    def __init__(self, cfg, run: ReconstructionRun) -> None:
        self.cfg, self.run = cfg, run
        self.cameras = dataset_cameras(run.layout)
        self._siamese = None
        self._starts: dict[str, tuple] = {}
        if cfg.siamese_ckpt_path:
            if not Path(str(cfg.siamese_ckpt_path)).is_file():
                raise FileNotFoundError(f"siamese_ckpt_path={cfg.siamese_ckpt_path} is not a file: train one with scripts/train_siamese.py")
            check_compatible(run.model, str(cfg.siamese_ckpt_path), cfg.data.name)
            self._siamese = load_siamese(cfg.siamese_ckpt_path, run.device)

    @property
    def siamese(self):
        if self._siamese is None:
            raise ValueError("sketch methods need siamese_ckpt_path (train one with scripts/train_siamese.py)")
        return self._siamese

    def start_models(self, init: str) -> tuple:
        if init not in self._starts:
            self._starts[init] = load_start_models(init, self.cfg, self.run.model, self.siamese, self.run.layout, len(self.cameras), self.run.device)
        return self._starts[init]

    def build(self, name: str) -> LatentMethod:
        settings = method_settings(self.cfg, name)
        builder = {"start": self._sketch, "sketch": self._sketch, "normals": self._normals, "deepsdf": self._deepsdf}[settings["kind"]]
        return builder(name, settings)

    def _sketch(self, name: str, s: dict) -> LatentMethod:
        optim = LatentOptimSettings.from_config(s["optim"], f"methods.{name}.optim")
        return sketch_method(name, s.get("init", "retrieval"), s["sketch_views"], s["render"], optim, SketchLoss.from_method(s), run=self.run,
                             siamese=self.siamese, cameras=self.cameras, start_models=self.start_models, optimize=s["kind"] == "sketch", where=f"methods.{name}")

    def _normals(self, name: str, s: dict) -> LatentMethod:
        mean = self.run.model.mean_latent()
        optim = LatentOptimSettings.from_config(s["optim"], f"methods.{name}.optim")
        return normals_method(name, s["views"], s["render"], s["loss"], optim, lambda obj_id: mean.clone(), run=self.run, cameras=self.cameras,
                              seed=int(self.cfg.seed), where=f"methods.{name}")

    def _deepsdf(self, name: str, s: dict) -> LatentMethod:
        # the comparison's shapes are never given their own learned code (prior_idx off, split val)
        return sdf_method(name, s.get("init", "nearest"), int(s.get("init_points", 8000)), s["optim"], run=self.run, seed=int(self.cfg.seed),
                          where=f"methods.{name}")


def read_previous_results(resume_from) -> pd.DataFrame:
    if not resume_from:
        return pd.DataFrame(columns=RESULT_COLUMNS)
    path = Path(str(resume_from)) / "results.csv"
    if not path.is_file():
        raise FileNotFoundError(f"resume_from={resume_from}: {path} does not exist")
    return pd.read_csv(path)


def summarize(results: pd.DataFrame, methods: list[str]) -> pd.DataFrame:
    """Chamfer x1000 mean and median and F-score mean per method and split (and over all splits)."""
    rows = []
    frames = [(split, part) for split, part in results.groupby("split", sort=False)]
    if len(frames) > 1:
        frames.append(("all", results))
    for split, part in frames:
        for method in methods:
            scores = part[part.method == method]
            if scores.empty:
                continue
            chamfer = scores.chamfer * 1000
            rows.append({"split": split, "method": method, "shapes": len(scores), "chamfer_mean": chamfer.mean(), "chamfer_median": chamfer.median(),
                         "fscore_mean": scores.fscore.mean(), "seconds_per_shape": scores.seconds.mean()})
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame, data_name: str, about: dict[str, str] | None = None) -> str:
    lines = [f"# Sketch to shape on {data_name}", "", "Chamfer x1000 (lower is better), F-score@0.02, seconds per shape.", ""]
    lines += [f"* **{name}**: {text}" for name, text in (about or {}).items() if name in set(summary.method)]
    lines += [""] if about else []
    for split, part in summary.groupby("split", sort=False):
        lines += [f"## {split} ({int(part.shapes.max())} shapes)", "", "| method | mean | median | F-score | s/shape |", "|---|---|---|---|---|"]
        for row in part.itertuples():
            lines.append(f"| {row.method} | {row.chamfer_mean:.3f} | {row.chamfer_median:.3f} | {row.fscore_mean:.3f} | {row.seconds_per_shape:.1f} |")
        lines.append("")
    return "\n".join(lines)


def save_comparison_picture(path: Path, layout, meshes: dict[tuple[str, str], object], results: pd.DataFrame, methods: list[str], sketch_view: int, max_shapes: int = 8) -> None:
    """One row per shape: sketch | truth | each method's mesh (with its chamfer x1000)."""
    from PIL import Image


    rows, labels = [], []
    for obj_id in list(dict.fromkeys(results.obj_id))[:max_shapes]:
        files = layout.shape(obj_id)
        truth = render_mesh(load_mesh(files.normalized_mesh))
        size = truth.shape[:2]
        sketch = np.asarray(Image.open(files.sketch(sketch_view)).convert("L").resize(size[::-1]))
        row = [sketch, truth]
        for method in methods:
            mesh = meshes.get((method, obj_id))
            row.append(render_mesh(mesh) if mesh is not None else np.full_like(truth, 255))
        rows.append(row)
        labels.append(short_id(obj_id))
    if rows:
        save_labeled_grid(path, rows, row_labels=labels, col_labels=["sketch", "truth", *methods])


def eval_sketch_to_shape(cfg) -> str:
    methods = [name for name in cfg.methods if cfg.methods[name] is not None]
    for name in methods:
        check_method(cfg, name)  # every method's settings, before anything is loaded
    run = ReconstructionRun.from_config(cfg)
    metainfo = read_metainfo(run.layout.metainfo)
    splits = list(cfg.splits)
    factory = MethodFactory(cfg, run)
    built = [factory.build(name) for name in methods]
    mesh_settings = MeshSettings.from_config(cfg.mesh)
    results = read_previous_results(cfg.resume_from)
    done = set(zip(results.method, results.obj_id))
    meshes: dict[tuple[str, str], object] = {}
    if cfg.resume_from:
        for method, obj_id in done:
            path = Path(str(cfg.resume_from)) / "meshes" / method / f"{obj_id}.obj"
            if path.is_file():
                meshes[(method, obj_id)] = load_mesh(path)
                save_mesh(run.out_dir / "meshes" / method / f"{obj_id}.obj", meshes[(method, obj_id)])
    failures: list[dict] = []
    for split in splits:
        obj_ids = list(metainfo[metainfo.split == split].obj_id)
        if cfg.max_shapes_per_split:
            obj_ids = obj_ids[: int(cfg.max_shapes_per_split)]
        for obj_id in obj_ids:
            for method in built:
                if (method.name, obj_id) in done:
                    continue
                start_time = time.perf_counter()

                def build(method: LatentMethod = method, obj_id: str = obj_id) -> Reconstruction:
                    objective = method.objective(obj_id) if method.objective is not None else None
                    return reconstruct_shape(run.model, run.layout, obj_id, method.start(obj_id), objective, method.optim, mesh_settings, **cfg.metrics)

                recon = attempt_shape(failures, obj_id, build, method=method.name)
                if recon is None:
                    continue
                seconds = time.perf_counter() - start_time
                meshes[(method.name, obj_id)] = recon.mesh
                save_mesh(run.out_dir / "meshes" / method.name / f"{obj_id}.obj", recon.mesh)
                row = {"method": method.name, "split": split, "obj_id": obj_id, "chamfer": recon.metrics.chamfer, "fscore": recon.metrics.fscore, "seconds": seconds}
                results = pd.concat([results, pd.DataFrame([row])], ignore_index=True)
                log.info("%s %s %s chamfer x1000 %.3f (%.0f s)", split, obj_id, method.name, recon.metrics.chamfer * 1000, seconds)
                with atomic_path(run.out_dir / "results.csv") as tmp:
                    results.to_csv(tmp, index=False, float_format="%.8f")
    write_failures(run.out_dir / "failures.csv", failures)
    if results.empty:
        raise RuntimeError(f"no shape could be reconstructed; failures: {failures}")
    summary = summarize(results, methods)
    with atomic_path(run.out_dir / "summary.csv") as tmp:
        summary.to_csv(tmp, index=False, float_format="%.4f")
    table = markdown_table(summary, cfg.data.name, {name: str(cfg.methods[name].get("about", "")) for name in methods})
    write_text(run.out_dir / "comparison.md", table + "\n")
    first_view = int(list(cfg.sketch.sketch_views)[0]) if "sketch" in cfg else 0
    save_comparison_picture(run.out_dir / "comparison.png", run.layout, meshes, results, methods, first_view)
    return f"{table}\nwritten to {run.out_dir}"
