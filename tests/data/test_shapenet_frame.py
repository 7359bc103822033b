"""Every ShapeNet import ends in the project frame (ShapeNetCore v2's, y up, seat facing +z), and
says how it got there (``import.json``)."""

import json
import os
import time

import numpy as np
import pandas as pd
import pytest
import trimesh
from scipy.spatial import cKDTree

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import MetainfoError, split_counts
from sketch2shape.data.preprocess.mesh import load_mesh, normalize_mesh
from sketch2shape.data.preprocess.runner import steps_to_run
from sketch2shape.data.shapenet import V1_TO_PROJECT, SourceError, copy_shapenet, rotate_obj_text, shapenet_version
from tests.conftest import SHARED_DATA, require_shared_data, write_obj

V1_CHAIRS = SHARED_DATA / "shapenet_v1_chairs" / "03001627"
V2_CHAIRS = SHARED_DATA / "shapenet_sample" / "03001627"
DIFFERENT_GEOMETRY = "4e1dae6ca4f220048ee0cd746086d989"  # in both sets, but not the same model


def chair_mesh() -> trimesh.Trimesh:
    """A lopsided 'chair': a seat, and a back at -z that is taller than it is wide."""
    seat = trimesh.creation.box(extents=(0.5, 0.08, 0.5))
    back = trimesh.creation.box(extents=(0.5, 0.6, 0.06))
    back.apply_translation((0.0, 0.3, -0.22))
    leg = trimesh.creation.box(extents=(0.05, 0.4, 0.05))
    leg.apply_translation((0.2, -0.2, 0.2))
    return trimesh.util.concatenate([seat, back, leg])


def chamfer_x1000(a: trimesh.Trimesh, b: trimesh.Trimesh, n: int = 5000) -> float:
    pa = trimesh.sample.sample_surface(normalize_mesh(a)[0], n, seed=0)[0]
    pb = trimesh.sample.sample_surface(normalize_mesh(b)[0], n, seed=0)[0]
    return 1000 * float((cKDTree(pa).query(pb)[0] ** 2).mean() + (cKDTree(pb).query(pa)[0] ** 2).mean())


def test_rotate_obj_text_turns_positions_and_normals_only():
    text = "# comment v 1 2 3\nv 1 2 3\nv 1.5 0 -2 1.0\nvt 0.5 0.25\nvn 0 0 1\ng seat\nf 1/1/1 2/1/1 1/1/1\n"
    out = rotate_obj_text(text, V1_TO_PROJECT).split("\n")
    assert out[0] == "# comment v 1 2 3" and out[3] == "vt 0.5 0.25" and out[5:] == ["g seat", "f 1/1/1 2/1/1 1/1/1", ""]
    np.testing.assert_allclose([float(v) for v in out[1].split()[1:]], [-3, 2, 1])  # (x, y, z) -> (-z, y, x)
    assert out[2].split()[1:] == ["2", "0", "1.5", "1.0"]  # w kept
    np.testing.assert_allclose([float(v) for v in out[4].split()[1:]], [-1, 0, 0])
    assert rotate_obj_text(text, np.eye(3)) == text


def test_v1_to_project_is_a_quarter_turn_about_up():
    assert np.allclose(V1_TO_PROJECT @ V1_TO_PROJECT.T, np.eye(3)) and np.isclose(np.linalg.det(V1_TO_PROJECT), 1.0)
    np.testing.assert_allclose(np.array([0.0, 1.0, 0.0]) @ V1_TO_PROJECT.T, [0, 1, 0])  # y stays up


def test_v1_and_v2_copies_of_one_model_import_to_the_same_frame(tmp_path):
    """A synthetic v1 source holds the chair turned back into v1's frame; both import alike."""
    chair = chair_mesh()
    v1 = chair.copy()
    v1.vertices = np.asarray(chair.vertices) @ V1_TO_PROJECT  # the inverse turn: project -> v1
    write_obj(tmp_path / "src" / "a_v2" / "models" / "model_normalized.obj", chair)
    write_obj(tmp_path / "src" / "b_v1" / "model.obj", v1)
    layout = DatasetLayout(tmp_path / "data" / "mixed")
    copy_shapenet(tmp_path / "src", layout, {"train": 2}, seed=0)
    a, b = load_mesh(layout.shape("a_v2").mesh), load_mesh(layout.shape("b_v1").mesh)
    np.testing.assert_allclose(np.sort(a.vertices, axis=0), np.sort(b.vertices, axis=0), atol=1e-6)
    records = {i: json.loads(layout.shape(i).import_record.read_text()) for i in ("a_v2", "b_v1")}
    assert records["a_v2"]["shapenet_version"] == "v2" and records["b_v1"]["shapenet_version"] == "v1"
    assert records["b_v1"]["rotation"] == V1_TO_PROJECT.tolist() and records["a_v2"]["rotation"] == np.eye(3).tolist()
    assert records["a_v2"]["frame"] == records["b_v1"]["frame"]


def test_shapenet_version_refuses_other_layouts(tmp_path):
    assert shapenet_version(tmp_path / "x" / "model.obj") == "v1"
    assert shapenet_version(tmp_path / "x" / "models" / "model_normalized.obj") == "v2"
    with pytest.raises(ValueError, match="chair.obj.*model_normalized.obj.*model.obj"):
        shapenet_version(tmp_path / "chair.obj")


def test_an_old_copy_without_a_frame_record_is_imported_again_and_preprocessed_again(tmp_path):
    """A v1 dataset imported before the frame existed holds sideways meshes: importing it again
    turns them, and preprocessing then runs every step again for them (and only for them)."""
    from sketch2shape.data.preprocess.pipeline import preprocess_dataset
    from tests.data.test_preprocess_pipeline import tiny_cfg

    write_obj(tmp_path / "src" / "c_v1" / "model.obj", chair_mesh())
    write_obj(tmp_path / "src" / "d_v2" / "models" / "model_normalized.obj", chair_mesh())
    cfg = tiny_cfg(tmp_path, "data=shapenet_chair_4", "data.splits={train: 2, val: 0, test: 0}")
    layout = DatasetLayout.from_config(cfg.data)
    copy_shapenet(tmp_path / "src", layout, {"train": 2}, seed=0)
    old = layout.shape("c_v1")
    write_obj(old.mesh, chair_mesh())  # as the import before the frame left it: v1's frame, no record
    old.import_record.unlink()
    assert not preprocess_dataset(cfg).failed
    plan = _plan(cfg)
    assert steps_to_run(plan, "c_v1") == [] and steps_to_run(plan, "d_v2") == []
    time.sleep(0.02)  # a later modification time than the preprocessed files
    before = os.stat(layout.shape("d_v2").mesh).st_mtime_ns
    copy_shapenet(tmp_path / "src", layout, {"train": 2}, seed=0)
    assert old.import_record.is_file()
    np.testing.assert_allclose(np.sort(load_mesh(old.mesh).vertices, axis=0),
                               np.sort(np.asarray(chair_mesh().vertices) @ V1_TO_PROJECT.T, axis=0), atol=1e-6)
    assert steps_to_run(plan, "c_v1") == ["mesh", "sdf", "surface", "normals", "synthetic"]
    assert steps_to_run(plan, "d_v2") == []  # imported alike before: not copied again
    assert os.stat(layout.shape("d_v2").mesh).st_mtime_ns == before


def _plan(cfg):
    from sketch2shape.data.preprocess.runner import plan_from_config
    from sketch2shape.render.camera import cameras_from_config

    return plan_from_config(cfg.data, cameras_from_config(cfg.data.camera, cfg.data.views), int(cfg.seed))


def test_a_rest_split_takes_every_readable_shape(tmp_path):
    for i in range(9):
        write_obj(tmp_path / "src" / f"s{i}" / "models" / "model_normalized.obj", trimesh.creation.box())
    (tmp_path / "src" / "broken" / "models").mkdir(parents=True)
    (tmp_path / "src" / "broken" / "models" / "model_normalized.obj").write_text("not an obj\nf 1 2 3\n")
    small = copy_shapenet(tmp_path / "src", DatasetLayout(tmp_path / "d1"), {"train": "rest", "val": 2, "test": 3}, seed=3)
    assert small.metainfo["split"].value_counts().to_dict() == {"train": 4, "val": 2, "test": 3}
    assert small.failures["obj_id"].tolist() == ["broken"]
    assert small.metainfo["label"].tolist() == list(range(9)) and small.metainfo["split"].iloc[0] == "train"
    val_test = set(small.metainfo.query("split != 'train'")["obj_id"])
    again = copy_shapenet(tmp_path / "src", DatasetLayout(tmp_path / "d2"), {"train": "rest", "val": 2, "test": 3}, seed=3)
    assert set(again.metainfo.query("split != 'train'")["obj_id"]) == val_test  # deterministic
    with pytest.raises(SourceError, match="need 20"):
        copy_shapenet(tmp_path / "src", DatasetLayout(tmp_path / "d3"), {"train": "rest", "val": 10, "test": 10}, seed=3)


def test_split_sizes_are_integers_or_rest():
    assert split_counts({"train": "rest", "val": 1}) == {"train": -1, "val": 1, "test": 0}
    with pytest.raises(MetainfoError, match="train='most'.*integer or 'rest'"):
        split_counts({"train": "most"})
    with pytest.raises(MetainfoError, match="at most one split"):
        split_counts({"train": "rest", "test": "rest"})


@pytest.mark.shared_data
def test_real_v1_and_v2_chairs_import_to_the_same_frame(tmp_path):
    """The 10 chairs that are the same model in ShapeNet v1 (``shapenet_v1_chairs``) and v2
    (``shapenet_sample``) match after import (chamfer x1000 0.24 to 0.85 when measured), and
    would not in v1's own frame (24 or more)."""
    require_shared_data(V1_CHAIRS)
    require_shared_data(V2_CHAIRS)
    both = sorted(set(os.listdir(V1_CHAIRS)) & set(os.listdir(V2_CHAIRS)) - {DIFFERENT_GEOMETRY})
    assert len(both) == 10
    for version, source in (("v1", V1_CHAIRS), ("v2", V2_CHAIRS)):
        src = tmp_path / f"src_{version}"
        for obj_id in both:  # link just these chairs into a small source folder
            (src / obj_id).mkdir(parents=True)
            for entry in (source / obj_id).iterdir():
                (src / obj_id / entry.name).symlink_to(entry)
        copy_shapenet(src, DatasetLayout(tmp_path / version), {"train": len(both)}, seed=0)
    for obj_id in both:
        v1 = load_mesh(DatasetLayout(tmp_path / "v1").shape(obj_id).mesh)
        v2 = load_mesh(DatasetLayout(tmp_path / "v2").shape(obj_id).mesh)
        assert chamfer_x1000(v1, v2) < 2.0, obj_id
        raw = load_mesh(V1_CHAIRS / obj_id / "model.obj")
        assert chamfer_x1000(raw, v2) > 10.0, obj_id
    meta = pd.read_csv(tmp_path / "v1" / "metainfo.csv")
    assert len(meta) == 10


def test_a_mixed_dataset_links_its_parts_and_keeps_their_splits(tmp_path):
    """``data=chair_mix``: procedural and ShapeNet chairs in one dataset of symlinks, preprocessed
    through the links into the parts (nothing copied, nothing computed twice)."""
    from sketch2shape.data.create import ensure_dataset
    from sketch2shape.data.metainfo import read_metainfo
    from sketch2shape.data.preprocess.pipeline import preprocess_dataset
    from sketch2shape.utils.hydra import compose
    from tests.data.test_preprocess_pipeline import TINY

    def tiny_cfg(root, data, *extra):  # the tiny settings for any dataset
        return compose("preprocess_data", [data, *(o for o in TINY if not o.startswith(("data=", "data.splits"))), f"paths.root_dir={root}",
                                           "data.preprocess_synthetic.stroke_width=1", *extra])

    procedural = tiny_cfg(tmp_path, "data=procedural_chair_4", "data.name=procedural_chair_1024", "data.splits={train: 2, val: 1}")
    assert not preprocess_dataset(procedural).failed
    write_obj(tmp_path / "src" / "real_v1" / "model.obj", chair_mesh())
    write_obj(tmp_path / "src" / "real_v2" / "models" / "model_normalized.obj", chair_mesh())
    real = tiny_cfg(tmp_path, "data=shapenet_chair_all", "data.splits={train: rest, val: 1, test: 0}")
    copy_shapenet(tmp_path / "src", DatasetLayout.from_config(real.data), {"train": "rest", "val": 1}, seed=0)
    assert not preprocess_dataset(real).failed
    mix = tiny_cfg(tmp_path, "data=chair_mix")
    with pytest.raises(ValueError, match="data.parts"):
        ensure_dataset(tiny_cfg(tmp_path, "data=chair_mix", "data.parts=[]").data)
    summary = preprocess_dataset(mix)
    assert summary.shapes == 6 and not summary.failed
    assert summary.steps_run == {}  # every shape was done in its part, with the same settings
    layout = DatasetLayout.from_config(mix.data)
    meta = read_metainfo(layout.metainfo)
    assert meta["split"].value_counts().to_dict() == {"train": 3, "val": 2, "test": 1}
    assert meta["label"].tolist() == list(range(6)) and (meta["split"].iloc[:3] == "train").all()
    real_layout = DatasetLayout.from_config(real.data)
    for obj_id in ("real_v1", "real_v2"):
        assert layout.shape(obj_id).dir.is_symlink()
        assert real_layout.shape(obj_id).sdf_samples.is_file()  # written through the link into the part


def test_a_v2_copy_from_before_the_frame_record_keeps_its_file(tmp_path):
    """A v2 dataset imported before import.json existed: the record is added, the mesh (and so
    its preprocessing) is left as it was."""
    write_obj(tmp_path / "src" / "e_v2" / "models" / "model_normalized.obj", chair_mesh())
    layout = DatasetLayout(tmp_path / "data" / "v2")
    copy_shapenet(tmp_path / "src", layout, {"train": 1}, seed=0)
    files = layout.shape("e_v2")
    files.import_record.unlink()
    before = os.stat(files.mesh).st_mtime_ns
    time.sleep(0.02)
    copy_shapenet(tmp_path / "src", layout, {"train": 1}, seed=0)
    assert files.import_record.is_file() and os.stat(files.mesh).st_mtime_ns == before


def test_a_generated_dataset_refuses_a_rest_split(tmp_path):
    from sketch2shape.data.create import generate_procedural_dataset

    with pytest.raises(ValueError, match="no pool to take the 'rest'"):
        generate_procedural_dataset(DatasetLayout(tmp_path / "p"), {"train": "rest", "val": 1}, 0, 0, 2)
    assert not (tmp_path / "p").exists()


def test_a_mix_follows_its_parts(tmp_path):
    from sketch2shape.data.create import mix_datasets
    from sketch2shape.data.metainfo import assign_splits, read_metainfo, write_metainfo

    parts = []
    for name, ids in (("a", ["a1", "a2"]), ("b", ["b1"]), ("c", ["c1", "c2"])):
        part = DatasetLayout(tmp_path / name)
        for obj_id in ids:
            part.shape(obj_id).dir.mkdir(parents=True)
        write_metainfo(part.metainfo, assign_splits(ids, {"train": len(ids) - 1, "val": 1}))
        parts.append(part)
    mix = DatasetLayout(tmp_path / "mix")
    mix_datasets(mix, parts[:2])
    assert sorted(read_metainfo(mix.metainfo)["obj_id"]) == ["a1", "a2", "b1"]
    assert not os.path.isabs(os.readlink(mix.shape("a1").dir)) and mix.shape("a1").dir.resolve() == parts[0].shape("a1").dir.resolve()
    mix_datasets(mix, [parts[0], parts[2]])  # another parts list: b's shape goes, c's come
    assert sorted(read_metainfo(mix.metainfo)["obj_id"]) == ["a1", "a2", "c1", "c2"]
    assert not mix.shape("b1").dir.is_symlink() and mix.shape("c2").dir.is_dir()
