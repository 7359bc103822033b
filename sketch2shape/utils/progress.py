"""Progress output that suits where it goes: live bars in a terminal, a few lines in a file.

A tqdm bar redraws about ten times a second. In a terminal each redraw replaces the last; written
to a file or a pipe (``sketch2shape demo > demo.log 2>&1``, a batch job, CI) every redraw stays, and
a demo's log grew to hundreds of kilobytes of them. :func:`progress_bar` is tqdm with the same
arguments; when its stream is not a terminal it redraws at most every :data:`QUIET_INTERVAL`
seconds, and a transient bar (``leave=False``) appears only once it has run that long and then
stays as one finished line instead of being erased with spaces. Lightning's bar has the same rule
through :func:`sketch2shape.models.training.build_trainer` (one line per epoch, at most every
:data:`QUIET_INTERVAL` seconds: :class:`sketch2shape.models.callbacks.EpochProgress`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import IO, Any

from tqdm import tqdm

QUIET_INTERVAL = 30.0  # seconds between progress lines when the output is not a terminal


def interactive(stream: IO | None = None) -> bool:
    """Whether ``stream`` (default: ``sys.stderr``, where tqdm writes) is a terminal."""
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def progress_bar(iterable: Iterable | None = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)``, sparse when its ``file`` (default ``sys.stderr``) is not a
    terminal: a redraw at most every :data:`QUIET_INTERVAL` seconds, and ``leave=False`` bars shown
    only after that long and kept as a line. Explicit ``mininterval`` / ``delay`` win."""
    if not interactive(kwargs.get("file")):
        kwargs.setdefault("mininterval", QUIET_INTERVAL)
        if kwargs.get("leave") is False:
            kwargs["leave"] = True
            kwargs.setdefault("delay", QUIET_INTERVAL)
    return tqdm(iterable, **kwargs)
