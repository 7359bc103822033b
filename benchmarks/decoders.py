"""Shape-space decoders compared at equal CPU time on the same chairs: one table.

Each decoder (a ``model=`` config and its batch settings, :data:`DECODERS`) is trained by
``train_deepsdf`` for the same wall time with one thread each, all side by side (so
all see the same machine), on the same training chairs; then, with the same settings for all:

* train fit: the learned codes of 32 training chairs meshed (README mode 1);
* SDF fit: codes fitted to 64 chairs no decoder has seen (README mode 3, CPU inference,
  ``+experiment/optimize_deepsdf=cpu``), chamfer x1000 at mesh resolution 128;
* meshing (s per shape at 128^3, coarse-to-fine) and a 64^2 render (s, forward + backward to
  the code) of one fitted code.

The chairs are a subset dataset (symlinks, no copies) of a preprocessed dataset (``--source-data``,
default ``shapenet_chair_all``): ``--train`` training chairs and 64 unseen ones, the source's val
chairs first, then training chairs of the source kept out of the subset's training. The source's
test split is never used. Every stage is skipped when its output exists, so an interrupted run
resumes; results go to ``<root>/logs/decoders/<name>/`` and the table to ``--out``.

    SKETCH2SHAPE_ROOT=/path python benchmarks/decoders.py --minutes 20 [--decoders mlp triplane32] [--train 384]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]

# name -> train_deepsdf overrides. Batch sizes are each decoder's own: what fills a step of about
# the same cost on a CPU core (the MLP at the release settings).
DECODERS: dict[str, list[str]] = {
    "mlp": ["model=deepsdf_small", "datamodule.shapes_per_batch=32", "datamodule.points_per_shape=256",
            "model.lr_decoder=2.0e-3", "model.lr_latent=1.0e-2", "model.latent_reg_ramp_epochs=10", "datamodule.repeats=1"],
    "triplane32": ["model=triplane", "model.decoder.resolution=32", "model.decoder.channels=32", "datamodule.shapes_per_batch=32",  # model=triplane's default
                   "datamodule.points_per_shape=1024", "model.lr_decoder=2.0e-3", "model.lr_latent=1.0e-2", "model.latent_reg_ramp_epochs=10", "datamodule.repeats=1"],
    "triplane64": ["model=triplane", "model.decoder.resolution=64", "model.decoder.channels=16", "datamodule.shapes_per_batch=16", "datamodule.points_per_shape=2048",
                   "model.lr_decoder=2.0e-3", "model.lr_latent=1.0e-2", "model.latent_reg_ramp_epochs=10", "datamodule.repeats=1"],
}
UNSEEN = 64
TRAIN_FIT = 32


@dataclass(frozen=True)
class Subset:
    """The chairs every decoder trains and is fitted on, and where the runs go."""

    source: str  # the source dataset's config name: its settings serve the subset
    name: str  # the subset dataset, <root>/data/<name>
    root: Path  # SKETCH2SHAPE_ROOT
    runs: Path  # <root>/logs/decoders/<name>_<minutes>min

    def overrides(self) -> list[str]:
        return [f"data={self.source}", f"data.name={self.name}", f"paths.root_dir={self.root}"]


def make_subset(root: Path, source: str, name: str, train: int) -> Path:
    """A dataset ``name`` whose shapes are symlinks to ``source``'s preprocessed ones."""
    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.metainfo import assign_splits, read_metainfo, write_metainfo

    src = DatasetLayout(root / "data" / source)
    dst = DatasetLayout(root / "data" / name)
    if dst.metainfo.is_file():
        return dst.root
    meta = read_metainfo(src.metainfo)
    done = [i for i in meta["obj_id"] if src.shape(i).sdf_samples.is_file() and src.shape(i).surface_samples.is_file()]
    by_split = {s: [i for i in meta.query("split == @s")["obj_id"] if i in set(done)] for s in ("train", "val")}
    unseen = (by_split["val"] + by_split["train"][train:])[:UNSEEN]
    chosen = by_split["train"][:train]
    if len(chosen) < train or len(unseen) < UNSEEN:
        raise SystemExit(f"{src.root}: only {len(done)} preprocessed shapes; need {train} train + {UNSEEN} unseen")
    dst.shapes_dir.mkdir(parents=True, exist_ok=True)
    for obj_id in chosen + unseen:
        link = dst.shapes_dir / obj_id
        if not link.is_symlink():
            link.symlink_to(src.shape(obj_id).dir.resolve())
    if src.cameras.is_file():
        (dst.root / "cameras.json").write_text(src.cameras.read_text())
    write_metainfo(dst.metainfo, assign_splits(chosen + unseen, {"train": len(chosen), "val": len(unseen)}))
    return dst.root


def run(cmd: list[str], log: Path, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    with open(log, "a") as out:
        code = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"failed ({code}): {' '.join(cmd)}; see {log}")
    return time.perf_counter() - start


def train(name: str, subset: Subset, minutes: float, seed: int) -> Path:
    out = subset.runs / name
    ckpt = out / "train" / "checkpoints" / "last.ckpt"
    if not ckpt.is_file():
        out.mkdir(parents=True, exist_ok=True)
        hours, rest = divmod(int(minutes * 60), 3600)
        cmd = [sys.executable, "-m", "sketch2shape.tasks.train_deepsdf", *subset.overrides(), *DECODERS[name], f"seed={seed}",
               "trainer.max_epochs=100000", f"++trainer.max_time=00:{hours:02d}:{rest // 60:02d}:{rest % 60:02d}",
               "model.lr_decay_every=100000", f"hydra.run.dir={out / 'train'}", "report.shapes=4"]
        run(cmd, out / "train.log", threads=1)
    return ckpt


def fit(name: str, subset: Subset, ckpt: Path, mode: str, obj_ids: list[str]) -> pd.DataFrame:
    out = subset.runs / name / mode
    metrics = out / "metrics.csv"
    if not metrics.is_file() or len(pd.read_csv(metrics)) < len(obj_ids) + 1:
        args = ["train=False", "split=train", "prior_idx=True"] if mode == "train_fit" else ["train=True", "split=val"]
        ids = "[" + ",".join(f'"{i}"' for i in obj_ids) + "]"
        cmd = [sys.executable, "-m", "sketch2shape.tasks.optimize_deepsdf", *subset.overrides(), f"ckpt_path={ckpt}", *args,
               "+experiment/optimize_deepsdf=cpu", f"obj_ids={ids}", f"hydra.run.dir={out}"]
        run(cmd, subset.runs / name / f"{mode}.log", threads=1)
    return pd.read_csv(metrics)


def speed(ckpt: Path) -> dict[str, float]:
    """Seconds to mesh the first training code at 128^3 and to render it at 64^2 with its gradient
    (one thread; run while the other decoders' jobs may still run, so compare them loosely)."""
    import torch

    from sketch2shape.mesh.marching_cubes import extract_mesh
    from sketch2shape.models.checkpoints import load_deepsdf
    from sketch2shape.render.camera import Camera
    from sketch2shape.render.sphere_tracing import TracingSettings, render

    torch.set_num_threads(1)
    model = load_deepsdf(ckpt)
    latent = model.latents.weight[0].detach().clone()
    with torch.no_grad():
        start = time.perf_counter()
        extract_mesh(model.decoder.field(latent), resolution=128)
        mesh_s = time.perf_counter() - start
    code = latent.clone().requires_grad_(True)
    start = time.perf_counter()
    rendering = render(model.decoder.field(code), Camera(azimuth_deg=30, elevation_deg=20, resolution=64), TracingSettings())
    (rendering.normals.sum() + rendering.silhouette.sum()).backward()
    render_s = time.perf_counter() - start
    return {"mesh_s": mesh_s, "render_s": render_s, "params": sum(p.numel() for p in model.decoder.parameters())}


def shape_rows(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["obj_id"] != "mean_metric"]


def finite_mean(table: pd.DataFrame, column: str) -> float:
    """Mean chamfer x1000 over the shapes that have a surface (an empty mesh scores inf; counted apart)."""
    values = shape_rows(table)[column]
    return float(values[np.isfinite(values)].mean() * 1000)


def training_record(name: str, subset: Subset) -> dict:
    run_dir = subset.runs / name / "train"
    summary = json.loads((run_dir / "training_summary.json").read_text()) if (run_dir / "training_summary.json").is_file() else {}
    epochs = pd.read_csv(run_dir / "epoch_metrics.csv") if (run_dir / "epoch_metrics.csv").is_file() else pd.DataFrame()
    return {"epochs": summary.get("epochs", len(epochs)), "train_l1": float(epochs["train/sdf_l1"].iloc[-1]) if "train/sdf_l1" in epochs else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decoders", nargs="+", default=list(DECODERS), choices=list(DECODERS))
    parser.add_argument("--minutes", type=float, default=20.0, help="training wall time per decoder (one thread each, all side by side)")
    parser.add_argument("--train", type=int, default=384, help="training chairs")
    parser.add_argument("--source-data", default="shapenet_chair_all")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--unseen", type=int, default=UNSEEN, help=f"unseen chairs fitted (at most {UNSEEN})")
    parser.add_argument("--train-fit", type=int, default=TRAIN_FIT, help="training chairs whose learned codes are meshed")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "decoders.md")
    args = parser.parse_args()
    root = Path(os.environ.get("SKETCH2SHAPE_ROOT", ".")).resolve()
    data = f"decoders_{args.source_data}_{args.train}"
    make_subset(root, args.source_data, data, args.train)
    subset = Subset(args.source_data, data, root, root / "logs" / "decoders" / f"{data}_{args.minutes:g}min")
    from sketch2shape.data.metainfo import read_metainfo

    meta = read_metainfo(root / "data" / data / "metainfo.csv")
    train_ids = meta.query("split == 'train'")["obj_id"].tolist()[: args.train_fit]
    val_ids = meta.query("split == 'val'")["obj_id"].tolist()[: args.unseen]

    def one(name: str) -> dict:
        ckpt = train(name, subset, args.minutes, args.seed)
        train_fit = fit(name, subset, ckpt, "train_fit", train_ids)
        sdf_fit = fit(name, subset, ckpt, "sdf_fit", val_ids)
        record = training_record(name, subset)
        settings = DECODERS[name]
        points = next(int(s.split("=")[1]) for s in settings if s.startswith("datamodule.points_per_shape"))
        per_batch = next(int(s.split("=")[1]) for s in settings if s.startswith("datamodule.shapes_per_batch"))
        steps_per_epoch = -(-len(meta.query("split == 'train'")) // per_batch)
        updates = record["epochs"]  # each code is updated once per epoch (repeats=1)
        return {"decoder": name, **record, "code_updates": updates, "points_per_shape_seen": updates * points,
                "steps": record["epochs"] * steps_per_epoch,
                "train_fit": finite_mean(train_fit, "train/chamfer"),
                "sdf_fit": finite_mean(sdf_fit, "val/chamfer"), "sdf_fit_empty": int((~np.isfinite(shape_rows(sdf_fit)["val/chamfer"])).sum()),
                "sdf_fit_median": shape_rows(sdf_fit)["val/chamfer"].median() * 1000, **speed(ckpt)}

    with ThreadPoolExecutor(max_workers=len(args.decoders)) as pool:  # all side by side: the same machine for each
        rows = list(pool.map(one, args.decoders))
    table = pd.DataFrame(rows)
    lines = [f"# Decoders at equal CPU time ({args.minutes:g} min training each, 1 thread each, all side by side)", "",
             f"`python benchmarks/decoders.py --minutes {args.minutes:g} --train {args.train} --decoders {' '.join(args.decoders)}` "
             f"on `{args.source_data}` ({(meta['split'] == 'train').sum()} training chairs, {len(val_ids)} unseen), seed {args.seed}. "
             "Chamfer x1000, mesh resolution 128; SDF fit: README mode 3 with CPU inference (300 steps x 4000 points), mean over the fits that have a surface; "
             f"train fit: mode 1 on {len(train_ids)} training chairs.", "",
             "| decoder | parameters | epochs (code updates) | SDF points seen per shape | train L1 | train fit | SDF fit mean | SDF fit median | no surface | mesh 128^3 s | render 64^2 fwd+bwd s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['decoder']} | {r['params']:,} | {r['epochs']} | {r['points_per_shape_seen']:,} | {r['train_l1']:.4f} | {r['train_fit']:.2f} | "
                     f"{r['sdf_fit']:.2f} | {r['sdf_fit_median']:.2f} | {r['sdf_fit_empty']} | {r['mesh_s']:.2f} | {r['render_s']:.2f} |")
    text = "\n".join(lines) + "\n"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    print(table.to_string())


if __name__ == "__main__":
    main()
