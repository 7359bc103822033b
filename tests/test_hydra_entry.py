from sketch2shape.utils.hydra import compose, config_dir, normalize_overrides


def test_plus_and_plain_group_overrides_both_work():
    conf = config_dir()
    assert normalize_overrides(["+data=shapenet_chair_16"], conf, "preprocess_data") == ["data=shapenet_chair_16"]
    assert normalize_overrides(["+source=/x"], conf, "copy_shapenet") == ["++source=/x"]
    assert normalize_overrides(["++a=1", "b=2"], conf, "copy_shapenet") == ["++a=1", "b=2"]
    assert compose("preprocess_data", ["+data=shapenet_chair_16"]).data.name == "shapenet_chair_16"
    assert compose("preprocess_data", ["data=procedural_chair_4"]).data.splits.train == 4


def test_dataset_configs_have_the_issue_sizes():
    sizes = {
        "shapenet_chair_4": (4, 1, 1),
        "shapenet_chair_16": (16, 4, 4),
        "shapenet_chair_4096": (4096, 128, 256),
        "procedural_chair_4": (4, 1, 1),
        "procedural_chair_16": (16, 4, 4),
    }
    for name, expected in sizes.items():
        data = compose("preprocess_data", [f"data={name}"]).data
        assert (data.splits.train, data.splits.val, data.splits.test) == expected
        assert data.data_dir.endswith(f"data/{name}")
