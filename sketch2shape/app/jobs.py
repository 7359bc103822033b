"""Reconstruction jobs: one worker thread, a bounded first-come first-served queue.

The reconstruction is CPU-bound and takes the whole machine, so running two at once would only
make both slower: one job runs at a time and the others wait in order, each told its place in
the queue (``position`` 1 = next). When ``max_queue`` jobs already wait, a new one is refused
(:class:`QueueFull`, HTTP 503) rather than promised a result in an hour. The worker is a
:class:`~concurrent.futures.ThreadPoolExecutor` with one thread: loading the models (``prepare``)
is its first task, and each job is a :class:`~concurrent.futures.Future` of it whose outcome
(a result, :class:`JobCancelled` or any other error) becomes the job's final state.

A running job publishes shapes as they exist (:meth:`Reporter.shape`): the encoder's *first*
shape long before the refinement ends, then the *refined* one. The page shows each as it
arrives (an event stream sends the job's state at each publication, so no shape is skipped even
when the next one follows quickly); ``mesh`` is always the newest usable one (the first while refining, the kept one when
done). The page may *stop* the refinement (:meth:`JobQueue.stop`, the job's ``stop`` event): the
job finishes at its next step with the best shape so far.

A job whose page went away must not hold the machine: the page reports progress by polling
(or an event stream, which counts as polling while it is open), and a job that nobody asked
about for ``abandon_after_s`` is cancelled, waiting or running; the page can also cancel it
explicitly. Cancelling a waiting job cancels its future; a running job stops at its next step.

Finished jobs keep their meshes (OBJ and GLB bytes) in memory for download; only the newest
``keep_jobs`` are kept.
"""

from __future__ import annotations

import io
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
import trimesh

log = logging.getLogger(__name__)

WAITING, LOADING, ENCODING, SEARCHING, REFINING, OPTIMIZING, MESHING = "queued", "loading", "encoding", "searching", "refining", "optimizing", "meshing"
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


@dataclass(eq=False)  # a job is its identity (positions in the queue compare jobs)
class Job:
    """One reconstruction request and its state, as :meth:`JobQueue.describe` reports it. Fields
    change under the queue's lock; ``stop`` is set when the page asks to stop the refinement."""

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
    cancel_reason: str | None = None  # set: cancelled (a running job stops at its next step)
    stop: threading.Event = field(default_factory=threading.Event)
    future: Future | None = None  # its run on the worker, until it finished
    meshes: dict[str, MeshFiles] = field(default_factory=dict)
    shape_seconds: dict[str, float] = field(default_factory=dict)  # when each shape was published, after the start
    current: str | None = None  # the shape ``mesh`` serves: the newest while running, the kept one when done
    info: dict[str, Any] | None = None
    snapshots: list[dict] = field(default_factory=list)  # the job's state when each shape was published (event streams send each)
    latent: torch.Tensor | None = None
    version: int = 0  # bumped on every change, so an event stream sends only news

    @property
    def view(self) -> int | None:
        """The view index of the newest sketch (None: estimated)."""
        return self.sketches[-1][1]

    def touch(self) -> None:
        """Note that the page asked about the job (it is not abandoned)."""
        self.last_seen = time.monotonic()


class Reporter:
    """What a runner gets: ``report(stage, step, terms)`` for progress (raises :class:`JobCancelled`
    once the job is cancelled), :meth:`shape` to publish a shape, :attr:`stop_requested`."""

    def __init__(self, queue: "JobQueue", job: Job) -> None:
        self.queue, self.job = queue, job

    def __call__(self, stage: str, step: int = 0, terms: dict[str, float] | None = None) -> None:
        with self.queue._lock:
            self.queue._raise_if_cancelled(self.job)
            job = self.job
            job.status, job.step = stage, step
            if terms and "loss" in terms:
                job.loss = terms["loss"]
                job.losses.append(terms["loss"])
            job.version += 1

    def shape(self, name: str, mesh: trimesh.Trimesh, info: dict[str, Any] | None = None) -> None:
        """Publish a shape (``first``, ``refined`` or ``optimized``); it becomes the job's ``mesh``.
        ``info`` (optional) replaces what the page shows about the answer. ValueError for another
        name, :class:`JobCancelled` once the job is cancelled."""
        if name not in SHAPES:
            raise ValueError(f"shape name {name!r}; accepted: {', '.join(SHAPES)}")
        with self.queue._lock:
            self.queue._raise_if_cancelled(self.job)
        files = MeshFiles.of(mesh)  # outside the lock: exporting takes a moment
        with self.queue._lock:
            job = self.job
            job.meshes[name] = files
            job.shape_seconds.setdefault(name, round(time.time() - (job.started or time.time()), 2))  # when it was first shown
            job.current = name
            if info is not None:
                job.info = info
            job.version += 1
            job.snapshots.append(self.queue.describe(job))  # the lock is reentrant

    @property
    def stop_requested(self) -> bool:
        """Whether the page asked to stop the refinement (keep the best shape so far)."""
        return self.job.stop.is_set()


# run(job, reporter) -> Outcome; the reporter raises JobCancelled to stop a cancelled job.
Runner = Callable[[Job, Reporter], Outcome]


class JobQueue:
    """The worker and its queue (see module docstring). Thread-safe.

    ``runner`` answers a job on the worker thread; ``prepare`` (optional) runs there first (loading
    the models: its error, if any, fails every job and is :attr:`prepare_error`). At most
    ``max_queue`` jobs wait, the newest ``keep_jobs`` finished ones are kept, and a job nobody
    asked about for ``abandon_after_s`` seconds is cancelled.
    """

    def __init__(self, runner: Runner, max_queue: int = 8, keep_jobs: int = 32, abandon_after_s: float = 60.0, prepare: Callable[[], None] | None = None) -> None:
        self.runner = runner
        self.prepare = prepare
        self.max_queue = max_queue
        self.keep_jobs = keep_jobs
        self.abandon_after_s = abandon_after_s
        self.jobs: OrderedDict[str, Job] = OrderedDict()  # in the order of submission: the queue's order
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        self._ready: Future | None = None  # prepare's run: done once the models are loaded (or failed to load)
        self._closed = False  # stop_worker was called

    # ---- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker: it runs ``prepare``, then the jobs in order. Idempotent."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sketch2shape-worker")
            self._ready = self._executor.submit(self._prepare)

    def stop_worker(self, timeout: float = 10.0) -> None:
        """Cancel every job (waiting ones at once, the running one at its next step), refuse new
        ones, and wait up to ``timeout`` seconds for the running one to end."""
        if self._executor is None:
            return
        with self._lock:
            self._closed = True
            for job_id in list(self.jobs):
                self.cancel(job_id, "the server is shutting down")
            running = [job.future for job in self.jobs.values() if job.future is not None]
        # Outside our lock, and nothing is queued any more: shutdown() has no future to cancel (and no _settle to call).
        self._executor.shutdown(wait=False)
        wait([self._ready, *running], timeout)

    @property
    def prepared(self) -> bool:
        """Whether ``prepare`` has run (successfully or not)."""
        return self._ready is not None and self._ready.done()

    @property
    def prepare_error(self) -> str | None:
        """Why ``prepare`` failed, or None (also while it runs)."""
        if not self.prepared or self._ready.exception() is None:
            return None
        err = self._ready.exception()
        return str(err) or type(err).__name__

    # ---- requests --------------------------------------------------------------------------
    def submit(self, sketches: Sequence[tuple[np.ndarray, int | None]], steps: int, start: torch.Tensor | None = None, stoppable: bool = True) -> Job:
        """Queue a job for ``sketches`` (normalized ``(sketch, view index or None)``). Raises
        :class:`QueueFull` when ``max_queue`` jobs wait, RuntimeError before :meth:`start` or
        after :meth:`stop_worker`."""
        with self._lock:
            if self._executor is None or self._closed:
                raise RuntimeError("the job queue is not running (the server is starting or shutting down)")
            waiting = len(self._waiting())
            if waiting >= self.max_queue:
                raise QueueFull(f"the server is busy: {waiting} sketches are waiting already (max_queue={self.max_queue}); try again in a minute")
            job = Job(uuid.uuid4().hex[:16], list(sketches), steps, start, stoppable=stoppable)
            job.future = self._executor.submit(self._run, job)
            job.future.add_done_callback(partial(self._settle, job))
            self.jobs[job.id] = job
            self._evict()
            return job

    def get(self, job_id: str, touch: bool = True) -> Job | None:
        """The job (None if unknown or evicted); ``touch`` notes that its page asked."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is not None and touch:
                job.touch()
            return job

    def cancel(self, job_id: str, reason: str = "cancelled by its page") -> Job | None:
        """Cancel a job: a waiting one ends now, a running one at its next step."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status in FINISHED:
                return job
            job.cancel_reason = reason
            if job.future is not None:
                job.future.cancel()  # succeeds while it waits: _settle finishes it at once
            return job

    def stop(self, job_id: str) -> Job | None:
        """Stop the refinement: the job finishes soon with the best shape so far (a waiting job
        will answer with its first shape only)."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.status in FINISHED:
                return job
            job.stop.set()
            job.version += 1
            return job

    def position(self, job: Job) -> int:
        """0 while running or finished, else the place in the queue (1 = next)."""
        with self._lock:
            waiting = self._waiting()
            return waiting.index(job) + 1 if job in waiting else 0

    def describe(self, job: Job) -> dict:
        """The job's state as the API sends it (see :mod:`sketch2shape.app.server`)."""
        with self._lock:
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
                # stage: "first" (the encoder's shape, nothing better yet), "refining" (the code search or
                # the refinement running, the first shape shown), "done" (the kept shape).
                stage = "done" if job.status == DONE else ("refining" if job.status in (SEARCHING, REFINING, MESHING) and job.current == "first" else job.current)
                mesh = {"obj": f"{base}/mesh.obj", "glb": f"{base}/mesh.glb", "shape": job.current, "stage": stage, "vertices": current.vertices, "faces": current.faces}
            return {
                "id": job.id, "status": job.status, "position": self.position(job), "step": job.step, "steps": job.steps,
                "loss": job.loss, "losses": list(job.losses), "error": job.error, "view": job.view, "views": [v for _, v in job.sketches],
                "vertices": current.vertices if current else 0, "faces": current.faces if current else 0,
                "seconds": elapsed, "models_loading": not self.prepared, "version": job.version,
                "stoppable": job.stoppable and job.status not in FINISHED, "stop_requested": job.stop.is_set(),
                "mesh": mesh, "shapes": shapes, "result": job.info,
            }

    def counts(self) -> dict:
        """``{"running": 0 or 1, "waiting": n}``."""
        with self._lock:
            waiting = len(self._waiting())
            return {"running": sum(j.status not in FINISHED for j in self.jobs.values()) - waiting, "waiting": waiting}

    # ---- the worker ------------------------------------------------------------------------
    def _waiting(self) -> list[Job]:  # with the lock
        return [job for job in self.jobs.values() if job.status == WAITING]

    def _evict(self) -> None:  # with the lock
        finished = [j for j in self.jobs.values() if j.status in FINISHED]
        for job in finished[: max(0, len(finished) - self.keep_jobs)]:
            del self.jobs[job.id]

    def _raise_if_cancelled(self, job: Job) -> None:  # with the lock
        if job.cancel_reason is None and time.monotonic() - job.last_seen > self.abandon_after_s:
            job.cancel_reason = f"nobody asked for this job for {self.abandon_after_s:.0f} s (the page was closed)"
        if job.cancel_reason is not None:
            raise JobCancelled(job.cancel_reason)

    def _prepare(self) -> None:
        if self.prepare is not None:
            try:
                self.prepare()
            except Exception as err:  # reported by /api/health (prepare_error) and to every job
                log.error("loading the models failed: %s", err)
                raise

    def _run(self, job: Job) -> Outcome:
        """A job on the worker thread: the runner's outcome; any exception is the job's (_settle)."""
        with self._lock:
            self._raise_if_cancelled(job)  # cancelled or abandoned while it waited
            job.status, job.started = LOADING, time.time()
            job.version += 1
        if self.prepare_error:
            raise RuntimeError(self.prepare_error)
        outcome = self.runner(job, Reporter(self, job))
        kept = job.meshes.get(outcome.kept)
        if kept is None or kept.faces == 0:
            raise ValueError("the shape has no surface; draw the sketch again or give another view")
        return outcome

    def _settle(self, job: Job, future: Future) -> None:
        """The job's final state from its future (done callback): done, cancelled or failed."""
        err = None if future.cancelled() else future.exception()
        if err is not None and not isinstance(err, JobCancelled):  # any failure is the job's, never the server's
            log.error("job %s failed: %s", job.id, err, exc_info=err)
        with self._lock:
            if future.cancelled():
                self._finish(job, CANCELLED, job.cancel_reason)
            elif isinstance(err, JobCancelled):
                self._finish(job, CANCELLED, str(err))
            elif err is not None:
                self._finish(job, FAILED, str(err) or type(err).__name__)
            else:
                outcome = future.result()
                job.current, job.latent = outcome.kept, outcome.latent
                if outcome.info is not None:
                    job.info = outcome.info
                self._finish(job, DONE)

    def _finish(self, job: Job, status: str, error: str | None = None) -> None:  # with the lock
        job.status, job.error, job.finished = status, error, time.time()
        job.version += 1
        job.start = job.future = None  # the code to refine and the finished future are no longer needed
        self._evict()
