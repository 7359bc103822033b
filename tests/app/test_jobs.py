"""The job queue on its own (no server, no models): a failed model load, shutting down."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sketch2shape.app.jobs import CANCELLED, FAILED, FINISHED, JobQueue, Outcome

SKETCHES = [(np.zeros((4, 4), np.uint8), None)]


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def endless(job, report) -> Outcome:
    """A runner that refines until it is cancelled."""
    while True:
        report("refining", job.step + 1)
        time.sleep(0.01)


@pytest.fixture
def queues():
    """Make JobQueues; each is stopped at the end (a worker thread left running would keep the process alive)."""
    made: list[JobQueue] = []

    def make(*args, **kwargs) -> JobQueue:
        made.append(JobQueue(*args, **kwargs))
        return made[-1]

    yield make
    for queue in made:
        queue.stop_worker()


def test_a_failed_model_load_fails_every_job(queues):
    def prepare() -> None:
        raise OSError("no model file at nowhere.pt")

    queue = queues(endless, prepare=prepare)
    with pytest.raises(RuntimeError, match="not running"):
        queue.submit(SKETCHES, 1)  # before start()
    queue.start()
    job = queue.submit(SKETCHES, 1)
    wait_until(lambda: job.status in FINISHED)
    assert (job.status, job.error, queue.prepare_error) == (FAILED, "no model file at nowhere.pt", "no model file at nowhere.pt")
    assert queue.prepared and queue.describe(job)["models_loading"] is False


def test_stopping_the_worker_cancels_waiting_and_running_jobs(queues):
    queue = queues(endless, max_queue=1)
    queue.start()
    running = queue.submit(SKETCHES, 1)
    wait_until(lambda: running.status == "refining")
    waiting = queue.submit(SKETCHES, 1)
    assert queue.counts() == {"running": 1, "waiting": 1} and queue.position(waiting) == 1
    start = time.monotonic()
    queue.stop_worker(timeout=5)
    assert time.monotonic() - start < 2  # the running job ended at its next step
    for job in (running, waiting):
        assert (job.status, job.error) == (CANCELLED, "the server is shutting down")
    assert queue.counts() == {"running": 0, "waiting": 0}
    with pytest.raises(RuntimeError, match="shutting down"):
        queue.submit(SKETCHES, 1)
