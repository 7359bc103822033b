"""(sketch, code) pairs for the sketch encoder at scale: camera sampling, decoded codes, shards."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from sketch2shape.data.sketch_pairs import PairSettings, SketchPairs, ViewSampling, decoded_codes, mesh_sketch, pair_counts
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.sketch import SketchSettings


def test_views_cover_the_requested_ranges_and_mostly_the_front() -> None:
    cameras = ViewSampling(front_fraction=0.7, elevation_deg=(0.0, 40.0)).sample(np.random.default_rng(0), 2000)
    azimuth = np.array([c.azimuth_deg for c in cameras])
    elevation = np.array([c.elevation_deg for c in cameras])
    assert elevation.min() >= 0.0 and elevation.max() <= 40.0 and np.ptp(elevation) > 35.0
    front = np.abs(azimuth) <= 90.0
    assert 0.75 < front.mean() < 0.92  # 70% forced to the front + half of the rest
    assert azimuth.min() < -150 and azimuth.max() > 150  # the back is drawn too
    again = ViewSampling().sample(np.random.default_rng(0), 5)
    assert [c.azimuth_deg for c in again] == [c.azimuth_deg for c in ViewSampling().sample(np.random.default_rng(0), 5)]


def test_decoded_codes_lie_between_or_near_the_training_codes_and_are_seeded() -> None:
    codes = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    settings = PairSettings(interpolate_fraction=1.0)
    new = decoded_codes(codes, 50, settings, seed=3)
    assert new.shape == (50, 4) and new.dtype == np.float32
    assert np.array_equal(new, decoded_codes(codes, 50, settings, seed=3))
    assert not np.array_equal(new, decoded_codes(codes, 50, settings, seed=4))
    assert (new.min(0) >= codes.min(0) - 1e-6).all() and (new.max(0) <= codes.max(0) + 1e-6).all()  # convex combinations
    perturbed = decoded_codes(codes, 200, PairSettings(interpolate_fraction=0.0, perturb_scale=0.5), seed=3)
    spread = np.linalg.norm(perturbed - perturbed.mean(0), axis=1).mean()
    assert spread > np.linalg.norm(codes - codes.mean(0), axis=1).mean() * 0.8


def test_settings_refuse_unknown_keys() -> None:
    assert PairSettings.from_config({"views_per_shape": 3, "views": {"elevation_deg": [5, 30]}}).views.elevation_deg == (5.0, 30.0)
    with pytest.raises(ValueError, match="views_per_shap.*accepted"):
        PairSettings.from_config({"views_per_shap": 3})
    with pytest.raises(ValueError, match="pairs.views key"):
        PairSettings.from_config({"views": {"elevation": [0, 1]}})


def test_a_mesh_sketch_has_the_dataset_look() -> None:
    import trimesh

    from sketch2shape.render.camera import Camera

    box = trimesh.creation.box(extents=[0.8, 0.5, 0.6])
    sketch = mesh_sketch(MeshRaycaster(box), Camera(azimuth_deg=30, elevation_deg=20, resolution=96), SketchSettings(stroke_width=1))
    assert sketch.shape == (96, 96) and sketch.dtype == np.uint8
    ink = sketch < 128
    assert 0.01 < ink.mean() < 0.2 and sketch[0, 0] == 255  # strokes on white, not a filled region


def test_shards_load_with_a_disjoint_holdout(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(10):
        n = 3
        np.savez(shards / f"train_{i:05d}.npz", sketches=np.full((n, 8, 8), 255, np.uint8), codes=np.full((n, 2), i, np.float32),
                 code_index=np.full(n, i, np.int64), azimuth_deg=np.zeros(n, np.float32), elevation_deg=np.zeros(n, np.float32))
    train, val = SketchPairs(tmp_path, "train", 0.2), SketchPairs(tmp_path, "val", 0.2)
    assert len(train) + len(val) == 30 and len(val) == 6
    assert not set(train.code_index.tolist()) & set(val.code_index.tolist())
    item = train[0]
    assert item["sketch"].shape == (1, 8, 8) and float(item["sketch"].max()) == 1.0 and item["code"].shape == (2,)
    assert pair_counts(tmp_path) == {"train": 30, "decoded": 0}
    with pytest.raises(FileNotFoundError, match="make_sketch_pairs"):
        SketchPairs(tmp_path / "nothing")
    assert torch.is_tensor(train.codes)
