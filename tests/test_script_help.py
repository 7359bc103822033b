"""Every script's --help starts with what the task does and at least two example command lines."""

from __future__ import annotations

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
