"""The code keeps the lint rules of ``[tool.ruff]`` in pyproject.toml (pyflakes, pycodestyle
errors, sorted imports), so an unused import or a stray name fails CI, not a later reader."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT


def test_the_code_passes_ruff():
    out = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "sketch2shape", "tests", "benchmarks", "scripts"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
