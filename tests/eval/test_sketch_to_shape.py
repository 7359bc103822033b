import pandas as pd
import pytest
from omegaconf import OmegaConf

from sketch2shape.eval.sketch_to_shape import markdown_table, method_settings, read_previous_results, summarize


def test_summary_per_split_and_over_all():
    results = pd.DataFrame({
        "method": ["mean", "sketch", "mean", "sketch", "mean", "sketch"],
        "split": ["val", "val", "val", "val", "test", "test"],
        "obj_id": ["a", "a", "b", "b", "c", "c"],
        "chamfer": [0.010, 0.002, 0.030, 0.004, 0.005, 0.001],
        "fscore": [0.1, 0.5, 0.2, 0.6, 0.3, 0.7],
        "seconds": [1.0, 10.0, 1.0, 12.0, 1.0, 11.0],
    })
    summary = summarize(results, ["mean", "sketch"])
    val_mean = summary[(summary.split == "val") & (summary.method == "mean")].iloc[0]
    assert val_mean.chamfer_mean == pytest.approx(20.0) and val_mean.chamfer_median == pytest.approx(20.0) and val_mean.shapes == 2
    overall = summary[(summary.split == "all") & (summary.method == "sketch")].iloc[0]
    assert overall.chamfer_mean == pytest.approx(7 / 3) and overall.chamfer_median == pytest.approx(2.0)
    table = markdown_table(summary, "toy")
    assert "## val (2 shapes)" in table and "| sketch | 3.000 | 3.000 | 0.550 | 11.0 |" in table


def test_method_settings_merge_and_errors(tmp_path):
    cfg = OmegaConf.create({
        "methods": {"a": {"kind": "sketch", "sketch_views": [1, 2]}, "b": {"kind": "magic"}},
        "sketch": {"sketch_views": [13], "silhouette_weight": 0.0},
    })
    assert method_settings(cfg, "a") == {"kind": "sketch", "sketch_views": [1, 2], "silhouette_weight": 0.0}
    with pytest.raises(ValueError, match="methods.b.kind='magic'; accepted: start, sketch, normals, deepsdf"):
        method_settings(cfg, "b")
    with pytest.raises(FileNotFoundError, match="resume_from="):
        read_previous_results(tmp_path)
    assert read_previous_results(None).empty
