"""``metainfo.csv``: which shapes a dataset has, their integer label and their split.

Labels are contiguous: train shapes first (0..n_train-1), then val, then test, as in the original
README. The label of a train shape is also the row of its latent code in DeepSDF's embedding.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sketch2shape.utils.io import atomic_path

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
COLUMNS = ("obj_id", "label", "split")


class MetainfoError(ValueError):
    """A metainfo.csv that does not follow the contract above."""


REST = "rest"  # a split size: every usable shape that the fixed-size splits leave


def split_counts(sizes: Mapping[str, int | str]) -> dict[str, int]:
    """Validated ``{split: count}`` for every split (missing splits count 0).

    At most one split may be :data:`REST` (``splits: {train: rest, val: 128, test: 256}``): it
    counts -1 here, and :func:`resolve_rest` gives it every shape the fixed-size splits leave.
    Raises :class:`MetainfoError` naming an unknown split, a negative size or a size that is
    neither an integer nor ``rest``.
    """
    unknown = set(sizes) - set(SPLITS)
    if unknown:
        raise MetainfoError(f"unknown split(s) {sorted(unknown)} in sizes; accepted: {', '.join(SPLITS)}")
    counts = {}
    for split in SPLITS:
        value = sizes.get(split, 0)
        if isinstance(value, str) and value.strip().lower() == REST:
            counts[split] = -1
            continue
        try:
            counts[split] = int(value)
        except (TypeError, ValueError):
            raise MetainfoError(f"split size {split}={value!r} must be an integer or {REST!r} (every shape the other splits leave)") from None
        if counts[split] < 0:
            raise MetainfoError(f"split sizes must be >= 0 (or {REST!r}), got {split}={value!r}")
    if list(counts.values()).count(-1) > 1:
        raise MetainfoError(f"at most one split may be {REST!r}, got {dict(sizes)}")
    return counts


def resolve_rest(counts: Mapping[str, int], available: int) -> dict[str, int]:
    """``counts`` with its :data:`REST` split (-1) given ``available`` minus the fixed-size splits.

    Raises :class:`MetainfoError` if the fixed-size splits alone need more than ``available``.
    """
    fixed = sum(n for n in counts.values() if n >= 0)
    if available < fixed:
        raise MetainfoError(f"need {fixed} shapes for splits {dict(counts)}, but only {available} are available")
    return {split: (available - fixed if n < 0 else n) for split, n in counts.items()}


def seeded_order(obj_ids: Sequence[str], seed: int) -> list[str]:
    """The sorted ids in a seeded random order: depends only on the set of ids and the seed."""
    ids = sorted(set(obj_ids))
    return [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]


def assign_splits(ordered_ids: Sequence[str], counts: Mapping[str, int]) -> pd.DataFrame:
    """Give the first ``counts['train']`` ids to train, the next to val, then test.

    With a :data:`REST` split (count -1) the fixed-size splits take the first ids instead (in
    split order, the rest split left out) and the rest split every id after them. Ids are sorted inside each split and
    labelled contiguously in split order (train first).
    """
    rest = [split for split, n in counts.items() if n < 0]
    counts = resolve_rest(counts, len(ordered_ids))  # raises when the fixed-size splits need more ids than there are
    fill = [s for s in SPLITS if s not in rest] + rest
    chunks, start = {}, 0
    for split in fill:
        chunks[split] = sorted(ordered_ids[start : start + counts.get(split, 0)])
        start += counts.get(split, 0)
    rows = [(obj_id, split) for split in SPLITS for obj_id in chunks.get(split, [])]
    return pd.DataFrame([(obj_id, label, split) for label, (obj_id, split) in enumerate(rows)], columns=list(COLUMNS))


def make_splits(obj_ids: Sequence[str], sizes: Mapping[str, int], seed: int) -> pd.DataFrame:
    """Pick ``sizes[split]`` shapes per split from ``obj_ids``, deterministically."""
    return assign_splits(seeded_order(obj_ids, seed), split_counts(sizes))


def write_metainfo(path: str | Path, metainfo: pd.DataFrame) -> None:
    validate_metainfo(metainfo, path)
    with atomic_path(path) as tmp:
        metainfo.loc[:, list(COLUMNS)].to_csv(tmp, index=False)


def read_metainfo(path: str | Path) -> pd.DataFrame:
    """Read and validate a metainfo.csv; errors name the file and what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: create the dataset first (scripts/copy_shapenet.py for ShapeNet, "
            "scripts/preprocess_data.py generates procedural datasets)"
        )
    metainfo = pd.read_csv(path, dtype={"obj_id": str, "split": str})
    validate_metainfo(metainfo, path)
    return metainfo


def validate_metainfo(metainfo: pd.DataFrame, path: str | Path = "metainfo") -> None:
    missing = [c for c in COLUMNS if c not in metainfo.columns]
    if missing:
        raise MetainfoError(f"{path}: missing column(s) {missing}; expected columns {','.join(COLUMNS)}")
    bad_split = sorted(set(metainfo["split"]) - set(SPLITS))
    if bad_split:
        raise MetainfoError(f"{path}: unknown split value(s) {bad_split}; accepted: {', '.join(SPLITS)}")
    if metainfo["obj_id"].duplicated().any():
        dup = metainfo.loc[metainfo["obj_id"].duplicated(), "obj_id"].tolist()[:5]
        raise MetainfoError(f"{path}: duplicated obj_id(s) {dup}")
    labels = metainfo["label"].to_numpy()
    if sorted(labels.tolist()) != list(range(len(metainfo))):
        raise MetainfoError(f"{path}: labels must be the contiguous integers 0..{len(metainfo) - 1}")


def obj_ids_of(metainfo: pd.DataFrame, split: str | None = None) -> list[str]:
    """Object ids of one split (or all), ordered by label."""
    if split is not None and split not in SPLITS:
        raise MetainfoError(f"split={split!r} is not a split; accepted: {', '.join(SPLITS)}")
    rows = metainfo if split is None else metainfo[metainfo["split"] == split]
    return rows.sort_values("label")["obj_id"].tolist()


def failure_files(root: str | Path) -> list[Path]:
    """A dataset's failure records: ``failures.csv`` and those of sharded runs (``failures.shard<I>of<N>.csv``)."""
    root = Path(root)
    return [p for p in [root / "failures.csv", *sorted(root.glob("failures.shard*of*.csv"))] if p.is_file()]


def read_failures(root: str | Path) -> dict[str, str]:
    """``obj_id -> "step: error"`` of every shape a preprocessing (or import) step failed on."""
    failed: dict[str, str] = {}
    for path in failure_files(root):
        try:
            table = pd.read_csv(path, dtype=str).fillna("")
        except pd.errors.EmptyDataError:
            continue
        for row in table.itertuples(index=False):
            failed[row.obj_id] = f"{getattr(row, 'step', '?')}: {getattr(row, 'error', '')}"
    return failed


def usable_shapes(
    layout,
    obj_ids: Sequence[str],
    needed: Callable[[object], Sequence[Path]],
    what: str,
    skip_missing: bool = False,
    skip_setting: str | None = "skip_missing=true",
) -> list[str]:
    """The ``obj_ids`` a training can use: without the shapes preprocessing failed on and with the
    files ``needed(layout.shape(obj_id))``.

    Shapes listed in the dataset's failure records are skipped with a warning naming each (and its
    failed step). A shape whose ``needed`` files are missing although no failure is recorded was
    not preprocessed yet: an error naming it and saying what to run (and ``skip_setting``, the
    setting that sets ``skip_missing``), or, with ``skip_missing``, a warning and the shape is
    skipped. An error too if no shape is left.
    """
    failed = read_failures(layout.root)
    skipped = [o for o in obj_ids if o in failed]
    if skipped:
        log.warning(
            "skipping %d shape(s) that preprocessing failed on (%s): %s", len(skipped), layout.root / "failures.csv",
            "; ".join(f"{o} ({failed[o]})" for o in skipped[:20]) + (" ..." if len(skipped) > 20 else ""),
        )
    rest = [o for o in obj_ids if o not in failed]
    missing = [o for o in rest if not all(Path(p).is_file() for p in needed(layout.shape(o)))]
    if missing:
        names = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        text = f"{len(missing)} shape(s) of {layout.root} have no {what} and no recorded failure: {names}"
        if not skip_missing:
            hint = f", or set {skip_setting} to go on without them" if skip_setting else ""
            raise FileNotFoundError(
                f"{text}. Run `python scripts/preprocess_data.py data={layout.name}` (it resumes where it stopped){hint}"
            )
        log.warning("%s; skipped (%s)", text, skip_setting)
    usable = [o for o in rest if o not in missing]
    if not usable:
        raise ValueError(
            f"none of the {len(obj_ids)} shapes of {layout.root} is usable ({len(skipped)} failed in preprocessing, "
            f"{len(missing)} without {what}): run `python scripts/preprocess_data.py data={layout.name}` and see failures.csv"
        )
    return usable
