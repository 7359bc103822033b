"""Reconstruction jobs: one worker thread, a bounded first-come first-served queue.

The reconstruction is CPU-bound and takes the whole machine, so running two at once would only
make both slower: one job runs at a time and the others wait in order, each told its place in
the queue (``position`` 1 = next). When ``max_queue`` jobs already wait, a new one is refused
(:class:`QueueFull`, HTTP 503) rather than promised a result in an hour.

A running job publishes shapes as they exist (:meth:`Reporter.shape`): the encoder's *first*
shape long before the refinement ends, then the *refined* one. The page shows each as it
arrives (an event stream sends the job's state at each publication, so no shape is skipped even
when the next one follows quickly); ``mesh`` is always the newest usable one (the first while refining, the kept one when
done). The page may *stop* the refinement (:meth:`JobQueue.stop`): the job finishes at its
next step with the best shape so far.

A job whose page went away must not hold the machine: the page reports progress by polling
(or an event stream, which counts as polling while it is open), and a job that nobody asked
about for ``abandon_after_s`` is cancelled, waiting or running; the page can also cancel it
explicitly. Cancellation of a running job takes effect at its next step.

Finished jobs keep their meshes (OBJ and GLB bytes) in memory for download; only the newest
``keep_jobs`` are kept.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import traceback
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import trimesh

log = logging.getLogger(__name__)

WAITING, LOADING, ENCODING, REFINING, OPTIMIZING, MESHING = "queued", "loading", "encoding", "refining", "optimizing", "meshing"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)
SHAPES = ("first", "refined", "optimized")  # names of published shapes: encoder's, refined, demo's optimized one


class JobCancelled(Exception):
    """Raised inside a running job once it was cancelled (by its page, or abandoned)."""


class QueueFull(RuntimeError):
    """Too many jobs wait already."""


@dataclass
class MeshFiles:
    """A published shape: its OBJ (with vertex normals) and GLB files, and its vertex and face counts."""

    obj: bytes
    glb: bytes
    vertices: int
    faces: int

    @classmethod
    def of(cls, mesh: trimesh.Trimesh) -> "MeshFiles":
        """Export ``mesh`` (takes a moment for a large mesh: call it outside locks)."""
        text = mesh.export(file_type="obj", include_normals=True)
        buffer = io.BytesIO()
        mesh.export(buffer, file_type="glb")
        return cls(text.encode() if isinstance(text, str) else text, buffer.getvalue(), len(mesh.vertices), len(mesh.faces))


@dataclass
class Outcome:
    """What a runner returns: the name of the published shape to keep, its code, and what the page
    shows about the answer (``describe``, ``poor_match``, the view, ...)."""

    kept: str
    latent: torch.Tensor | None = None
    info: dict[str, Any] | None = None


@dataclass
class Job:
    id: str
    sketches: list[tuple[np.ndarray, int | None]]  # normalized sketches and their view indices (None: estimate it)
    steps: int
    start: torch.Tensor | None = None  # the code to refine (demo mode), or None
    stoppable: bool = True  # whether stopping keeps a shape (encoder mode)
    status: str = WAITING
    step: int = 0
    loss: float | None = None
    losses: list[float] = field(default_factory=list)
    error: str | None = None
    created: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.monotonic)
    started: float | None = None
    finished: float | None = None
    cancel_reason: str | None = None
    stop_requested: bool = False
    meshes: dict[str, MeshFiles] = field(default_factory=dict)
    shape_seconds: dict[str, float] = field(default_factory=dict)  # when each shape was published, after the start
    current: str | None = None  # the shape ``mesh`` serves: the newest while running, the kept one when done
    info: dict[str, Any] | None = None
    snapshots: list[dict] = field(default_factory=list)  # the job's state when each shape was published (event streams send each)
    latent: torch.Tensor | None = None
    version: int = 0  # bumped on every change, so an event stream sends only news

    @property
    def view(self) -> int | None:
        return self.sketches[-1][1]

    def touch(self) -> None:
        self.last_seen = time.monotonic()


class Reporter:
    """What a runner gets: ``report(stage, step, terms)`` for progress (raises :class:`JobCancelled`
    once the job is cancelled), :meth:`shape` to publish a shape, :attr:`stop_requested`."""

    def __init__(self, queue: "JobQueue", job: Job) -> None:
        self.queue, self.job = queue, job

    def _check(self) -> None:  # with the queue's lock
        job = self.job
        if job.cancel_reason is None and self.queue._abandoned(job):
            job.cancel_reason = f"nobody asked for this job for {self.queue.abandon_after_s:.0f} s (the page was closed)"
        if job.cancel_reason is not None:
            raise JobCancelled(job.cancel_reason)

    def __call__(self, stage: str, step: int = 0, terms: dict[str, float] | None = None) -> None:
        with self.queue._cond:
            self._check()
            job = self.job
            job.status, job.step = stage, step
            if terms and "loss" in terms:
                job.loss = terms["loss"]
                job.losses.append(terms["loss"])
            job.version += 1

    def shape(self, name: str, mesh: trimesh.Trimesh, info: dict[str, Any] | None = None) -> None:
        """Publish a shape (``first``, ``refined`` or ``optimized``); it becomes the job's ``mesh``."""
        if name not in SHAPES:
            raise ValueError(f"shape name {name!r}; accepted: {', '.join(SHAPES)}")
        with self.queue._cond:
            self._check()
        files = MeshFiles.of(mesh)  # outside the lock: exporting takes a moment
        with self.queue._cond:
            job = self.job
            job.meshes[name] = files
            job.shape_seconds[name] = round(time.time() - (job.started or time.time()), 2)
            job.current = name
            if info is not None:
                job.info = info
            job.version += 1
            job.snapshots.append(self.queue.describe(job))  # the condition's lock is reentrant

    @property
    def stop_requested(self) -> bool:
        return self.job.stop_requested


# run(job, reporter) -> Outcome; the reporter raises JobCancelled to stop a cancelled job.
Runner = Callable[[Job, Reporter], Outcome]


class JobQueue:
    """The worker thread and its queue (see module docstring). Thread-safe."""

    def __init__(self, runner: Runner, max_queue: int = 8, keep_jobs: int = 32, abandon_after_s: float = 60.0, prepare: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.prepare = prepare
        self.max_queue = max_queue
        self.keep_jobs = keep_jobs
        self.abandon_after_s = abandon_after_s
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.waiting: deque[Job] = deque()
        self.running: Job | None = None
        self.prepare_error: str | None = None
        self.prepared = False
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="sketch2shape-worker", daemon=True)
            self._thread.start()

    def stop_worker(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            for job in list(self.waiting) + ([self.running] if self.running else []):
                job.cancel_reason = "the server is shutting down"
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- requests --------------------------------------------------------------------------
    def submit(self, sketches: Sequence[tuple[np.ndarray, int | None]], steps: int, start: torch.Tensor | None = None, stoppable: bool = True) -> Job:
        with self._cond:
            if len(self.waiting) >= self.max_queue:
                raise QueueFull(f"the server is busy: {len(self.waiting)} sketches are waiting already (max_queue={self.max_queue}); try again in a minute")
            job = Job(uuid.uuid4().hex[:16], list(sketches), steps, start, stoppable=stoppable)
            self.jobs[job.id] = job
            self.waiting.append(job)
            self._evict()
            self._cond.notify_all()
            return job

    def get(self, job_id: str, touch: bool = True) -> Job | None:
        with self._cond:
            job = self.jobs.get(job_id)
            if job is not None and touch:
                job.touch()
            return job

    def cancel(self, job_id: str, reason: str = "cancelled by its page") -> Job | None:
        with self._cond:
            job = self.jobs.get(job_id)
            if job is None or job.status in FINISHED:
                return job
            job.cancel_reason = reason
            if job in self.waiting:
                self.waiting.remove(job)
                self._finish(job, CANCELLED, reason)
            self._cond.notify_all()
            return job

    def stop(self, job_id: str) -> Job | None:
        """Stop the refinement: the job finishes soon with the best shape so far (a waiting job
        will answer with its first shape only)."""
        with self._cond:
            job = self.jobs.get(job_id)
            if job is None or job.status in FINISHED:
                return job
            job.stop_requested = True
            job.version += 1
            return job

    def position(self, job: Job) -> int:
        """0 while running or finished, else the place in the queue (1 = next)."""
        with self._cond:
            try:
                return self.waiting.index(job) + 1
            except ValueError:
                return 0

    def describe(self, job: Job) -> dict:
        with self._cond:
            elapsed = None
            if job.started is not None:
                elapsed = round((job.finished or time.time()) - job.started, 2)
            base = f"/api/jobs/{job.id}"
            shapes = {
                name: {"obj": f"{base}/{name}.obj", "glb": f"{base}/{name}.glb", "vertices": files.vertices, "faces": files.faces, "seconds": job.shape_seconds.get(name)}
                for name, files in job.meshes.items()
            }
            current = job.meshes.get(job.current) if job.current else None
            mesh = None
            if current is not None:
                # stage: "first" (the encoder's shape, nothing better yet), "refining" (refinement running,
                # the first shape shown), "done" (the kept shape).
                stage = "done" if job.status == DONE else ("refining" if job.status in (REFINING, MESHING) and job.current == "first" else job.current)
                mesh = {"obj": f"{base}/mesh.obj", "glb": f"{base}/mesh.glb", "shape": job.current, "stage": stage, "vertices": current.vertices, "faces": current.faces}
            return {
                "id": job.id, "status": job.status, "position": self.position(job), "step": job.step, "steps": job.steps,
                "loss": job.loss, "losses": list(job.losses), "error": job.error, "view": job.view, "views": [v for _, v in job.sketches],
                "vertices": current.vertices if current else 0, "faces": current.faces if current else 0,
                "seconds": elapsed, "models_loading": not self.prepared, "version": job.version,
                "stoppable": job.stoppable and job.status not in FINISHED, "stop_requested": job.stop_requested,
                "mesh": mesh, "shapes": shapes, "result": job.info,
            }

    def counts(self) -> dict:
        with self._cond:
            return {"running": 1 if self.running else 0, "waiting": len(self.waiting)}

    # ---- the worker ------------------------------------------------------------------------
    def _evict(self) -> None:
        finished = [j for j in self.jobs.values() if j.status in FINISHED]
        for job in finished[: max(0, len(finished) - self.keep_jobs)]:
            del self.jobs[job.id]

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:
        job.status, job.error, job.finished = status, error, time.time()
        job.version += 1
        job.start = None  # the refined code is no longer needed
        self._evict()

    def _abandoned(self, job: Job) -> bool:
        return time.monotonic() - job.last_seen > self.abandon_after_s

    def _next(self) -> Job | None:
        with self._cond:
            while not self._stop:
                while self.waiting and self._abandoned(self.waiting[0]):
                    gone = self.waiting.popleft()
                    self._finish(gone, CANCELLED, f"nobody asked for this job for {self.abandon_after_s:.0f} s (the page was closed)")
                if self.waiting:
                    self.running = self.waiting.popleft()
                    self.running.status, self.running.started = LOADING, time.time()
                    self.running.version += 1
                    return self.running
                self._cond.wait(timeout=1.0)
            return None

    def _work(self) -> None:
        if self.prepare is not None:
            try:
                self.prepare()
            except Exception as err:  # reported by /api/health and to every job
                self.prepare_error = str(err)
                log.error("loading the models failed: %s", err)
        self.prepared = True
        while (job := self._next()) is not None:
            self._run(job)

    def _run(self, job: Job) -> None:
        try:
            if self.prepare_error:
                raise RuntimeError(self.prepare_error)
            outcome = self.runner(job, Reporter(self, job))
            kept = job.meshes.get(outcome.kept)
            if kept is None or kept.faces == 0:
                raise ValueError("the shape has no surface; draw the sketch again or give another view")
            with self._cond:
                job.current, job.latent = outcome.kept, outcome.latent
                if outcome.info is not None:
                    job.info = outcome.info
                self._finish(job, DONE)
        except JobCancelled as err:
            with self._cond:
                self._finish(job, CANCELLED, str(err))
        except Exception as err:  # any failure is the job's, never the server's
            log.error("job %s failed: %s\n%s", job.id, err, traceback.format_exc())
            with self._cond:
                self._finish(job, FAILED, str(err) or type(err).__name__)
        finally:
            with self._cond:
                self.running = None
                self._cond.notify_all()
