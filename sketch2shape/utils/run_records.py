"""Small JSON records a run leaves next to its outputs, and their one-line descriptions.

* the stage record (``<run>/<stage>/.done``), written by ``sketch2shape demo`` and
  ``train-release`` when a stage finishes: its wall time and when it ran
  (:func:`write_stage_record`, :func:`read_stage_record`). A later run that reuses the stage
  reports the recorded time instead of the 0 s its own run took.
* the training summary (``<run>/training_summary.json``), written at the end of every training by
  :class:`sketch2shape.models.callbacks.TrainingSummary`: how many epochs ran of how many planned
  and what stopped the training, notably the time cap ``trainer.max_time``
  (:func:`read_training_summary`, :func:`describe_training`).

Both are written atomically (:mod:`sketch2shape.utils.io`) and read without torch or Lightning.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sketch2shape.utils.io import write_json

STAGE_RECORD = ".done"
TRAINING_SUMMARY = "training_summary.json"

# What ended a training (TrainingSummary's "stopped_by"), as the report and the task's last line say it.
STOP_REASONS = {
    "max_epochs": "all planned epochs ran",
    "max_time": "stopped by the time cap",
    "max_steps": "stopped at trainer.max_steps",
    "other": "stopped early (early stopping or a callback)",
}


def now_iso() -> str:
    """The local time now, to the second, with its UTC offset (``2026-12-01T03:26:55+00:00``)."""
    return datetime.now().astimezone().isoformat(timespec="seconds")


def write_stage_record(path: str | os.PathLike, seconds: float, started: str, finished: str | None = None) -> dict:
    """Record a finished stage at ``path`` (its ``.done`` marker), atomically: ``seconds`` of wall
    time, ``started`` and ``finished`` (ISO times; ``finished`` defaults to now). Returns the record."""
    record = {"seconds": round(float(seconds), 1), "started": started, "finished": finished or now_iso()}
    write_json(path, record)
    return record


def read_stage_record(path: str | os.PathLike) -> dict | None:
    """The record of a finished stage (``seconds``, ``started``, ``finished``), ``None`` when the
    stage has not finished (no marker). A marker of an older version holds only the seconds: its
    ``finished`` is then the file's modification time and ``started`` is ``None``."""
    path = Path(path)
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except ValueError:
        record = None
    if isinstance(record, (int, float)) or record is None:  # the old marker: "12.3\n" (or unreadable: time unknown)
        seconds = float(record) if isinstance(record, (int, float)) else None
        finished = datetime.fromtimestamp(path.stat().st_mtime).astimezone().isoformat(timespec="seconds")
        return {"seconds": seconds, "started": None, "finished": finished}
    return record


def read_training_summary(run_dir: str | os.PathLike) -> dict | None:
    """The training summary a training wrote into ``run_dir`` (:data:`TRAINING_SUMMARY`), ``None``
    when there is none (not a training, or one from before these summaries)."""
    path = Path(run_dir) / TRAINING_SUMMARY
    return json.loads(path.read_text()) if path.is_file() else None


def describe_training(summary: dict) -> str:
    """One line for a training summary: ``64 of 100 planned epochs in 360 s: stopped by the time
    cap (trainer.max_time: 0:06:00)`` or ``100 of 100 planned epochs in 250 s: all planned
    epochs ran``. A resumed run says from which epoch it went on."""
    epochs, planned = summary.get("epochs"), summary.get("max_epochs")
    text = f"{epochs} of {planned} planned epochs" if planned not in (None, -1) else f"{epochs} epochs"
    if summary.get("first_epoch"):
        text += f" (resumed at epoch {summary['first_epoch']})"
    if summary.get("seconds") is not None:
        text += f" in {summary['seconds']:.0f} s"
    reason = summary.get("stopped_by", "other")
    text += f": {STOP_REASONS.get(reason, reason)}"
    if reason == "max_time" and summary.get("max_time_s") is not None:
        text += f" (trainer.max_time: {timedelta(seconds=round(summary['max_time_s']))})"
    return text


def portable_command(argv: Sequence[str], environ: dict[str, str] | None = None) -> str:
    """A command line as a model card records it: the folder named by ``$SKETCH2SHAPE_ROOT`` (the
    data and runs folder) written as that variable and the home folder as ``~``, so the card names
    no folder of the machine it was trained on. ``argv``: the words, program first."""
    environ = dict(os.environ if environ is None else environ)
    swaps = []
    if environ.get("SKETCH2SHAPE_ROOT"):
        swaps.append((str(Path(environ["SKETCH2SHAPE_ROOT"]).expanduser().resolve()), "$SKETCH2SHAPE_ROOT"))
        swaps.append((environ["SKETCH2SHAPE_ROOT"].rstrip("/"), "$SKETCH2SHAPE_ROOT"))
    if environ.get("HOME") and environ["HOME"] not in ("/", ""):
        swaps.append((environ["HOME"].rstrip("/"), "~"))
    words = []
    for word in argv:
        for folder, name in swaps:
            if word == folder or word.startswith(folder + "/") or ("=" + folder) in word:
                word = word.replace(folder, name, 1)
                break
        words.append(word)
    return " ".join(words)
