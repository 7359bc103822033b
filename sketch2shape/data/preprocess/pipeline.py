"""Preprocess a whole dataset from its config (the body of scripts/preprocess_data.py)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from sketch2shape.data.create import ensure_dataset
from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
from sketch2shape.data.preprocess.runner import ShapeResult, plan_from_config, run_preprocess
from sketch2shape.render.camera import cameras_from_config


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


def preprocess_dataset(cfg) -> PreprocessSummary:
    """Create the dataset if it is procedural and new, then run the pending steps of its shapes."""
    layout = ensure_dataset(cfg.data)
    metainfo = read_metainfo(layout.metainfo)
    obj_ids = obj_ids_of(metainfo)
    if cfg.get("obj_ids"):
        unknown = sorted(set(cfg.obj_ids) - set(obj_ids))
        if unknown:
            raise ValueError(f"obj_ids {unknown} are not in {layout.metainfo}")
        obj_ids = list(cfg.obj_ids)
    cameras = cameras_from_config(cfg.data.camera, cfg.data.views)
    plan = plan_from_config(cfg.data, cameras, seed=int(cfg.seed))
    results = run_preprocess(plan, obj_ids, workers=int(cfg.get("workers", 1)), shard=cfg.get("shard"))
    return summarize(results)
