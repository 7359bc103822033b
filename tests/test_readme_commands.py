"""The original README's optimization and evaluation command lines, run as written (plus tiny-size
overrides) on tiny trained models: each exits 0 and writes its results.

``train_*``, ``preprocess_data``, ``copy_shapenet`` and ``optimize_deepsdf`` have their own tests
(tests/test_training_tasks.py, tests/test_deepsdf_scripts.py, tests/data/); ``eval_sketch_to_shape``
runs in the demo test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.tiny_models import DATA

SMALL = ["mesh.resolution=24", "metrics.chamfer_points=300"]


def run(script: str, *args: str, root: Path) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, f"scripts/{script}", *args, f"paths.root_dir={root}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{script} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out


def newest_run(root: Path, task: str) -> Path:
    return sorted((root / "logs" / task / "runs").iterdir())[-1]


def per_shape(run_dir: Path) -> pd.DataFrame:
    """metrics.csv without its mean row: one row per reconstructed shape."""
    metrics = pd.read_csv(run_dir / "metrics.csv")
    return metrics[metrics.obj_id != "mean_metric"]


@pytest.mark.slow
def test_optimize_normals_as_in_the_readme(tiny_run):
    # python scripts/optimize_normals.py +data=shapenet_chair_16 ckpt_path=...
    root = tiny_run["root"]
    run("optimize_normals.py", "+data=procedural_chair_4", *DATA[1:], f"ckpt_path={tiny_run['deepsdf']}",
        "views=[0,1]", "optim.steps=2", "render.resolution=24", *SMALL, root=root)
    out = newest_run(root, "optimize_normals")
    metrics = per_shape(out)
    assert list(metrics.obj_id) == ["chair_00000"] and (metrics["val/chamfer"] > 0).all()  # the one val chair
    assert (out / "reconstructions.png").is_file()


@pytest.mark.slow
def test_optimize_sketch_as_in_the_readme(tiny_run):
    # python scripts/optimize_sketch.py +data=shapenet_chair_16 split=val ckpt_path=...
    root = tiny_run["root"]
    run("optimize_sketch.py", "+data=procedural_chair_4", *DATA[1:], "split=val", f"ckpt_path={tiny_run['deepsdf']}",
        f"siamese_ckpt_path={tiny_run['siamese']}", "sketch_views=[1]", "unseen_view=0", "optim.steps=2", "render.resolution=24", *SMALL, root=root)
    out = newest_run(root, "optimize_sketch")
    metrics = per_shape(out)
    assert list(metrics.obj_id) == ["chair_00000"] and (metrics["val/chamfer"] > 0).all()
    assert list((out / "views").glob("*.png"))  # sketch | start | final | truth


@pytest.mark.slow
def test_traverse_latent_and_eval_siamese_as_in_the_readme(tiny_run):
    # python scripts/traverse_latent.py data=shapenet_chair_16 ckpt_path=... model.prior_idx_start=0 model.prior_idx_end=1
    root = tiny_run["root"]
    run("traverse_latent.py", *DATA, f"ckpt_path={tiny_run['deepsdf']}", "model.prior_idx_start=0", "model.prior_idx_end=1",
        "traversal_steps=3", "mesh.resolution=24", root=root)
    assert len(list(newest_run(root, "traverse_latent").rglob("*.obj"))) == 3
    # python scripts/eval_siamese.py +data=shapenet_chair_16
    run("eval_siamese.py", "+data=procedural_chair_4", *DATA[1:], f"ckpt_path={tiny_run['siamese']}", "model.loader.load_resolution=32",
        "gallery.image_size=32", "ks=[1,5]", root=root)
    table = pd.read_csv(newest_run(root, "eval_siamese") / "metrics.csv")
    assert {"trained", "untrained", "raw_pixels"} <= set(table.method)
