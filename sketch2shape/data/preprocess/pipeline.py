"""Preprocess a whole dataset from its config (the body of scripts/preprocess_data.py)."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sketch2shape.data.create import ensure_dataset
from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
from sketch2shape.data.preprocess.lock import DatasetLock, exclusive_section
from sketch2shape.data.preprocess.runner import ShapeResult, plan_from_config, run_preprocess, shard_ids
from sketch2shape.render.camera import cameras_from_config
from sketch2shape.utils.io import remove_atomic_temps

log = logging.getLogger(__name__)


@dataclass
class PreprocessSummary:
    shapes: int
    failed: list[tuple[str, str, str]] = field(default_factory=list)
    seconds_per_step: dict[str, float] = field(default_factory=dict)
    steps_run: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        steps = ", ".join(f"{s}: {n} shapes {self.seconds_per_step[s]:.1f}s" for s, n in self.steps_run.items())
        text = f"{self.shapes} shapes processed ({steps or 'nothing to do'}), {len(self.failed)} failed"
        return text + "".join(f"\n  FAILED {o} at {s}: {e}" for o, s, e in self.failed)


def summarize(results: list[ShapeResult]) -> PreprocessSummary:
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for result in results:
        for step, sec in result.seconds.items():
            seconds[step] += sec
            counts[step] += 1
    failed = [(r.obj_id, r.failed_step, r.error) for r in results if r.failed_step]
    return PreprocessSummary(len(results), failed, dict(seconds), dict(counts))


def remove_stale_temps(layout: DatasetLayout, obj_ids: list[str], whole_dataset: bool) -> list[Path]:
    """Delete the temporary files a killed run left (``.<name>.<random>.tmp.<ext>``, see
    :func:`sketch2shape.utils.io.atomic_path`) in the shapes' folders, and in the dataset folder
    itself when ``whole_dataset`` (only call this under the dataset's preprocessing lock)."""
    removed: list[Path] = []
    if whole_dataset:
        removed += remove_atomic_temps(layout.root, recursive=False)
    for obj_id in obj_ids:
        removed += remove_atomic_temps(layout.shape(obj_id).dir)
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted run, e.g. %s", len(removed), removed[0])
    return removed


def preprocess_dataset(cfg) -> PreprocessSummary:
    """Create the dataset if it is procedural and new, then run the pending steps of its shapes.

    Runs under the dataset's lock (:mod:`sketch2shape.data.preprocess.lock`; ``lock=fail|wait``
    says what to do when another run holds it) and first removes what a killed run left behind.
    The settings are checked first (:func:`plan_from_config`): a misspelled key stops the run
    before the lock is taken or any shape is made.
    """
    cameras = cameras_from_config(cfg.data.camera, cfg.data.views)
    plan = plan_from_config(cfg.data, cameras, seed=int(cfg.seed))
    root = Path(str(cfg.data.data_dir))
    shard = cfg.get("shard")
    with DatasetLock(root, shard=shard if not cfg.get("obj_ids") else None, mode=str(cfg.get("lock", "fail"))) as lock:
        with exclusive_section(root):
            layout = ensure_dataset(cfg.data)
        metainfo = read_metainfo(layout.metainfo)
        obj_ids = obj_ids_of(metainfo)
        if cfg.get("obj_ids"):
            unknown = sorted(set(cfg.obj_ids) - set(obj_ids))
            if unknown:
                raise ValueError(f"obj_ids {unknown} are not in {layout.metainfo}")
            obj_ids = list(cfg.obj_ids)
        remove_stale_temps(layout, shard_ids(obj_ids, shard), whole_dataset=lock.exclusive)
        results = run_preprocess(plan, obj_ids, workers=int(cfg.get("workers", 1)), shard=shard)
    return summarize(results)
