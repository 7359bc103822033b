"""The preprocessing runner: outputs, resume after interruption, failures, skip flags, shards."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from sketch2shape.data.create import ensure_dataset
from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import read_metainfo
from sketch2shape.data.preprocess import steps as steps_module
from sketch2shape.data.preprocess.pipeline import preprocess_dataset
from sketch2shape.data.preprocess.runner import plan_from_config, run_preprocess, shard_ids, steps_to_run
from sketch2shape.render.camera import cameras_from_config
from sketch2shape.utils.hydra import compose
from tests.conftest import REPO_ROOT

TINY = [
    "data=procedural_chair_4",
    "data.splits={train: 2, val: 1, test: 0}",
    "data.camera.resolution=48",
    "data.views.azimuth_count=2",
    "data.views.elevations_deg=[20.0]",
    "data.preprocess_sdf.num_samples=3000",
    "data.preprocess_sdf.visibility_views=6",
    "data.preprocess_sdf.visibility_resolution=48",
    "data.preprocess_surface.num_samples=500",
    "workers=1",
]


def tiny_cfg(root, *extra):
    return compose("preprocess_data", [*TINY, f"paths.root_dir={root}", *extra])


def test_preprocess_writes_the_readme_tree(tmp_path):
    cfg = tiny_cfg(tmp_path)
    summary = preprocess_dataset(cfg)
    assert summary.shapes == 3 and not summary.failed
    layout = DatasetLayout.from_config(cfg.data)
    for obj_id in read_metainfo(layout.metainfo)["obj_id"]:
        files = layout.shape(obj_id)
        sdf = np.load(files.sdf_samples)
        assert sdf.shape == (3000, 4) and sdf.dtype == np.float32
        assert 0.02 < (sdf[:, 3] < 0).mean() < 0.8
        assert np.load(files.surface_samples).shape == (500, 3)
        vertices = np.loadtxt([line for line in files.normalized_mesh.read_text().splitlines() if line.startswith("v ")], usecols=(1, 2, 3))
        assert np.linalg.norm(vertices, axis=1).max() == pytest.approx(0.97, abs=1e-4)
        for view in range(2):
            normal = np.asarray(Image.open(files.normal_map(view)))
            sketch = np.asarray(Image.open(files.sketch(view)))
            assert normal.shape == (48, 48, 3) and sketch.shape == (48, 48)
            foreground = (normal < 255).any(-1)
            assert foreground.any() and (sketch == 0).any()
            near_object = cv2.dilate(foreground.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            assert not (sketch[~near_object] == 0).any()  # ink only on the object (strokes are 2 px wide)
        manifest = json.loads(files.manifest.read_text())
        assert set(manifest) == {"mesh", "sdf", "surface", "normals", "synthetic"}
        assert manifest["sdf"]["seed"] == cfg.seed
    assert json.loads(layout.cameras.read_text())[1]["azimuth_deg"] == 180.0
    assert pd.read_csv(layout.failures).empty


def test_resume_after_interruption_runs_only_what_is_missing(tmp_path, monkeypatch):
    cfg = tiny_cfg(tmp_path)
    layout = ensure_dataset(cfg.data)
    ids = read_metainfo(layout.metainfo)["obj_id"].tolist()
    plan = plan_from_config(cfg.data, cameras_from_config(cfg.data.camera, cfg.data.views), seed=cfg.seed)

    # First run "dies" in the sdf step of the second shape: as a crash would, it stops there.
    calls = []
    real_sdf = steps_module.RUNNERS["sdf"]

    def crashing_sdf(ctx):
        calls.append(ctx.files.obj_id)
        if ctx.files.obj_id == ids[1]:
            raise KeyboardInterrupt
        return real_sdf(ctx)

    monkeypatch.setitem(steps_module.RUNNERS, "sdf", crashing_sdf)
    with pytest.raises(KeyboardInterrupt):
        run_preprocess(plan, ids, workers=1)
    finished = layout.shape(ids[0]).sdf_samples.read_bytes()
    assert not layout.shape(ids[1]).sdf_samples.exists()
    assert not list(layout.shape(ids[1]).dir.glob(".*tmp*"))  # no half-written file left behind

    # Re-running resumes: shape 0 is untouched, shape 1 continues at sdf, shape 2 starts fresh.
    monkeypatch.setitem(steps_module.RUNNERS, "sdf", real_sdf)
    assert steps_to_run(plan, ids[0]) == []
    assert steps_to_run(plan, ids[1]) == ["sdf", "surface", "normals", "synthetic"]
    results = run_preprocess(plan, ids, workers=1)
    ran = {r.obj_id: r.ran for r in results}
    assert ran == {ids[0]: [], ids[1]: ["sdf", "surface", "normals", "synthetic"], ids[2]: list(steps_module.STEPS)}
    assert layout.shape(ids[0]).sdf_samples.read_bytes() == finished
    # Deleting an output or changing a setting makes that step (and what reads from it) stale.
    layout.shape(ids[0]).normal_map(1).unlink()
    assert steps_to_run(plan, ids[0]) == ["normals", "synthetic"]
    changed = plan_from_config(tiny_cfg(tmp_path, "data.preprocess_synthetic.stroke_width=3").data, cameras_from_config(cfg.data.camera, cfg.data.views), seed=cfg.seed)
    assert steps_to_run(changed, ids[2]) == ["synthetic"]


def test_a_failing_shape_is_recorded_and_the_rest_carries_on(tmp_path):
    cfg = tiny_cfg(tmp_path)
    layout = ensure_dataset(cfg.data)
    ids = read_metainfo(layout.metainfo)["obj_id"].tolist()
    layout.shape(ids[0]).mesh.write_text("not a mesh\n")
    summary = preprocess_dataset(cfg)
    assert [(o, s) for o, s, _ in summary.failed] == [(ids[0], "mesh")]
    failures = pd.read_csv(layout.failures)
    assert failures["obj_id"].tolist() == [ids[0]] and "mesh.obj" in failures["error"][0]
    assert layout.shape(ids[1]).sdf_samples.exists() and layout.shape(ids[2]).sdf_samples.exists()
    # Fixed input: the next run processes it and clears its failure record.
    from sketch2shape.data.procedural import generate_chair

    generate_chair(0, 0)[1].export(layout.shape(ids[0]).mesh)
    assert not preprocess_dataset(cfg).failed
    assert pd.read_csv(layout.failures).empty


def test_skip_flags(tmp_path):
    preprocess_dataset(tiny_cfg(tmp_path))
    cfg = tiny_cfg(tmp_path, "data.preprocess_synthetic.skip=False", "data.preprocess_sdf.skip=True")
    plan = plan_from_config(cfg.data, cameras_from_config(cfg.data.camera, cfg.data.views), seed=cfg.seed)
    layout = DatasetLayout.from_config(cfg.data)
    obj_id = read_metainfo(layout.metainfo)["obj_id"][0]
    assert steps_to_run(plan, obj_id) == ["synthetic"]
    layout.shape(obj_id).sdf_samples.unlink()
    assert steps_to_run(plan, obj_id) == ["synthetic"]  # skip=True never runs, even if missing
    with pytest.raises(ValueError, match="preprocess_sdf.skip='sometimes'; accepted: auto, True, False"):
        plan_from_config(tiny_cfg(tmp_path, "data.preprocess_sdf.skip=sometimes").data, [], seed=0)


def test_shards_partition_the_ids():
    ids = [f"s{i}" for i in range(10)]
    parts = [shard_ids(ids, f"{i}/3") for i in range(3)]
    assert sorted(sum(parts, [])) == sorted(ids) and all(parts)
    assert shard_ids(ids[::-1], None) == ids[::-1]
    with pytest.raises(ValueError, match="shard='3/3'"):
        shard_ids(ids, "3/3")
    with pytest.raises(ValueError, match="must look like I/N"):
        shard_ids(ids, "half")


@pytest.mark.slow
def test_preprocess_script_with_workers_and_readme_overrides(tmp_path):
    args = [a for a in TINY if not a.startswith("workers")]
    cmd = [sys.executable, "scripts/preprocess_data.py", *args, "workers=2", f"paths.root_dir={tmp_path}"]
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    log = out.stdout + out.stderr
    assert "3 shapes processed" in log and "0 failed" in log
    # The README's follow-up: recompute only the sketches.
    out = subprocess.run([*cmd, "data.preprocess_synthetic.skip=False"], cwd=REPO_ROOT, capture_output=True, text=True)
    log = out.stdout + out.stderr
    assert out.returncode == 0 and "synthetic: 3 shapes" in log and "sdf:" not in log
