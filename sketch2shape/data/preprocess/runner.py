"""Run the preprocessing steps over a dataset: parallel, sharded, resumable, failure tolerant.

A step of a shape runs when its ``skip`` setting is ``False`` (always recompute), or ``auto`` and
either an output is missing or the settings it was made with changed (a hash stored per shape in
``preprocess.json``, chained through the steps it depends on), or, for the ``mesh`` step, the
input ``mesh.obj`` is newer than its output (imported again). ``skip=True`` never runs it.
A shape whose step fails is recorded in ``failures.csv``; the other shapes carry on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm import tqdm

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import failure_files
from sketch2shape.data.preprocess.lock import exclusive_section
from sketch2shape.data.preprocess.steps import DEPENDS_ON, RUNNERS, STEPS, StepContext, check_step_settings, step_outputs
from sketch2shape.render.camera import Camera, cameras_from_json, cameras_to_json
from sketch2shape.utils.config import ConfigError
from sketch2shape.utils.io import atomic_path, write_json
from sketch2shape.utils.progress import progress_bar
from sketch2shape.utils.workers import stop_pool, terminate_on_signals, worker_pool

log = logging.getLogger(__name__)

SKIP_VALUES = ("auto", True, False)


@dataclass(frozen=True)
class PreprocessPlan:
    """Everything a worker needs, as plain picklable data."""

    root: str
    step_settings: dict[str, dict[str, Any]]  # step -> settings (without "skip")
    skip: dict[str, Any]  # step -> "auto" | True | False
    cameras: list[dict]
    seed: int

    def step_hash(self, step: str) -> str:
        """Hash of a step's settings and, recursively, of the steps it reads from."""
        payload = {"settings": self.step_settings[step], "upstream": [self.step_hash(d) for d in DEPENDS_ON[step]]}
        if step in ("normals", "synthetic"):
            payload["cameras"] = self.cameras
        if step in ("sdf", "surface"):
            payload["seed"] = self.seed
        return hashlib.sha1(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class ShapeResult:
    obj_id: str
    ran: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    failed_step: str | None = None
    error: str | None = None


def parse_skip(step: str, value: Any) -> Any:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if value not in SKIP_VALUES or isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(f"data.preprocess_{step}.skip={value!r}; accepted: auto, True, False")
    return value


def plan_from_config(data_cfg, cameras: Sequence[Camera], seed: int) -> PreprocessPlan:
    """The plan of a dataset's ``data:`` config node. Every ``preprocess_<step>`` node is checked
    here (:func:`~sketch2shape.data.preprocess.steps.check_step_settings`): a key no step reads,
    or a ``preprocess_*`` node of no step, raises :class:`~sketch2shape.utils.config.ConfigError`
    before any shape is processed."""
    from omegaconf import OmegaConf

    nodes = [str(k) for k in data_cfg.keys() if str(k).startswith("preprocess_")]
    unknown = [k for k in nodes if k.removeprefix("preprocess_") not in STEPS]
    if unknown:
        accepted = ", ".join(f"preprocess_{s}" for s in STEPS)
        raise ConfigError(f"unknown data node(s) {', '.join(unknown)}: no preprocessing step reads them; accepted: {accepted}")
    settings, skip = {}, {}
    for step in STEPS:
        node = data_cfg.get(f"preprocess_{step}")
        values = OmegaConf.to_container(node, resolve=True) if node is not None else {}
        skip[step] = parse_skip(step, values.pop("skip", "auto"))
        check_step_settings(step, values)
        settings[step] = values
    return PreprocessPlan(
        root=str(Path(str(data_cfg.data_dir))),
        step_settings=settings,
        skip=skip,
        cameras=cameras_to_json(cameras),
        seed=int(seed),
    )


def _read_manifest(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _newer(source: Path, output: Path) -> bool:
    """Whether ``source`` was written after ``output`` (e.g. a shape imported again, in another
    frame, after it was preprocessed): make's rule, so its outputs are made again."""
    try:
        return source.stat().st_mtime_ns > output.stat().st_mtime_ns
    except FileNotFoundError:
        return False


def steps_to_run(plan: PreprocessPlan, obj_id: str) -> list[str]:
    """The steps that would run for ``obj_id`` (see module docstring)."""
    files = DatasetLayout(Path(plan.root)).shape(obj_id)
    manifest = _read_manifest(files.manifest)
    todo: list[str] = []
    for step in STEPS:
        skip = plan.skip[step]
        if skip is True:
            continue
        stale = (
            skip is False
            or any(d in todo for d in DEPENDS_ON[step])
            or manifest.get(step, {}).get("hash") != plan.step_hash(step)
            or not all(p.is_file() for p in step_outputs(step, files, len(plan.cameras)))
            or (step == "mesh" and _newer(files.mesh, files.normalized_mesh))
        )
        if stale:
            todo.append(step)
    return todo


def preprocess_shape(plan: PreprocessPlan, obj_id: str) -> ShapeResult:
    """Run the pending steps of one shape; never raises, failures are returned."""
    import torch

    torch.set_num_threads(1)  # parallelism comes from the worker processes
    files = DatasetLayout(Path(plan.root)).shape(obj_id)
    result = ShapeResult(obj_id)
    cameras = cameras_from_json(plan.cameras)
    manifest = _read_manifest(files.manifest)
    cache: dict[str, Any] = {}
    for step in steps_to_run(plan, obj_id):
        ctx = StepContext(files=files, settings=plan.step_settings[step], cameras=cameras, seed=plan.seed, cache=cache)
        start = time.perf_counter()
        try:
            info = RUNNERS[step](ctx)
        except Exception as err:
            result.failed_step = step
            result.error = f"{type(err).__name__}: {err}"
            log.debug("%s %s failed:\n%s", obj_id, step, traceback.format_exc())
            break
        result.seconds[step] = time.perf_counter() - start
        result.ran.append(step)
        manifest[step] = {"hash": plan.step_hash(step), "seconds": round(result.seconds[step], 3), **info}
        if step in ("sdf", "surface"):
            manifest[step]["seed"] = plan.seed
        write_json(files.manifest, manifest)
    return result


def shard_ids(obj_ids: Sequence[str], shard: str | None) -> list[str]:
    """The ids of shard ``I/N`` (0 <= I < N): every N-th id of the sorted list, starting at I.

    Without a shard, all ids in the given order.
    """
    if shard in (None, "", "null"):
        return list(obj_ids)
    ids = sorted(obj_ids)
    try:
        index, count = (int(x) for x in str(shard).split("/"))
    except ValueError:
        raise ValueError(f"shard={shard!r} must look like I/N, e.g. shard=0/4") from None
    if not 0 <= index < count:
        raise ValueError(f"shard={shard!r}: need 0 <= I < N")
    return ids[index::count]


def write_failures(path: Path, results: Iterable[ShapeResult]) -> pd.DataFrame:
    """Replace the rows of the shapes just processed in ``failures.csv``; keep the others."""
    results = list(results)
    processed = {r.obj_id for r in results}
    old = pd.read_csv(path, dtype=str) if path.is_file() else pd.DataFrame(columns=["obj_id", "step", "error"])
    old = old[~old["obj_id"].isin(processed)]
    new = pd.DataFrame(
        [(r.obj_id, r.failed_step, r.error) for r in results if r.failed_step], columns=["obj_id", "step", "error"]
    )
    table = pd.concat([old, new], ignore_index=True) if len(old) else new
    with atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return table


def record_failures(root: Path, path: Path, results: Sequence[ShapeResult]) -> None:
    """Write this run's verdicts: its failures into ``path`` (:func:`write_failures`), and the shapes
    it processed dropped from the dataset's other failure files (an earlier sharded or whole-dataset
    run's), so each shape is listed at most once, by the run that processed it last. Done under a
    short per-dataset lock, as shards of one dataset run at the same time."""

    processed = {r.obj_id for r in results}
    with exclusive_section(root, ".failures.lock"):
        write_failures(path, results)
        for other in failure_files(root):
            if other == path or not processed:
                continue
            table = pd.read_csv(other, dtype=str)
            if table["obj_id"].isin(processed).any():
                with atomic_path(other) as tmp:
                    table[~table["obj_id"].isin(processed)].to_csv(tmp, index=False)


def run_preprocess(plan: PreprocessPlan, obj_ids: Sequence[str], workers: int = 1, shard: str | None = None) -> list[ShapeResult]:
    """Preprocess ``obj_ids`` (or the given shard of them) with ``workers`` processes.

    The workers die with this process (:mod:`sketch2shape.utils.workers`). SIGTERM, SIGHUP and
    Ctrl-C stop the run cleanly: pending shapes are cancelled, the workers are terminated, the
    failures of the finished shapes are recorded, and :class:`KeyboardInterrupt` (SIGINT) or
    :class:`~sketch2shape.utils.workers.Terminated` (SIGTERM/SIGHUP) is raised. Rerunning resumes.
    """
    from concurrent.futures import as_completed


    layout = DatasetLayout(Path(plan.root))
    ids = shard_ids(obj_ids, shard)
    write_json(layout.cameras, plan.cameras)
    results: dict[str, ShapeResult] = {}
    workers = max(1, min(int(workers), len(ids) or 1, os.cpu_count() or 1))
    progress = progress_bar(total=len(ids), desc=f"preprocess {layout.name}", unit="shape")

    def record(result: ShapeResult) -> None:
        results[result.obj_id] = result
        if result.failed_step:
            tqdm.write(f"FAILED {result.obj_id} at step {result.failed_step}: {result.error}")
        progress.update()

    pool, futures = None, []
    try:
        with terminate_on_signals():
            if workers == 1:
                for obj_id in ids:
                    record(preprocess_shape(plan, obj_id))
            else:
                pool = worker_pool(workers)
                futures = [pool.submit(preprocess_shape, plan, obj_id) for obj_id in ids]
                for future in as_completed(futures):
                    record(future.result())
                pool.shutdown()
                pool = None
    except BaseException as err:
        if isinstance(err, KeyboardInterrupt):
            log.warning("preprocessing interrupted (%s): %d of %d shapes finished; rerun the same command to resume",
                        str(err) or "Ctrl-C", len(results), len(ids))
        raise
    finally:
        if pool is not None:
            stop_pool(pool)
        progress.close()
        if shard in (None, "", "null"):
            failures_path = layout.failures
        else:
            index, count = str(shard).split("/")
            failures_path = layout.root / f"failures.shard{index}of{count}.csv"
        record_failures(layout.root, failures_path, [results[i] for i in ids if i in results])
    return [results[i] for i in ids]
