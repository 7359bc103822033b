"""Import a ShapeNetCore category folder into the project's dataset layout.

ShapeNetCore v2 stores ``<id>/models/model_normalized.obj``, v1 stores ``<id>/model.obj``; both
are accepted, and every import ends in one frame, the **project frame**: ShapeNetCore v2's, which
the built-in procedural chairs share (y up, a chair's seat facing +z, its right-hand side at -x;
preprocessing's views count azimuths from there). v1 models sit a quarter turn about the up axis
from v2's: a v1 vertex ``(x, y, z)`` is ``(-z, y, x)`` in the project frame
(:data:`V1_TO_PROJECT`). That rule was measured, not assumed: of the 11 chairs in both
``shapenet_v1_chairs`` and ``shapenet_sample`` (v2), the 10 with the same geometry match with a
chamfer distance x1000 of 0.24 to 0.85 after this turn and 24 to 176 without it or with the other
turns (``tests/data/test_shapenet_frame.py``). The copied ``mesh.obj`` holds the vertices already
turned (every other line of the OBJ kept as it was), and ``import.json`` beside it records the
source file, the ShapeNet version read from the layout, the rotation applied and the frame.

Meshes are checked to load (as the ``mesh`` preprocessing step will load them, see
:func:`check_mesh_readable`) before they are counted: a shape that cannot be used is
reported (log line and ``failures.csv``) and replaced by the next candidate, so one broken file
does not abort the import of thousands.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import MetainfoError, assign_splits, seeded_order, split_counts, write_metainfo
from sketch2shape.data.preprocess.mesh import MeshError, decode_obj_bytes, load_source_mesh
from sketch2shape.utils.io import atomic_path, write_json
from sketch2shape.utils.progress import progress_bar

log = logging.getLogger(__name__)

MESH_CANDIDATES = ("models/model_normalized.obj", "model.obj")
VERSIONS = {"models/model_normalized.obj": "v2", "model.obj": "v1"}  # the layout tells the version
PROJECT_FRAME = "shapenet_v2: y up, seat facing +z"
# Row-vector convention: project = v1 @ V1_TO_PROJECT.T, i.e. (x, y, z) -> (-z, y, x); a quarter
# turn about +y. Measured on the chairs in both v1 and v2 (module docstring).
V1_TO_PROJECT = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
ROTATIONS = {"v2": np.eye(3), "v1": V1_TO_PROJECT}


class SourceError(ValueError):
    """The ShapeNet source folder is missing, empty or has too few usable shapes."""


@dataclass(frozen=True)
class CopyReport:
    metainfo: pd.DataFrame
    failures: pd.DataFrame


def find_source_meshes(source: str | Path) -> dict[str, Path]:
    """Map obj_id to its mesh file in a ShapeNetCore v1 or v2 category folder."""
    source = Path(source)
    if not source.exists():
        raise SourceError(f"source folder {source} does not exist; pass +source=/path/ShapeNetCore/<category_id>")
    if not source.is_dir():
        raise SourceError(f"source {source} is not a folder")
    meshes = {}
    for shape_dir in sorted(p for p in source.iterdir() if p.is_dir()):
        for candidate in MESH_CANDIDATES:
            if (shape_dir / candidate).is_file():
                meshes[shape_dir.name] = shape_dir / candidate
                break
    if not meshes:
        raise SourceError(
            f"no shapes found in {source}: expected <id>/{MESH_CANDIDATES[0]} (ShapeNetCore v2) "
            f"or <id>/{MESH_CANDIDATES[1]} (v1) below it"
        )
    return meshes


def check_mesh_readable(path: Path) -> str | None:
    """None if ``path`` is a usable input mesh, else why not (a message naming the file).

    Usable means what the ``mesh`` preprocessing step accepts (:func:`load_source_mesh`): the
    file reads (any comment encoding, relative indices), and cleaning leaves valid triangles (not
    all degenerate, e.g. collinear) and most of them. A shape rejected here would only fail
    preprocessing later and leave a hole in the dataset.
    """
    try:
        load_source_mesh(path)
    except MeshError as err:
        return str(err)
    return None


def shapenet_version(path: Path) -> str:
    """``"v1"`` or ``"v2"``: the ShapeNetCore version whose layout ``path`` (a mesh that
    :func:`find_source_meshes` returned) follows. Raises ValueError for any other layout."""
    path = Path(path)
    for candidate, version in VERSIONS.items():
        if path.as_posix().endswith("/" + candidate):
            return version
    raise ValueError(f"{path}: not a ShapeNetCore mesh; expected <id>/{MESH_CANDIDATES[0]} (v2) or <id>/{MESH_CANDIDATES[1]} (v1)")


def rotate_obj_text(text: str, rotation: np.ndarray) -> str:
    """The OBJ ``text`` with its vertex positions (``v``) and normals (``vn``) turned by
    ``rotation`` (3, 3), row-vector convention ``p @ rotation.T``; every other line, faces,
    groups, texture coordinates and comments included, is kept as it was. A vertex's optional
    4th value (w) or colour values after the position are kept."""
    if np.allclose(rotation, np.eye(3)):
        return text
    out = []
    for line in text.split("\n"):
        parts = line.split()
        if len(parts) >= 4 and parts[0] in ("v", "vn"):
            try:
                xyz = np.array([float(v) for v in parts[1:4]]) @ rotation.T
            except ValueError:
                out.append(line)  # not numbers: left for the reader to judge
                continue
            out.append(" ".join([parts[0], *(f"{c:.9g}" for c in xyz), *parts[4:]]))
        else:
            out.append(line)
    return "\n".join(out)


def import_record(source_mesh: Path) -> dict:
    """What :func:`copy_shape` writes to ``import.json``: the source file, its ShapeNet version,
    the rotation applied (row-vector convention) and the frame the copy is in."""
    version = shapenet_version(source_mesh)
    return {"source": str(Path(source_mesh).resolve()), "shapenet_version": version, "rotation": ROTATIONS[version].tolist(), "frame": PROJECT_FRAME}


def copy_shape(source_mesh: Path, files) -> None:
    """Copy one ShapeNet mesh to ``files.mesh`` in the project frame and record how
    (``import.json``), atomically. Nothing is written when an earlier run left a record of the same
    frame and the copy (resuming an interrupted import); a copy without a record (imported before
    the frame was recorded) is rewritten only if its text differs from the turned source (a v1
    copy), so a v2 dataset keeps its mesh files and its preprocessing."""
    record = import_record(source_mesh)
    record_path = files.import_record
    frame_keys = ("shapenet_version", "rotation", "frame")  # not the source path: the same files may be mounted elsewhere
    if files.mesh.is_file() and record_path.is_file():
        try:
            old = json.loads(record_path.read_text())
            if all(old.get(k) == record[k] for k in frame_keys):
                return
        except json.JSONDecodeError:
            pass
    text = rotate_obj_text(decode_obj_bytes(Path(source_mesh).read_bytes()), np.asarray(record["rotation"]))
    if not (files.mesh.is_file() and decode_obj_bytes(files.mesh.read_bytes()) == text):
        record_path.unlink(missing_ok=True)  # the mesh changes first: a crash between the two writes redoes both
        with atomic_path(files.mesh) as tmp:
            Path(tmp).write_text(text, encoding="utf-8")
    write_json(record_path, record)


def copy_shapenet(source: str | Path, layout: DatasetLayout, sizes: Mapping[str, int], seed: int) -> CopyReport:
    """Copy ``sum(sizes)`` readable shapes from ``source`` into ``layout`` in the project frame
    (module docstring) and write metainfo.csv.

    Candidates are the sorted ids in a seeded random order; unusable ones (unreadable, no valid
    triangle, mostly lost in cleaning) are skipped with a record in the report and the next
    candidate takes their place. One split may be ``"rest"`` (``{"train": "rest", "val": 128,
    "test": 256}``): every readable shape of the source is then imported, val and test are the
    first readable ones of the seeded order and train the rest.
    Raises :class:`SourceError` for a missing or empty folder or too few readable shapes.
    """
    meshes = find_source_meshes(source)
    counts = split_counts(sizes)
    take_all = any(n < 0 for n in counts.values())
    required = sum(n for n in counts.values() if n >= 0)  # at least; with a "rest" split every readable shape is taken
    needed = len(meshes) if take_all else required
    if len(meshes) < required:
        raise SourceError(f"{source} has {len(meshes)} shapes, but splits {counts} need {required}")
    candidates = seeded_order(list(meshes), seed)
    chosen: list[str] = []
    failures: list[tuple[str, str, str]] = []
    progress = progress_bar(total=needed, desc=f"copy {layout.name}", unit="shape")
    for obj_id in candidates:
        if len(chosen) == needed:
            break
        reason = check_mesh_readable(meshes[obj_id])
        if reason is not None:
            log.warning("skipping %s: %s", obj_id, reason)
            failures.append((obj_id, "copy", reason))
            continue
        copy_shape(meshes[obj_id], layout.shape(obj_id))
        chosen.append(obj_id)
        progress.update()
    progress.close()
    if len(chosen) < required:
        raise SourceError(
            f"{source}: only {len(chosen)} of {len(meshes)} shapes are readable, splits {counts} need {required}; "
            f"unreadable: {[f[0] for f in failures][:10]}"
        )
    metainfo = assign_splits(chosen, counts)
    write_metainfo(layout.metainfo, metainfo)
    failure_table = pd.DataFrame(failures, columns=["obj_id", "step", "error"])
    return CopyReport(metainfo=metainfo, failures=failure_table)


__all__ = ["CopyReport", "MetainfoError", "PROJECT_FRAME", "SourceError", "V1_TO_PROJECT", "copy_shape", "copy_shapenet", "find_source_meshes",
           "rotate_obj_text", "shapenet_version"]
