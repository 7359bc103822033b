"""Create a dataset's shapes and metainfo: import ShapeNet or generate the built-in chairs."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import make_splits, read_metainfo, split_counts, write_metainfo
from sketch2shape.data.procedural import generate_chair
from sketch2shape.utils.io import save_mesh, write_json
from sketch2shape.utils.progress import progress_bar

log = logging.getLogger(__name__)

SOURCES = ("shapenet", "procedural")


def procedural_obj_id(index: int) -> str:
    return f"chair_{index:05d}"


def generate_procedural_dataset(layout: DatasetLayout, sizes: dict, chair_seed: int, split_seed: int, version: int = 1) -> None:
    """Write ``sum(sizes)`` procedural chairs and their metainfo.csv into ``layout``.

    Chair ``i`` depends only on ``(chair_seed, i)``: a smaller dataset holds the first chairs of a
    larger one. Each chair's parameters are saved next to its mesh as ``params.json``. ``version``
    selects the generator (:func:`sketch2shape.data.procedural.chair_params`).
    """

    counts = split_counts(sizes)
    total = sum(counts.values())
    ids = []
    for index in progress_bar(range(total), desc=f"generate {layout.name}", unit="chair"):
        obj_id = procedural_obj_id(index)
        files = layout.shape(obj_id)
        if not files.mesh.is_file():
            params, mesh = generate_chair(chair_seed, index, version)
            save_mesh(files.mesh, mesh)
            write_json(files.dir / "params.json", {"seed": chair_seed, "index": index, "version": version, **dataclasses.asdict(params)})
        ids.append(obj_id)
    write_metainfo(layout.metainfo, make_splits(ids, counts, split_seed))


def ensure_dataset(data_cfg) -> DatasetLayout:
    """The dataset's layout; procedural datasets are generated on first use.

    Raises a clear error for a ShapeNet dataset that was not imported yet.
    """
    layout = DatasetLayout(Path(str(data_cfg.data_dir)))
    source = str(data_cfg.get("source", "shapenet"))
    if source not in SOURCES:
        raise ValueError(f"data.source={source!r}; accepted: {', '.join(SOURCES)}")
    if layout.metainfo.is_file():
        read_metainfo(layout.metainfo)  # validates
        return layout
    if source == "procedural":
        generate_procedural_dataset(
            layout, dict(data_cfg.splits), int(data_cfg.procedural_seed), int(data_cfg.split_seed),
            int(data_cfg.get("procedural_version", 1)),
        )
        return layout
    raise FileNotFoundError(
        f"{layout.metainfo} does not exist. Import the shapes first: "
        f"python scripts/copy_shapenet.py data={data_cfg.name} +source=/path/ShapeNetCore/03001627"
    )
