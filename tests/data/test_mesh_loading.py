"""Reading raw OBJ files: relative indices, non-UTF-8 text, degenerate and gutted meshes (issue 14)."""

import numpy as np
import pandas as pd
import pytest
import trimesh

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import seeded_order
from sketch2shape.data.preprocess.mesh import Cleaning, MeshError, absolute_obj_indices, load_mesh, load_source_mesh, read_mesh
from sketch2shape.data.preprocess.steps import StepContext, run_mesh
from sketch2shape.data.shapenet import check_mesh_readable, copy_shapenet, find_source_meshes
from tests.conftest import write_obj

BOX = trimesh.creation.box()  # 8 vertices, 12 triangles, centered at the origin
OFFSETS = (np.zeros(3), np.array([3.0, 0.0, 0.0]))


def two_boxes_obj(relative: bool, form: str = "v") -> str:
    """Two unit boxes, the second at x=3, written one object after the other (as exporters do).

    ``form`` is the corner form of the faces: ``v``, ``v/vt``, ``v//vn`` or ``v/vt/vn``; every
    object has one texture coordinate and one normal per vertex, indexed like the vertex.
    """
    lines = ["# two objects, relative indices" if relative else "# two objects"]
    for k, offset in enumerate(OFFSETS):
        lines.append(f"o box{k}")
        for x, y, z in BOX.vertices + offset:
            lines.append(f"v {x:.6f} {y:.6f} {z:.6f}")
            lines.append(f"vt {0.5 + x / 8:.4f} {0.5 + y:.4f}")
            lines.append(f"vn {x - offset[0]:.4f} {y:.4f} {z:.4f}")
        for face in BOX.faces:
            corners = []
            for i in face:
                n = int(i) - 8 if relative else int(i) + 1 + 8 * k
                corners.append({"v": f"{n}", "v/vt": f"{n}/{n}", "v//vn": f"{n}//{n}", "v/vt/vn": f"{n}/{n}/{n}"}[form])
            lines.append("f " + " ".join(corners))
        lines.append("l -1 -2" if relative else f"l {8 * k + 8} {8 * k + 7}")  # polylines: not faces
    return "\n".join(lines) + "\n"


def box_centers(mesh: trimesh.Trimesh) -> list[list[float]]:
    return sorted(np.round(part.vertices.mean(axis=0), 6).tolist() for part in mesh.split(only_watertight=False))


# 1. Relative (negative) face indices --------------------------------------------------------------


@pytest.mark.parametrize("form", ["v", "v/vt", "v//vn", "v/vt/vn"])
def test_relative_indices_keep_every_object(tmp_path, form):
    relative = tmp_path / "relative.obj"
    relative.write_text(two_boxes_obj(relative=True, form=form))
    absolute = tmp_path / "absolute.obj"
    absolute.write_text(two_boxes_obj(relative=False, form=form))
    # What trimesh alone makes of it: one box twice, the other gone.
    raw = trimesh.load(relative, force="mesh", process=False, skip_materials=True)
    assert np.unique(np.sort(raw.faces, axis=1), axis=0).shape[0] == 12
    mesh = load_mesh(relative)
    assert len(mesh.faces) == 24 and mesh.is_watertight
    assert box_centers(mesh) == [[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]
    assert mesh.volume == pytest.approx(2.0)
    reference = load_mesh(absolute)
    np.testing.assert_array_equal(mesh.faces, reference.faces)
    np.testing.assert_array_equal(mesh.vertices, reference.vertices)


def test_absolute_obj_indices_rewrites_faces_only():
    text = "v 0 0 0\nv 1 0 0\n  v\t0 1 0\nvt 0 0\nvn 0 0 1\nf -3/-1/-1 -2//-1 -1\nl -1 -2\np -1\nv 0 0 1\nf 1 -3 -1\n"
    assert absolute_obj_indices(text) == (
        "v 0 0 0\nv 1 0 0\nv 0 1 0\nvt 0 0\nvn 0 0 1\nf 1/1/1 2//1 3\nl -1 -2\np -1\nv 0 0 1\nf 1 2 4\n"
    )
    untouched = "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n# f -1 -2 -3 in a comment\n"
    assert absolute_obj_indices(untouched) is untouched
    with pytest.raises(MeshError, match="face index -4 refers before the first 'v' line"):
        absolute_obj_indices("v 0 0 0\nv 1 0 0\nv 0 1 0\nf -4 -2 -1\n")


# 2. Text that is not UTF-8 ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252", "utf-8-sig"])
def test_geometry_loads_whatever_the_encoding_of_comments_and_names(tmp_path, encoding):
    ascii_text = two_boxes_obj(relative=False)
    decorated = ascii_text.replace("# two objects", "# modèle exporté par Société Ümlaut, chaise").replace(
        "o box1", "g siège_à_dossier\no box1"
    )
    path = tmp_path / "accented.obj"
    path.write_bytes(decorated.replace("\n", "\r\n").encode(encoding))
    if encoding != "utf-8-sig":
        with pytest.raises(UnicodeDecodeError):
            path.read_bytes().decode("utf-8")
    plain = tmp_path / "plain.obj"
    plain.write_text(ascii_text)
    mesh, reference = load_mesh(path), load_mesh(plain)
    np.testing.assert_array_equal(mesh.faces, reference.faces)
    np.testing.assert_array_equal(mesh.vertices, reference.vertices)
    assert len(mesh.faces) == 24
    assert check_mesh_readable(path) is None


# 3. and 11. Meshes that cleaning empties or guts --------------------------------------------------


def collinear_obj(path):
    """Triangles whose corners all lie on one line: readable, but nothing is left after cleaning."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("v 0 0 0\nv 1 1 1\nv 2 2 2\nv 3 3 3\nf 1 2 3\nf 2 3 4\nf 1 2 4\n")
    return path


def nan_obj(path):
    """Four triangles, three of them on a vertex with NaN coordinates: cleaning keeps one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nv nan nan nan\nv 0 0 1\nv 1 1 1\nf 1 2 3\nf 1 2 4\nf 4 5 6\nf 2 4 6\n")
    return path


def test_collinear_mesh_is_rejected(tmp_path):
    path = collinear_obj(tmp_path / "flat.obj")
    assert len(trimesh.load(path, force="mesh").faces) == 3  # trimesh reads it
    with pytest.raises(MeshError, match=r"flat.obj has no valid triangles: all 3 are degenerate"):
        load_mesh(path)
    assert "no valid triangles" in check_mesh_readable(path)


def test_cleaning_report_and_gutted_mesh(tmp_path):
    path = nan_obj(tmp_path / "nan.obj")
    mesh, cleaning = read_mesh(path)
    assert len(mesh.faces) == 1 and np.isfinite(mesh.vertices).all()
    assert (cleaning.faces_read, cleaning.faces_nonfinite, cleaning.faces_kept, cleaning.faces_degenerate) == (4, 3, 1, 0)
    with pytest.raises(MeshError, match=r"nan.obj lost most of its surface in cleaning: kept 1 of 4 triangles \(25%; 3 had non-finite"):
        load_source_mesh(path)
    assert load_source_mesh(path, min_kept_faces=0.25) is not None
    # A few degenerate slivers in a good mesh are fine.
    box = tmp_path / "box.obj"
    middle = BOX.vertices[:2].mean(axis=0)  # on the edge from vertex 1 to vertex 2
    box.write_text(two_boxes_obj(relative=False) + "v {} {} {}\nf 1 2 17\nf 1 1 2\n".format(*middle))
    _, cleaning = read_mesh(box)
    assert (cleaning.faces_read, cleaning.faces_degenerate, cleaning.loss()) == (26, 2, None)


def test_cleaning_loss_by_area():
    kept_area = Cleaning(faces_read=10, faces_nonfinite=0, faces_kept=9, area_read=2.0, area_kept=0.6)
    assert "kept 9 of 10 triangles (90%; 0 had non-finite coordinates, 1 were degenerate) and 30% of their area" in kept_area.loss()
    assert kept_area.loss(min_kept_area=0.3) is None


def test_run_mesh_fails_a_gutted_shape_and_says_why(tmp_path):
    files = DatasetLayout(tmp_path / "data").shape("gutted")
    nan_obj(files.mesh)
    ctx = StepContext(files=files, settings={"padding": 0.03}, cameras=[], seed=0)
    with pytest.raises(MeshError, match=r"lost most of its surface in cleaning: kept 1 of 4 triangles"):
        run_mesh(ctx)
    assert not files.normalized_mesh.exists()
    # The threshold is a setting of the step.
    relaxed = StepContext(files=files, settings={"padding": 0.03, "min_kept_faces": 0.2}, cameras=[], seed=0)
    assert run_mesh(relaxed)["faces"] == 1
    # A healthy mesh is untouched by the check.
    files = DatasetLayout(tmp_path / "data").shape("two_boxes")
    files.dir.mkdir(parents=True)
    files.mesh.write_text(two_boxes_obj(relative=True))
    assert run_mesh(StepContext(files=files, settings={}, cameras=[], seed=0))["faces"] == 24


def test_copy_shapenet_replaces_degenerate_and_gutted_meshes(tmp_path):
    source = tmp_path / "src"
    for i in range(5):
        write_obj(source / f"good{i}" / "models" / "model_normalized.obj", trimesh.creation.box())
    (source / "relative" / "models").mkdir(parents=True)
    (source / "relative" / "models" / "model_normalized.obj").write_text(two_boxes_obj(relative=True))
    (source / "latin1" / "models").mkdir(parents=True)
    (source / "latin1" / "models" / "model_normalized.obj").write_bytes(
        ("# chaise créée\r\n" + two_boxes_obj(relative=False).replace("\n", "\r\n")).encode("latin-1")
    )
    collinear_obj(source / "collinear" / "models" / "model_normalized.obj")
    nan_obj(source / "gutted" / "model.obj")
    bad = {"collinear", "gutted"}
    ids = list(find_source_meshes(source))
    # A seed whose candidate order meets both bad shapes before 7 usable ones are found.
    seed = next(s for s in range(500) if all(seeded_order(ids, s).index(b) < 8 for b in bad))
    layout = DatasetLayout(tmp_path / "data" / "toy")
    report = copy_shapenet(source, layout, {"train": 5, "val": 1, "test": 1}, seed=seed)
    assert set(report.metainfo["obj_id"]) == set(ids) - bad
    assert sorted(report.failures["obj_id"]) == sorted(bad)
    errors = dict(zip(report.failures["obj_id"], report.failures["error"]))
    assert "no valid triangles" in errors["collinear"] and "model_normalized.obj" in errors["collinear"]
    assert "lost most of its surface" in errors["gutted"]
    assert set(pd.read_csv(layout.metainfo)["obj_id"]) == set(ids) - bad
    assert len(load_mesh(layout.shape("relative").mesh).faces) == 24
