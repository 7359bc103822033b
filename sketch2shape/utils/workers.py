"""Worker processes that never outlive their parent, and a pool that stops cleanly on SIGTERM / Ctrl-C.

A ``ProcessPoolExecutor`` worker whose parent is killed (``kill -9``, the OOM killer, a SLURM
time limit) finishes its task and then waits forever for the next one, holding its memory. Pools
of this project therefore start their workers with :func:`pool_worker_init`:

* Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``: the kernel kills the worker when its parent dies;
* everywhere: a watchdog thread that exits the worker once ``os.getppid()`` changes (the parent
  died and the worker was re-parented), checked every ``poll_seconds``;
* SIGINT is ignored in workers: Ctrl-C reaches the whole process group, and the parent stops the
  pool itself (:func:`stop_pool`), so a worker is never interrupted half-way by the terminal.

:func:`terminate_on_signals` turns SIGTERM (and SIGHUP) into a :class:`Terminated` exception in the
main thread, so the ``try/finally`` that owns a pool can cancel its pending tasks and stop it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """The process got SIGTERM / SIGHUP; raised in the main thread by :func:`terminate_on_signals`.

    A ``KeyboardInterrupt`` subclass: code that already stops cleanly on Ctrl-C does so on SIGTERM.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def exit_code(err: BaseException) -> int:
    """The conventional exit status of a process stopped by ``err`` (128 + signal number)."""
    return 128 + (err.signum if isinstance(err, Terminated) else signal.SIGINT)


def _set_parent_death_signal(signum: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent: int, poll_seconds: float) -> None:
    while True:
        time.sleep(poll_seconds)
        if os.getppid() != parent:
            os._exit(1)  # the parent is gone: no cleanup, the outputs are written atomically


def die_with_parent(expected_parent: int | None = None, poll_seconds: float = 1.0) -> None:
    """Make the calling (worker) process exit when its parent process dies (see module docstring).

    ``expected_parent``: the parent's pid as the parent saw it; if the parent already died before
    this runs (a race at start-up), the worker exits at once.
    """
    parent = os.getppid()
    _set_parent_death_signal(signal.SIGKILL)
    if (expected_parent is not None and parent != expected_parent) or os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent, poll_seconds), daemon=True, name="parent-watchdog").start()


def pool_worker_init(expected_parent: int | None = None, poll_seconds: float = 1.0) -> None:
    """``initializer`` of a ``ProcessPoolExecutor``: die with the parent, leave Ctrl-C to the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent(expected_parent, poll_seconds)


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A ``ProcessPoolExecutor`` whose workers die with this process (:func:`pool_worker_init`)."""
    import multiprocessing

    context = multiprocessing.get_context()
    # With the forkserver start method the workers' parent is the fork server, not this process.
    expected = os.getpid() if context.get_start_method() in ("fork", "spawn") else None
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=pool_worker_init, initargs=(expected,))


def stop_pool(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now: cancel its pending tasks, terminate its workers (running tasks are
    abandoned) and wait for its manager thread.

    The pending futures are cancelled by ``shutdown(cancel_futures=True)`` rather than here:
    cancelling futures the pool still tracks makes its manager thread fail when it then finds the
    workers gone (``InvalidStateError`` in Python 3.11).
    """
    processes = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(Exception):
            process.terminate()
    for process in processes:
        with contextlib.suppress(Exception):
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
    if manager is not None:
        manager.join(timeout=10)


@contextlib.contextmanager
def terminate_on_signals(signums: Iterable[int] = (signal.SIGTERM, signal.SIGHUP)) -> Iterator[None]:
    """Within the block, the given signals raise :class:`Terminated` in the main thread.

    Outside the main thread (where Python cannot install handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Terminated(signum)

    previous = {}
    for signum in signums:
        if signal.getsignal(signum) == signal.SIG_IGN:
            continue  # e.g. SIGHUP under nohup: keep ignoring it
        with contextlib.suppress(ValueError, OSError):
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
