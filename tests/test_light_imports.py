"""What a command does before its slow imports needs no torch (about 2 s to import): reading and
checking a user's sketch file, and refusing a bad one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT


def run_python(code: str, cwd=REPO_ROOT) -> subprocess.CompletedProcess:
    """``python -c code`` with this checkout first on the path."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("module", ["sketch2shape.data.user_sketch", "sketch2shape.data.hand_drawn", "sketch2shape.utils.ink"])
def test_the_sketch_modules_do_not_import_torch(module):
    out = run_python(f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:5])")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"importing {module} imports torch: {out.stdout.strip()}"


def test_reconstruct_refuses_a_bad_sketch_file_without_importing_torch(tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    for sketch, message in [(tmp_path / "missing.png", "missing.png does not exist"), (tmp_path, "is a folder, not an image file"),
                            (bad, "notes.png is not an image PIL can read")]:
        code = (
            "import sys\nfrom sketch2shape.cli import main\n"
            f"try:\n    main(['reconstruct', {str(sketch)!r}, '--out', {str(tmp_path / 'a.obj')!r}])\n"
            "except SystemExit as stop:\n    print(stop.code)\n"
            "print('torch imported:', 'torch' in sys.modules)\n"
        )
        out = run_python(code, cwd=tmp_path)
        assert out.returncode == 0, out.stderr[-2000:]
        assert message in out.stdout and "torch imported: False" in out.stdout, out.stdout


def test_the_renderer_draws_sketches_with_the_shared_ink_and_paper():
    from sketch2shape.render import sketch
    from sketch2shape.utils import ink

    assert (sketch.INK, sketch.PAPER) == (ink.INK, ink.PAPER) == (0, 255)
