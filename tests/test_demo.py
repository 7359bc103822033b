"""`sketch2shape demo` end to end on procedural_chair_4 with tiny settings, and the reconstruct command."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import trimesh

from sketch2shape.cli import stage_overrides
from tests.test_demo_report import NOISE, stage_rows

TINY_DATA = [
    "data.splits={train: 3, val: 1, test: 0}", "data.camera.resolution=48", "data.views.azimuth_count=4",
    "data.views.elevations_deg=[20.0]", "data.preprocess_sdf.num_samples=3000", "data.preprocess_sdf.visibility_views=6",
    "data.preprocess_sdf.visibility_resolution=48", "data.preprocess_surface.num_samples=500",
]
TINY = [
    *TINY_DATA,
    # hidden 64 and lr 5e-3: a narrower net starts with |sdf| above the clamp everywhere and never learns a surface
    "train_deepsdf:model.decoder.latent_dim=8", "train_deepsdf:model.decoder.hidden_dim=64", "train_deepsdf:model.decoder.num_layers=4",
    "train_deepsdf:model.decoder.skip_layers=[2]", "train_deepsdf:trainer.max_epochs=4", "train_deepsdf:report.shapes=1",
    "train_deepsdf:report.resolution=24", "train_deepsdf:datamodule.points_per_shape=512", "train_deepsdf:datamodule.repeats=32",
    "train_deepsdf:model.lr_decoder=5e-3", "train_deepsdf:model.lr_latent=5e-3",
    "train_siamese:model.net.image_size=32", "train_siamese:model.net.embedding_dim=16", "train_siamese:model.net.encoder.widths=[8,16]",
    "train_siamese:model.net.encoder.blocks=[1,1]", "train_siamese:model.loader.load_resolution=32", "train_siamese:model.loader.shapes_per_batch=2",
    "train_siamese:model.loader.views_per_shape=2", "train_siamese:trainer.max_epochs=1", "eval_siamese:model.loader.load_resolution=32",
    "eval_siamese:gallery.image_size=32",
    "mesh.resolution=24", "metrics.chamfer_points=300", "eval_sketch_to_shape:sketch.optim.steps=2", "eval_sketch_to_shape:deepsdf.optim.steps=2",
    "eval_sketch_to_shape:sketch.render.resolution=24", "eval_sketch_to_shape:sketch.sketch_views=[1]", "eval_sketch_to_shape:start.sketch_views=[1]",
]


def test_stage_overrides():
    assert stage_overrides("a", ["x=1", "a:y=2", "b:z=3"]) == ["++x=1", "y=2"]
    assert stage_overrides("b", ["data.splits={train: 3}"]) == ["++data.splits={train: 3}"]


@pytest.mark.slow
def test_demo_end_to_end_and_reconstruct(tmp_path):
    cmd = [sys.executable, "-m", "sketch2shape.cli", "demo", "--data", "procedural_chair_4", "--data-dir", str(tmp_path / "data"),
           "--log-dir", str(tmp_path / "logs")] + [a for item in TINY for a in ("--set", item)]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    # Not a terminal: a few progress lines, not every redraw of every bar (135 in this run before).
    assert (out.stdout + out.stderr).count("%|") <= 10, (out.stdout + out.stderr)[-3000:]
    run_dir = tmp_path / "logs" / "demo" / "procedural_chair_4"
    report = (run_dir / "report.md").read_text()
    results = pd.read_csv(run_dir / "eval_sketch_to_shape" / "results.csv")
    assert set(results.method) == {"mean", "retrieval", "sketch_from_mean", "deepsdf"} and (results.chamfer > 0).all()
    for method in ("| mean |", "| retrieval |", "| sketch_from_mean |", "| deepsdf |", "comparison.png"):
        assert method in report
    # Each Lightning line once, no library noise, the retrieval table once.
    log = out.stdout + out.stderr
    assert log.count("Seed set to 42") == 3 and log.count("recall@10") == 1, log[-3000:]
    assert [noise for noise in NOISE if noise in log] == [], log[-3000:]
    assert "| train_deepsdf | 4 | 4 | all planned epochs ran |" in report
    # Re-running reuses every finished stage, and the report keeps the times the first run recorded.
    again = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("done before, reusing") == 5
    first, second = stage_rows(report), stage_rows((run_dir / "report.md").read_text())
    assert {k: v[:2] for k, v in second.items()} == {k: v[:2] for k, v in first.items()} and float(second["train_deepsdf"][0]) > 0
    assert {v[2] for v in second.values()} == {"reused (ran before)"}

    # The user-facing command on a drawing, with the demo's checkpoints.
    sketch = tmp_path / "data" / "procedural_chair_4" / "shapes" / "chair_00000" / "sketches" / "00001.png"
    rec = [sys.executable, "-m", "sketch2shape.cli", "reconstruct", str(sketch), "--out", str(tmp_path / "chair.obj"), "--view", "1",
           "--deepsdf-ckpt", str(run_dir / "train_deepsdf" / "checkpoints" / "last.ckpt"),
           "--siamese-ckpt", str(run_dir / "train_siamese" / "checkpoints" / "last.ckpt"),
           "--data-dir", str(tmp_path / "data"), "--steps", "2", "--resolution", "32"]
    out = subprocess.run(rec, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert len(trimesh.load(tmp_path / "chair.obj", force="mesh").faces) > 0
    assert (tmp_path / "chair_preview.png").is_file()
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = subprocess.run(rec[:4] + [str(bad)] + rec[5:], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "is not an image" in out.stderr
    out = subprocess.run(rec[:5] + ["--deepsdf-ckpt", str(tmp_path / "missing.ckpt"), "--siamese-ckpt", rec[rec.index("--siamese-ckpt") + 1]],
                         cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0 and "run `sketch2shape demo` first" in out.stderr and "Traceback" not in out.stderr
    # Without --siamese-ckpt, a missing model file of the encoder way is named, with no traceback.
    out = subprocess.run(rec[:5] + ["--deepsdf-ckpt", str(tmp_path / "missing.ckpt")], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode != 0 and "missing.ckpt does not exist" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_a_wheel_install_runs_the_tasks_and_a_tiny_demo(tmp_path):
    """Build a wheel, install it into a fresh virtual environment, and run that environment's
    ``sketch2shape`` command from a folder without the repository: the tasks and their configs
    come from the installed package, not from scripts/ or the working tree. The dependencies
    (torch and the rest, which a machine without internet cannot download) are this environment's,
    put on the new one's path by a ``.pth`` line; sketch2shape itself is only the wheel's."""
    from tests.conftest import REPO_ROOT

    wheel_dir, venv, work = tmp_path / "wheels", tmp_path / "venv", tmp_path / "work"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(REPO_ROOT)], check=True, timeout=600)
    wheel = next(wheel_dir.glob("sketch2shape-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True, capture_output=True, text=True).stdout.strip())
    (site / "test_dependencies.pth").write_text("\n".join(p for p in sys.path if p.endswith("site-packages")) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)], check=True, timeout=600)
    work.mkdir()
    env = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path)}
    where = subprocess.run([str(python), "-c", "import sketch2shape.utils.hydra as h; print(h.config_dir())"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert where.returncode == 0 and where.stdout.strip().startswith(str(site)), where.stdout[-2000:] + where.stderr[-2000:]
    # a task by name: its --help comes from the installed task module
    help_out = subprocess.run([str(bin_dir / "sketch2shape"), "train_deepsdf", "--help"], cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert help_out.returncode == 0 and "Train a DeepSDF auto-decoder" in help_out.stdout, help_out.stderr[-2000:]
    cmd = [str(bin_dir / "sketch2shape"), "demo", "--data", "procedural_chair_4"] + [a for item in TINY for a in ("--set", item)]
    out = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "-m sketch2shape.tasks.train_deepsdf" in out.stdout
    results = pd.read_csv(work / "logs" / "demo" / "procedural_chair_4" / "eval_sketch_to_shape" / "results.csv")
    assert set(results.method) == {"mean", "retrieval", "sketch_from_mean", "deepsdf"} and (results.chamfer > 0).all()
