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


def test_release_on_the_mixed_chairs_makes_each_part_first(tmp_path: Path) -> None:
    """``train-release --data chair_mix``: the real chairs are imported and each part preprocessed
    before the mix; DeepSDF trains the triplane shape space on both."""
    stages = release_stages(tmp_path / "run", "chair_mix", tmp_path / "ShapeNet" / "03001627")
    assert [s.name for s in stages] == ["preprocess_procedural_chair_1024", "copy_shapenet_chair_all", "preprocess_shapenet_chair_all",
                                        "preprocess_data", "train_deepsdf", "make_sketch_pairs", "train_sketch_encoder"]
    assert [s.task or s.name for s in stages][:4] == ["preprocess_data", "copy_shapenet", "preprocess_data", "preprocess_data"]
    assert stages[2].needs == ("copy_shapenet_chair_all",) and set(stages[3].needs) == {s.name for s in stages[:3]}
    cfgs = {s.name: compose(s.task or s.name, normalize_overrides([*s.args, f"paths.root_dir={tmp_path}"], config_dir(), s.task or s.name)) for s in stages}
    assert cfgs["copy_shapenet_chair_all"].source == str((tmp_path / "ShapeNet" / "03001627").resolve())
    assert cfgs["preprocess_data"].data.source == "mixed" and list(cfgs["preprocess_data"].data.parts) == ["procedural_chair_1024", "shapenet_chair_all"]
    assert cfgs["train_deepsdf"].data.name == "chair_mix" and cfgs["train_deepsdf"].model.decoder.kind == "triplane"
    assert cfgs["train_sketch_encoder"].data.name == "chair_mix"
    # the mix's encoder: many views per chair, a smaller input, many epochs (release_mix.yaml of each)
    assert cfgs["make_sketch_pairs"].pairs.views_per_shape == 12 and cfgs["make_sketch_pairs"].pairs.decoded_shapes == 1024
    encoder = cfgs["train_sketch_encoder"]
    assert encoder.model.net.image_size == 64 and encoder.trainer.max_epochs == 14 and encoder.model.net.framing == "ink_box"
    # every part's preprocessing settings are the mix's: the mix reuses the parts' outputs
    for part in ("procedural_chair_1024", "shapenet_chair_all"):
        for step in ("preprocess_sdf", "preprocess_surface", "preprocess_normals", "preprocess_synthetic", "camera", "views"):
            assert cfgs[f"preprocess_{part}"].data[step] == cfgs["preprocess_data"].data[step], (part, step)


def test_an_unknown_release_data_config_is_named():
    import pytest

    with pytest.raises(SystemExit, match="'chair_mixx' does not exist; accepted: .*chair_mix"):
        release_stages(Path("run"), "chair_mixx")


def test_the_recorded_release_command_names_no_folder_of_the_machine(tmp_path: Path):
    """The model card's command: $SKETCH2SHAPE_ROOT and ~ instead of the folders they name."""
    from sketch2shape.utils.run_records import portable_command

    root, home = tmp_path / "s2s", tmp_path / "home"
    environ = {"SKETCH2SHAPE_ROOT": f"{root}/", "HOME": str(home)}
    argv = ["sketch2shape", "train-release", "--data", "chair_mix", "--data-dir", str(root / "data"), f"--log-dir={root / 'logs'}",
            "--out", str(home / "release"), "--set", "train_deepsdf:trainer.max_epochs=2"]
    assert portable_command(argv, environ) == ("sketch2shape train-release --data chair_mix --data-dir $SKETCH2SHAPE_ROOT/data "
                                               "--log-dir=$SKETCH2SHAPE_ROOT/logs --out ~/release --set train_deepsdf:trainer.max_epochs=2")
    assert portable_command(argv[:4], {}) == "sketch2shape train-release --data chair_mix"
