"""`sketch2shape train-release`: its stages compose into valid task configs with the release settings."""

from __future__ import annotations

from pathlib import Path

from sketch2shape.cli import release_stages
from sketch2shape.utils.hydra import compose, config_dir, normalize_overrides


def test_release_stages_compose_with_the_release_settings(tmp_path: Path) -> None:
    stages = release_stages(tmp_path / "run", "procedural_chair_1024")
    assert [s.name for s in stages] == ["preprocess_data", "train_deepsdf", "make_sketch_pairs", "train_sketch_encoder"]
    cfgs = {}
    for stage in stages:
        name = stage.name  # the task, and its primary config
        cfgs[stage.name] = compose(name, normalize_overrides([*stage.args, f"paths.root_dir={tmp_path}"], config_dir(), name))
    assert all(c.data.name == "procedural_chair_1024" for c in cfgs.values())
    assert cfgs["preprocess_data"].data.splits.train == 1024 and cfgs["preprocess_data"].data.procedural_version == 2
    assert cfgs["train_deepsdf"].trainer.max_time == "00:00:45:00" and cfgs["train_deepsdf"].model.decoder.latent_dim == 64
    deepsdf = str(tmp_path / "run" / "train_deepsdf" / "checkpoints" / "last.ckpt")
    assert cfgs["make_sketch_pairs"].deepsdf_ckpt_path == deepsdf
    encoder = cfgs["train_sketch_encoder"]
    assert encoder.deepsdf_ckpt_path == deepsdf and encoder.pairs_dir == cfgs["make_sketch_pairs"].out_dir
    assert encoder.model.net.framing == "ink_box" and encoder.model.net.output == "direct"
