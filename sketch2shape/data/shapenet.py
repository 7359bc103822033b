"""Import a ShapeNetCore category folder into the project's dataset layout.

ShapeNetCore v2 stores ``<id>/models/model_normalized.obj``, v1 stores ``<id>/model.obj``; both
are accepted. Meshes are checked to load (as the ``mesh`` preprocessing step will load them, see
:func:`check_mesh_readable`) before they are counted: a shape that cannot be used is
reported (log line and ``failures.csv``) and replaced by the next candidate, so one broken file
does not abort the import of thousands.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import MetainfoError, assign_splits, seeded_order, split_counts, write_metainfo
from sketch2shape.data.preprocess.mesh import MeshError, load_source_mesh
from sketch2shape.utils.io import atomic_path
from sketch2shape.utils.progress import progress_bar

log = logging.getLogger(__name__)

MESH_CANDIDATES = ("models/model_normalized.obj", "model.obj")


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


def copy_file_atomic(src: Path, dst: Path) -> None:
    if dst.is_file() and dst.stat().st_size == src.stat().st_size:
        return  # already copied by an earlier (possibly interrupted) run
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)


def copy_shapenet(source: str | Path, layout: DatasetLayout, sizes: Mapping[str, int], seed: int) -> CopyReport:
    """Copy ``sum(sizes)`` readable shapes from ``source`` into ``layout`` and write metainfo.csv.

    Candidates are the sorted ids in a seeded random order; unusable ones (unreadable, no valid
    triangle, mostly lost in cleaning) are skipped with a record in the report and the next
    candidate takes their place.
    """
    meshes = find_source_meshes(source)
    counts = split_counts(sizes)
    needed = sum(counts.values())
    if len(meshes) < needed:
        raise SourceError(f"{source} has {len(meshes)} shapes, but splits {counts} need {needed}")
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
        copy_file_atomic(meshes[obj_id], layout.shape(obj_id).mesh)
        chosen.append(obj_id)
        progress.update()
    progress.close()
    if len(chosen) < needed:
        raise SourceError(
            f"{source}: only {len(chosen)} of {len(meshes)} shapes are readable, splits {counts} need {needed}; "
            f"unreadable: {[f[0] for f in failures][:10]}"
        )
    metainfo = assign_splits(chosen, counts)
    write_metainfo(layout.metainfo, metainfo)
    failure_table = pd.DataFrame(failures, columns=["obj_id", "step", "error"])
    return CopyReport(metainfo=metainfo, failures=failure_table)


__all__ = ["CopyReport", "MetainfoError", "SourceError", "copy_shapenet", "find_source_meshes"]
