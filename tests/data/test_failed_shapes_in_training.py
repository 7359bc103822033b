"""A shape preprocessing failed on (failures.csv) or never finished never breaks a training."""

import logging

import numpy as np
import pandas as pd
import pytest

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import read_failures, write_metainfo
from sketch2shape.data.sdf_dataset import SDFDataModule


def make_dataset(root, train=4, val=1):
    layout = DatasetLayout(root / "tiny")
    ids = [f"shape_{i}" for i in range(train + val)]
    write_metainfo(layout.metainfo, pd.DataFrame({"obj_id": ids, "label": range(len(ids)), "split": ["train"] * train + ["val"] * val}))
    rng = np.random.default_rng(0)
    for obj_id in ids:
        samples = np.concatenate([rng.uniform(-1, 1, (64, 3)), rng.normal(0, 0.1, (64, 1))], axis=1).astype(np.float32)
        layout.shape(obj_id).dir.mkdir(parents=True, exist_ok=True)
        np.save(layout.shape(obj_id).sdf_samples, samples)
    return layout, ids


def test_deepsdf_skips_a_failed_shape_naming_it(tmp_path, caplog):
    layout, ids = make_dataset(tmp_path)
    layout.shape(ids[1]).sdf_samples.unlink()  # failed at the mesh step: no samples
    # ids[2] failed in a later run of a sharded preprocessing but still has old samples: skipped too
    pd.DataFrame({"obj_id": [ids[1]], "step": ["mesh"], "error": ["MeshError: no faces"]}).to_csv(layout.failures, index=False)
    pd.DataFrame({"obj_id": [ids[2]], "step": ["sdf"], "error": ["ValueError: boom"]}).to_csv(layout.root / "failures.shard0of2.csv", index=False)
    assert read_failures(layout.root) == {ids[1]: "mesh: MeshError: no faces", ids[2]: "sdf: ValueError: boom"}
    with caplog.at_level(logging.WARNING):
        dm = SDFDataModule(layout.root, shapes_per_batch=8, points_per_shape=16, repeats=2)
    assert dm.train_ids == [ids[0], ids[3]] and dm.num_shapes == 2
    assert f"{ids[1]} (mesh: MeshError: no faces)" in caplog.text and f"{ids[2]} (sdf: ValueError: boom)" in caplog.text
    dm.setup("fit")
    labels, points = next(iter(dm.train_dataloader()))
    assert set(labels.tolist()) <= {0, 1} and points.shape[1:] == (16, 4)


def test_deepsdf_refuses_unprocessed_shapes_unless_told_to_skip(tmp_path, caplog):
    layout, ids = make_dataset(tmp_path)
    layout.shape(ids[3]).sdf_samples.unlink()  # no failure recorded: preprocessing did not get there
    with pytest.raises(FileNotFoundError) as info:
        SDFDataModule(layout.root)
    message = str(info.value)
    assert f"1 shape(s) of {layout.root} have no sdf_samples.npy and no recorded failure: {ids[3]}" in message
    assert "python scripts/preprocess_data.py data=tiny" in message and "skip_missing=true" in message
    with caplog.at_level(logging.WARNING):
        dm = SDFDataModule(layout.root, skip_missing=True)
    assert dm.train_ids == ids[:3] and ids[3] in caplog.text


def test_no_usable_shape_is_a_clear_error(tmp_path):
    layout, ids = make_dataset(tmp_path, train=2)
    pd.DataFrame({"obj_id": ids[:2], "step": ["mesh", "mesh"], "error": ["x", "y"]}).to_csv(layout.failures, index=False)
    with pytest.raises(ValueError, match="none of the 2 shapes .* is usable .*2 failed in preprocessing"):
        SDFDataModule(layout.root)


def test_a_later_run_clears_a_shape_from_every_failure_file(tmp_path):
    from sketch2shape.data.preprocess.runner import ShapeResult, record_failures

    layout, ids = make_dataset(tmp_path)
    pd.DataFrame({"obj_id": [ids[0], ids[1]], "step": ["mesh", "sdf"], "error": ["a", "b"]}).to_csv(layout.root / "failures.shard0of2.csv", index=False)
    # a whole-dataset run fixed ids[0] and ids[1] failed again at another step
    record_failures(layout.root, layout.failures, [ShapeResult(ids[0]), ShapeResult(ids[1], failed_step="normals", error="c")])
    assert read_failures(layout.root) == {ids[1]: "normals: c"}
