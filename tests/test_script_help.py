"""Every task's --help starts with what the task does and at least two example command lines, written with
the command it was given (``python scripts/<task>.py``, ``sketch2shape <task>``, ``python -m sketch2shape <task>``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (REPO / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_says_what_the_task_does_and_shows_two_examples(script: str) -> None:
    out = subprocess.run([sys.executable, f"scripts/{script}", "--help"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert lines and lines[0].strip() and not lines[0].startswith(("python", "usage", "==")), lines[:3]
    examples = [line for line in lines[:20] if line.strip().startswith(f"python scripts/{script}")]
    assert len(examples) >= 2, out.stdout[:1500]
    assert "powered by Hydra" in out.stdout  # then Hydra's own help: groups and the config


CHECKOUT_FIRST = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def test_every_task_help_shows_the_installed_command_and_needs_no_torch() -> None:
    """``sketch2shape <task> --help`` for every task in one process: the examples start with
    ``sketch2shape <task>``, and neither the task modules nor Hydra's help import torch (seconds)."""
    code = (
        "import contextlib, io, json, sys\n"
        "from sketch2shape.cli import main\nfrom sketch2shape.tasks import TASKS\n"
        "helps = {}\n"
        "for task in TASKS:\n"
        "    out = io.StringIO()\n"
        "    with contextlib.redirect_stdout(out):\n"
        "        try:\n            main([task, '--help'])\n        except SystemExit as stop:\n            assert not stop.code, (task, stop.code)\n"
        "    helps[task] = out.getvalue()\n"
        "print(json.dumps({'helps': helps, 'torch': 'torch' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=CHECKOUT_FIRST, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert not result["torch"], "a task's --help imported torch: its module should import its work inside main()"
    for task, text in result["helps"].items():
        examples = [line for line in text.splitlines()[:20] if line.strip().startswith(f"sketch2shape {task} ")]
        assert len(examples) >= 2 and "python scripts/" not in text, f"{task}:\n{text[:1500]}"


def test_python_m_sketch2shape_help_shows_that_command() -> None:
    out = subprocess.run([sys.executable, "-m", "sketch2shape", "train_deepsdf", "--help"], cwd=REPO, env=CHECKOUT_FIRST, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "\npython -m sketch2shape train_deepsdf +data=procedural_chair_16\n" in out.stdout, out.stdout[:800]


def test_task_help_writes_the_examples_with_the_command_given() -> None:
    from sketch2shape.utils.hydra import task_help

    doc = "Train it.\n\nsketch2shape train_deepsdf +data=x\n  sketch2shape train_deepsdf\nsketch2shape train_deepsdfx y\nsee sketch2shape train_deepsdf a=b"
    assert task_help(doc, "train_deepsdf", "python scripts/train_deepsdf.py") == (
        "Train it.\n\npython scripts/train_deepsdf.py +data=x\n  python scripts/train_deepsdf.py\nsketch2shape train_deepsdfx y\nsee sketch2shape train_deepsdf a=b"
    )
