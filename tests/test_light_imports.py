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


def test_a_user_drawing_comes_out_in_the_levels_of_the_training_sketches():
    """The sketch models see ink and paper as the synthetic training sketches draw them: a dark-mode
    drawing (light strokes on dark paper) normalized for the models has exactly those two levels."""
    import numpy as np

    from sketch2shape.data.user_sketch import normalize_sketch
    from sketch2shape.render.sketch import sketch_from_normal_map

    normals = np.full((64, 64, 3), 255, np.uint8)  # background: encoded like the preprocessed PNGs
    normals[16:48, 20:44] = (128, 128, 255)  # a square facing the camera
    training = sketch_from_normal_map(normals)
    dark_mode = np.full((256, 256), 30, np.uint8)
    dark_mode[60:200, 70:72] = dark_mode[60:200, 180:182] = dark_mode[60:62, 70:182] = dark_mode[198:200, 70:182] = 220
    user = normalize_sketch(dark_mode, name="dark.png")
    assert set(np.unique(training)) == set(np.unique(user)) == {0, 255}
    assert (user == 0).mean() < 0.5 and (training == 0).mean() < 0.5  # ink is the strokes, not the paper
