"""Every training task runs with its defaults on the shipped small dataset (very briefly), the
training curves cover a resumed run whatever the logger, and a failed shape does not stop training."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

DATA = "procedural_chair_4"
# Cheaper preprocessing than shipped (fewer samples, smaller images); the splits (4/1/1) and the 24
# views are the dataset's own, so the training defaults meet the real sizes.
PREPROCESS = [
    f"data={DATA}", "data.camera.resolution=64", "data.preprocess_sdf.num_samples=4000",
    "data.preprocess_sdf.visibility_views=6", "data.preprocess_sdf.visibility_resolution=48",
    "data.preprocess_surface.num_samples=1000", "workers=2",
]
DEEPSDF = [  # a tiny network and one short epoch; the data settings (shapes_per_batch=8, ...) stay the defaults
    "model.decoder.latent_dim=8", "model.decoder.hidden_dim=32", "model.decoder.num_layers=3", "model.decoder.skip_layers=[]",
    "datamodule.points_per_shape=256", "datamodule.repeats=2", "trainer.max_epochs=1", "report.shapes=2", "report.resolution=16",
]
SIAMESE = ["trainer.max_epochs=1", "model.net.image_size=32", "model.net.encoder.widths=[8,8,16,16]", "model.loader.load_resolution=32"]
ENCODER = ["trainer.max_epochs=1", "model.net.image_size=32", "model.net.hidden_dim=16", "model.net.encoder.widths=[8,8,16,16]",
           "model.loader.load_resolution=32", "final_eval.mesh_resolution=16", "final_eval.chamfer_points=200"]


def run(script, *args, root):
    return subprocess.run(
        [sys.executable, f"scripts/{script}", *args, f"paths.root_dir={root}"], cwd=REPO_ROOT, capture_output=True, text=True,
    )


def runs(root: Path, task: str) -> list[Path]:
    return sorted((root / "logs" / task / "runs").iterdir())


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tasks")
    out = run("preprocess_data.py", *PREPROCESS, root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    return root


def test_every_training_task_runs_with_its_defaults(root):
    out = run("train_deepsdf.py", f"+data={DATA}", *DEEPSDF, root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    deepsdf = runs(root, "train_deepsdf")[-1] / "checkpoints" / "last.ckpt"
    assert deepsdf.is_file()

    # the README's spelling; 4 train shapes < shapes_per_batch=8: lowered, with a log line
    out = run("train_siamese.py", f"+data={DATA}", *SIAMESE, root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"loader.shapes_per_batch=8 but {DATA} has 4 train shapes: using shapes_per_batch=4" in out.stdout
    siamese_run = runs(root, "train_siamese")[-1]
    assert (siamese_run / "checkpoints" / "last.ckpt").is_file() and (siamese_run / "training_curve.png").is_file()

    out = run("train_sketch_encoder.py", f"+data={DATA}", f"deepsdf_ckpt_path={deepsdf}", *ENCODER, root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (runs(root, "train_sketch_encoder")[-1] / "checkpoints" / "last.ckpt").is_file()


def test_loss_curve_covers_a_resumed_run_with_tensorboard(root):
    args = [f"data={DATA}", *DEEPSDF, "logger=tensorboard"]
    out = run("train_deepsdf.py", *args, "trainer.max_epochs=2", root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    first = runs(root, "train_deepsdf")[-1]
    out = run("train_deepsdf.py", *args, "trainer.max_epochs=3", f"ckpt_path={first / 'checkpoints' / 'last.ckpt'}", root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    resumed = runs(root, "train_deepsdf")[-1]
    assert resumed != first and not (resumed / "csv").exists() and (resumed / "tensorboard").is_dir()
    history = pd.read_csv(resumed / "epoch_metrics.csv")
    assert history["epoch"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(history.iloc[:2], pd.read_csv(first / "epoch_metrics.csv"))
    assert (resumed / "loss_curve.png").is_file() and f"wrote {resumed / 'loss_curve.png'}" in out.stdout
    # the Siamese curve reads the same history: present with TensorBoard alone
    out = run("train_siamese.py", f"data={DATA}", *SIAMESE, "logger=tensorboard", root=root)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (runs(root, "train_siamese")[-1] / "training_curve.png").is_file()


def test_train_deepsdf_skips_a_shape_preprocessing_failed_on(root):
    data_dir = root / "data" / DATA
    meta = pd.read_csv(data_dir / "metainfo.csv")
    failed = meta[meta.split == "train"].obj_id.iloc[1]
    samples = data_dir / "shapes" / failed / "sdf_samples.npy"
    backup = samples.read_bytes()
    samples.unlink()
    pd.DataFrame({"obj_id": [failed], "step": ["sdf"], "error": ["ValueError: test"]}).to_csv(data_dir / "failures.csv", index=False)
    try:
        out = run("train_deepsdf.py", f"data={DATA}", *DEEPSDF, root=root)
        assert out.returncode == 0, out.stderr[-3000:]
        assert "skipping 1 shape(s) that preprocessing failed on" in out.stdout and f"{failed} (sdf: ValueError: test)" in out.stdout
        ckpt = torch.load(runs(root, "train_deepsdf")[-1] / "checkpoints" / "last.ckpt", weights_only=False, map_location="cpu")
        train_ids = ckpt["hyper_parameters"]["train_obj_ids"]
        assert failed not in train_ids and len(train_ids) == 3
    finally:
        samples.write_bytes(backup)
        pd.DataFrame(columns=["obj_id", "step", "error"]).to_csv(data_dir / "failures.csv", index=False)
