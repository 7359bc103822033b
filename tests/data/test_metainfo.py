import pandas as pd
import pytest

from sketch2shape.data.metainfo import (
    MetainfoError,
    make_splits,
    obj_ids_of,
    read_metainfo,
    write_metainfo,
)

IDS = [f"{i:032x}" for i in range(30)]


def test_make_splits_sizes_labels_and_order():
    meta = make_splits(IDS, {"train": 16, "val": 4, "test": 4}, seed=1)
    assert meta["split"].value_counts().to_dict() == {"train": 16, "val": 4, "test": 4}
    assert meta["label"].tolist() == list(range(24))
    assert meta["split"].tolist() == ["train"] * 16 + ["val"] * 4 + ["test"] * 4
    assert meta["obj_id"].is_unique


def test_make_splits_is_deterministic_and_independent_of_input_order():
    a = make_splits(IDS, {"train": 4, "val": 1, "test": 1}, seed=3)
    b = make_splits(list(reversed(IDS)), {"train": 4, "val": 1, "test": 1}, seed=3)
    c = make_splits(IDS, {"train": 4, "val": 1, "test": 1}, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert a["obj_id"].tolist() != c["obj_id"].tolist()


def test_make_splits_errors():
    with pytest.raises(MetainfoError, match="need 24 shapes.*only 5"):
        make_splits(IDS[:5], {"train": 16, "val": 4, "test": 4}, seed=0)
    with pytest.raises(MetainfoError, match="unknown split.*'trian'.*accepted: train, val, test"):
        make_splits(IDS, {"trian": 4}, seed=0)


def test_metainfo_roundtrip_and_validation(tmp_path):
    meta = make_splits(IDS, {"train": 3, "val": 2, "test": 1}, seed=0)
    path = tmp_path / "metainfo.csv"
    write_metainfo(path, meta)
    assert path.read_text().splitlines()[0] == "obj_id,label,split"
    back = read_metainfo(path)
    pd.testing.assert_frame_equal(back, meta)
    assert obj_ids_of(back, "val") == meta[meta.split == "val"]["obj_id"].tolist()
    with pytest.raises(MetainfoError, match="split='holdout'.*accepted"):
        obj_ids_of(back, "holdout")

    path.write_text("obj_id,label,split\na,0,train\nb,2,validation\n")
    with pytest.raises(MetainfoError, match=r"metainfo.csv: unknown split value\(s\) \['validation'\]"):
        read_metainfo(path)
    path.write_text("obj_id,split\na,train\n")
    with pytest.raises(MetainfoError, match=r"missing column\(s\) \['label'\]"):
        read_metainfo(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_metainfo(tmp_path / "nothing.csv")


def test_atomic_writes_leave_no_temp_files_and_normal_permissions(tmp_path):
    import os

    from sketch2shape.utils.io import atomic_path, write_text

    write_text(tmp_path / "a.txt", "hello")
    assert (tmp_path / "a.txt").read_text() == "hello"
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o666 & ~mask
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "b.txt") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("interrupted")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]
