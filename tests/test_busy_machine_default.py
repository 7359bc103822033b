"""sketch2shape shortens OpenMP's spin-wait unless the user chose one (benchmarks/busy_machine.py
measures why), and torch started after it runs with that setting."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def spincount_seen(env_extra: dict[str, str]) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} | env_extra
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    code = "import sketch2shape, os, torch; torch.ones(4096, 64) @ torch.ones(64, 64); print(os.environ.get('GOMP_SPINCOUNT', 'unset'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


@pytest.mark.parametrize("env_extra, expected", [({}, "1000"), ({"GOMP_SPINCOUNT": "50000"}, "50000"), ({"OMP_WAIT_POLICY": "ACTIVE"}, "unset")])
def test_the_spin_count_defaults_to_short_unless_the_user_set_one(env_extra, expected):
    assert spincount_seen(env_extra) == expected
