"""Reconstruction jobs: one worker thread, a bounded first-come first-served queue.

The optimization is CPU-bound and takes the whole machine, so running two at once would only
make both slower: one job runs at a time and the others wait in order, each told its place in
the queue (``position`` 1 = next). When ``max_queue`` jobs already wait, a new one is refused
(:class:`QueueFull`, HTTP 503) rather than promised a result in an hour.

A job whose page went away must not hold the machine: the page reports progress by polling
(or an event stream, which counts as polling while it is open), and a job that nobody asked
about for ``abandon_after_s`` is cancelled, waiting or running; the page can also cancel it
explicitly. Cancellation of a running job takes effect at its next optimization step.

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

import numpy as np
import torch
import trimesh

log = logging.getLogger(__name__)

WAITING, LOADING, OPTIMIZING, MESHING, DONE, FAILED, CANCELLED = "queued", "loading", "optimizing", "meshing", "done", "failed", "cancelled"
FINISHED = (DONE, FAILED, CANCELLED)

# run(job, progress) -> (mesh, latent); progress(stage, step, terms) raises JobCancelled to stop.
Runner = Callable[["Job", Callable[[str, int, dict[str, float]], None]], tuple[trimesh.Trimesh, torch.Tensor]]


class JobCancelled(Exception):
    """Raised inside a running job once it was cancelled (by its page, or abandoned)."""


class QueueFull(RuntimeError):
    """Too many jobs wait already."""


@dataclass
class Job:
    id: str
    sketches: list[tuple[np.ndarray, int]]  # normalized sketches and their view indices (refinements have several)
    steps: int
    start: torch.Tensor | None = None  # the code to refine, or None
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
    obj: bytes | None = None
    glb: bytes | None = None
    vertices: int = 0
    faces: int = 0
    latent: torch.Tensor | None = None
    version: int = 0  # bumped on every change, so an event stream sends only news

    @property
    def view(self) -> int:
        return self.sketches[-1][1]

    def touch(self) -> None:
        self.last_seen = time.monotonic()


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

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            for job in list(self.waiting) + ([self.running] if self.running else []):
                job.cancel_reason = "the server is shutting down"
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- requests --------------------------------------------------------------------------
    def submit(self, sketches: Sequence[tuple[np.ndarray, int]], steps: int, start: torch.Tensor | None = None) -> Job:
        with self._cond:
            if len(self.waiting) >= self.max_queue:
                raise QueueFull(f"the server is busy: {len(self.waiting)} sketches are waiting already (max_queue={self.max_queue}); try again in a minute")
            job = Job(uuid.uuid4().hex[:16], list(sketches), steps, start)
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
            return {
                "id": job.id, "status": job.status, "position": self.position(job), "step": job.step, "steps": job.steps,
                "loss": job.loss, "losses": list(job.losses), "error": job.error, "view": job.view, "views": [v for _, v in job.sketches],
                "vertices": job.vertices, "faces": job.faces, "seconds": elapsed, "models_loading": not self.prepared,
                "mesh": {"obj": f"/api/jobs/{job.id}/mesh.obj", "glb": f"/api/jobs/{job.id}/mesh.glb"} if job.status == DONE else None,
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
        def progress(stage: str, step: int, terms: dict[str, float]) -> None:
            with self._cond:
                if job.cancel_reason is None and self._abandoned(job):
                    job.cancel_reason = f"nobody asked for this job for {self.abandon_after_s:.0f} s (the page was closed)"
                if job.cancel_reason is not None:
                    raise JobCancelled(job.cancel_reason)
                job.status, job.step = stage, step
                if "loss" in terms:
                    job.loss = terms["loss"]
                    job.losses.append(terms["loss"])
                job.version += 1

        try:
            if self.prepare_error:
                raise RuntimeError(self.prepare_error)
            mesh, latent = self.runner(job, progress)
            if len(mesh.faces) == 0:
                raise ValueError("the optimized shape has no surface; draw the sketch again or pick another view")
            text = mesh.export(file_type="obj")
            obj = text.encode() if isinstance(text, str) else text
            buffer = io.BytesIO()
            mesh.export(buffer, file_type="glb")
            with self._cond:
                job.obj, job.glb, job.latent = obj, buffer.getvalue(), latent
                job.vertices, job.faces = len(mesh.vertices), len(mesh.faces)
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
