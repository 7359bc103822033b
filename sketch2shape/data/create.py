"""Create a dataset's shapes and metainfo: import ShapeNet, generate the built-in chairs, or mix
datasets that exist (``source: mixed``)."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import COLUMNS, SPLITS, make_splits, read_metainfo, split_counts, write_metainfo
from sketch2shape.data.procedural import generate_chair
from sketch2shape.utils.io import save_mesh, write_json
from sketch2shape.utils.progress import progress_bar

log = logging.getLogger(__name__)

SOURCES = ("shapenet", "procedural", "mixed")


def procedural_obj_id(index: int) -> str:
    return f"chair_{index:05d}"


def generate_procedural_dataset(layout: DatasetLayout, sizes: dict, chair_seed: int, split_seed: int, version: int = 1) -> None:
    """Write ``sum(sizes)`` procedural chairs and their metainfo.csv into ``layout``.

    Chair ``i`` depends only on ``(chair_seed, i)``: a smaller dataset holds the first chairs of a
    larger one. Each chair's parameters are saved next to its mesh as ``params.json``. ``version``
    selects the generator (:func:`sketch2shape.data.procedural.chair_params`).
    """

    counts = split_counts(sizes)
    if any(n < 0 for n in counts.values()):
        raise ValueError(f"data.splits={dict(sizes)}: a generated dataset has no pool to take the 'rest' of; give every split a size")
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


def mix_datasets(layout: DatasetLayout, parts: list[DatasetLayout]) -> None:
    """Make ``layout`` the union of the datasets ``parts``: every shape a symlink to its part's
    folder (no copies; preprocessing through the link writes into the part, so a part preprocessed
    with the same settings is reused as it is), each shape in its part's split, labels contiguous,
    train first. Made again each time (cheap: links and one table), so a changed part or parts
    list is always followed; links are relative, so the data folder can move.

    Raises FileNotFoundError naming a part that does not exist yet, ValueError for an obj_id in
    two parts.
    """
    import pandas as pd

    missing = [part for part in parts if not part.metainfo.is_file()]
    if missing:
        raise FileNotFoundError(
            f"data.parts of {layout.name}: {', '.join(str(p.metainfo) for p in missing)} missing; create each part first "
            f"(python scripts/preprocess_data.py data=<part>, or copy_shapenet.py for a ShapeNet part)"
        )
    tables = [read_metainfo(part.metainfo).assign(part=part) for part in parts]
    merged = pd.concat(tables, ignore_index=True)
    twice = merged["obj_id"][merged["obj_id"].duplicated()].tolist()
    if twice:
        raise ValueError(f"data.parts of {layout.name}: obj_ids in more than one part: {twice[:5]}")
    layout.shapes_dir.mkdir(parents=True, exist_ok=True)
    wanted = {}
    for obj_id, part in zip(merged["obj_id"], merged["part"]):
        wanted[obj_id] = os.path.relpath(part.shape(obj_id).dir, layout.shapes_dir)  # relative: the data folder can move
    for entry in layout.shapes_dir.iterdir():
        if entry.is_symlink() and os.readlink(entry) != wanted.get(entry.name):
            entry.unlink()  # a shape no longer in the parts, or linked elsewhere before
    for obj_id, target in wanted.items():
        link = layout.shapes_dir / obj_id
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
    merged["split"] = pd.Categorical(merged["split"], categories=list(SPLITS), ordered=True)
    merged = merged.sort_values(["split", "obj_id"]).reset_index(drop=True)
    merged["label"] = range(len(merged))
    merged["split"] = merged["split"].astype(str)
    write_metainfo(layout.metainfo, merged.loc[:, list(COLUMNS)])


def ensure_dataset(data_cfg) -> DatasetLayout:
    """The dataset's layout; procedural datasets are generated on first use, mixed ones
    (``data.parts``: dataset names under the same data folder) linked from their parts
    (:func:`mix_datasets`).

    Raises a clear error for a ShapeNet dataset that was not imported yet.
    """
    layout = DatasetLayout(Path(str(data_cfg.data_dir)))
    source = str(data_cfg.get("source", "shapenet"))
    if source not in SOURCES:
        raise ValueError(f"data.source={source!r}; accepted: {', '.join(SOURCES)}")
    if source == "mixed":
        parts = list(data_cfg.get("parts") or [])
        if not parts:
            raise ValueError("data.source=mixed needs data.parts, the names of the datasets to mix (e.g. [procedural_chair_1024, shapenet_chair_all])")
        mix_datasets(layout, [DatasetLayout(layout.root.parent / str(name)) for name in parts])
        return layout
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
