"""One preprocessing run per dataset (or per shard) at a time: ``flock`` on files in the dataset folder.

* ``<dataset>/.preprocess.lock``: a run over the whole dataset (or a list of ``obj_ids``) holds it
  exclusively; sharded runs (``shard=I/N``) hold it shared, so the shards of an array job run
  side by side but never next to a whole-dataset run.
* ``<dataset>/.preprocess.shard<I>of<N>.lock``: held exclusively by the run of that shard.

The holder of an exclusive lock writes its pid, host, start time and command line into the lock
file, so a run that finds the lock taken says which run holds it. ``flock`` locks are released by
the kernel when their holder dies (also on ``kill -9``), so a killed run never leaves a stale lock.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)

LOCK_NAME = ".preprocess.lock"
LOCK_MODES = ("fail", "wait")


class DatasetBusyError(RuntimeError):
    """Another preprocessing run holds the lock (raised with ``lock=fail``)."""


def shard_lock_name(shard: str) -> str:
    index, count = str(shard).split("/")
    return f".preprocess.shard{int(index)}of{int(count)}.lock"


def holder_info(shard: str | None = None) -> dict:
    """What a lock holder writes into its lock file."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _dt.datetime.now().isoformat(timespec="seconds"),
        "shard": shard,
        "command": " ".join(sys.argv),
    }


def describe_holder(path: Path) -> str:
    """``pid 123 on host, started 2024-01-01T10:00:00 (shard 0/4)`` from a lock file, or a fallback."""
    try:
        info = json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        info = {}
    if not info.get("pid"):
        return f"a run that holds {path}"
    text = f"pid {info['pid']} on {info.get('host', '?')}, started {info.get('started', '?')}"
    if info.get("shard"):
        text += f" (shard {info['shard']})"
    return text


def _try_lock(handle: IO, operation: int) -> bool:
    try:
        fcntl.flock(handle.fileno(), operation | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def busy_holders(root: Path) -> list[str]:
    """Who holds the preprocessing locks of the dataset at ``root`` now (descriptions)."""
    holders = []
    for path in sorted(root.glob(".preprocess.shard*of*.lock")):
        with open(path, "a+") as handle:
            if _try_lock(handle, fcntl.LOCK_EX):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            else:
                holders.append(describe_holder(path))
    main = root / LOCK_NAME
    if not holders and main.is_file():
        holders.append(describe_holder(main))
    return holders


@dataclass
class DatasetLock:
    """The preprocessing lock of one dataset folder; use as a context manager.

    ``mode``: ``fail`` raises :class:`DatasetBusyError` naming the holder when another run holds
    the lock; ``wait`` logs who holds it and waits until it is released.
    """

    root: Path
    shard: str | None = None
    mode: str = "fail"
    poll_seconds: float = 1.0
    _handles: list[IO] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        if self.mode not in LOCK_MODES:
            raise ValueError(f"lock={self.mode!r}; accepted: {', '.join(LOCK_MODES)}")
        if self.shard in ("", "null"):
            self.shard = None

    @property
    def exclusive(self) -> bool:
        """Whether this run holds the whole dataset (not a shard of it)."""
        return self.shard is None

    def _acquire(self, path: Path, operation: int, write_info: bool) -> None:
        handle = open(path, "a+")
        waited = False
        while not _try_lock(handle, operation):
            holders = "; ".join(busy_holders(self.root)) or f"another run (lock {path})"
            what = f"shard {self.shard} of " if self.shard else ""
            if self.mode == "fail":
                handle.close()
                raise DatasetBusyError(
                    f"another preprocessing run is working on {what}{self.root}: {holders}. Wait for it to finish "
                    f"(or stop it), or run with lock=wait to start when it is done"
                )
            if not waited:
                log.warning("waiting for the preprocessing run holding %s: %s", path, holders)
                waited = True
            time.sleep(self.poll_seconds)
        if waited:
            log.info("lock %s acquired", path)
        if write_info:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps(holder_info(self.shard)) + "\n")
            handle.flush()
        self._handles.append(handle)

    def acquire(self) -> "DatasetLock":
        """Take the dataset lock (and the shard's), or fail / wait as ``mode`` says."""
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            if self.exclusive:
                self._acquire(self.root / LOCK_NAME, fcntl.LOCK_EX, write_info=True)
            else:
                self._acquire(self.root / LOCK_NAME, fcntl.LOCK_SH, write_info=False)
                self._acquire(self.root / shard_lock_name(self.shard), fcntl.LOCK_EX, write_info=True)
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        """Release every lock this object holds (also done by the kernel when the process dies)."""
        while self._handles:
            handle = self._handles.pop()
            with contextlib.suppress(OSError):
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()

    def __enter__(self) -> "DatasetLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def exclusive_section(root: Path, name: str = ".create.lock") -> Iterator[None]:
    """A short critical section every run of the dataset waits for (e.g. creating the dataset)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / name, "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
