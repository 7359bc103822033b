"""End to end on a tiny procedural dataset: preprocess, train DeepSDF, the README's optimize modes, traversal."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO_ROOT
from tests.data.test_preprocess_pipeline import TINY

pytestmark = pytest.mark.slow

DATA = [a for a in TINY if a.startswith("data.") or a.startswith("data=")]
TINY_MODEL = [  # hidden 64 and lr 5e-3: narrower nets start above the clamp everywhere and never learn a surface
    "model.decoder.latent_dim=8", "model.decoder.hidden_dim=64", "model.decoder.num_layers=4", "model.decoder.skip_layers=[2]",
    "datamodule.points_per_shape=512", "datamodule.repeats=32", "trainer.max_epochs=4", "model.lr_decoder=5e-3", "model.lr_latent=5e-3",
    "report.shapes=2", "report.resolution=24",
]
FAST = ["optim.steps=5", "mesh.resolution=32", "metrics.chamfer_points=500"]


def run(script, *args, root):
    out = subprocess.run([sys.executable, f"scripts/{script}", *args, f"paths.root_dir={root}"], cwd=REPO_ROOT, capture_output=True, text=True)
    return out


def newest_run(root: Path, task: str) -> Path:
    return sorted((root / "logs" / task / "runs").iterdir())[-1]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    out = run("preprocess_data.py", *DATA, root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    out = run("train_deepsdf.py", "+data=procedural_chair_4", *DATA[1:], *TINY_MODEL, root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = newest_run(root, "train_deepsdf")
    for name in ("checkpoints/last.ckpt", "loss_curve.png", "reconstructions.png", "config.yaml"):
        assert (run_dir / name).is_file(), name
    return root, run_dir / "checkpoints" / "last.ckpt"


def test_readme_optimize_modes(trained):
    root, ckpt = trained
    base = ["+data=procedural_chair_4", *DATA[1:], f"ckpt_path={ckpt}", *FAST]
    # 1) meshes of the learned train codes, no optimization
    out = run("optimize_deepsdf.py", *base, "train=False", "split=train", "prior_idx=True", root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    metrics = pd.read_csv(newest_run(root, "optimize_deepsdf") / "metrics.csv")
    assert list(metrics.columns) == ["train/chamfer", "train/fscore", "obj_id"]
    assert len(metrics) == 3 and metrics["obj_id"].iloc[-1] == "mean_metric"
    assert metrics["train/chamfer"].iloc[-1] == pytest.approx(metrics["train/chamfer"].iloc[:-1].mean())
    assert np.isfinite(metrics["train/chamfer"]).all()  # a surface was found for every shape (empty meshes give inf)
    assert len(list((newest_run(root, "optimize_deepsdf") / "meshes").glob("*.obj"))) == 2
    # 3) val split with the original README's spelling train=Train, and 5) save_mesh=False
    out = run("optimize_deepsdf.py", *base, "train=Train", "split=val", "save_mesh=False", root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = newest_run(root, "optimize_deepsdf")
    assert pd.read_csv(run_dir / "metrics.csv").columns[0] == "val/chamfer"
    assert not (run_dir / "meshes").exists() and (run_dir / "reconstructions.png").is_file()
    # 4) obj_ids of another split than asked for: a clear error
    meta = pd.read_csv(root / "data" / "procedural_chair_4" / "metainfo.csv")
    train_id = meta[meta.split == "train"].obj_id.iloc[0]
    out = run("optimize_deepsdf.py", *base, f"obj_ids=[{train_id}]", "split=val", root=root)
    assert out.returncode != 0 and "in split 'train', not split='val'" in out.stderr
    out = run("optimize_deepsdf.py", *base, f"obj_ids=[{train_id}]", root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    out = run("optimize_deepsdf.py", *base, "prior_idx=True", "split=val", root=root)
    assert out.returncode != 0 and "only train shapes have" in out.stderr


def test_traverse_latent(trained):
    root, ckpt = trained
    out = run("traverse_latent.py", "data=procedural_chair_4", *DATA[1:], f"ckpt_path={ckpt}", "model.prior_idx_start=0",
              "model.prior_idx_end=1", "traversal_steps=3", "mesh.resolution=24", root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = newest_run(root, "traverse_latent")
    assert sorted(p.name for p in (run_dir / "mesh").iterdir()) == ["step=000.obj", "step=001.obj", "step=002.obj"]
    assert (run_dir / "traversal.png").is_file()
    out = run("traverse_latent.py", "data=procedural_chair_4", f"ckpt_path={ckpt}", "model.prior_idx_end=7", root=root)
    assert out.returncode != 0 and "model.prior_idx_end=7 is out of range" in out.stderr
