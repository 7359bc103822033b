"""The Python API and the command line around the shipped models: models by name, a drawing in any
form, a view in any form, many sketches in one process, and no training stack at inference."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from sketch2shape.cli import main
from sketch2shape.pretrained import DEFAULT_MODEL, PRETRAINED_MODELS, pretrained_model, release_model_for
from sketch2shape.render.camera import GRID_VIEWS, Camera, grid_view, view_camera
from tests.conftest import REPO_ROOT

EXAMPLE = REPO_ROOT / "examples" / "dining_chair.png"


def test_a_view_is_accepted_in_every_form_a_user_writes():
    assert view_camera(None) is None and view_camera("auto") is None and view_camera(" ") is None
    assert view_camera(13) == view_camera("13") == grid_view(13) == Camera(azimuth_deg=30.0, elevation_deg=35.0)
    assert view_camera(np.int64(4)) == Camera(azimuth_deg=120.0, elevation_deg=15.0)
    assert view_camera("-40, 25") == view_camera((-40, 25)) == view_camera([-40.0, 25.0]) == Camera(azimuth_deg=-40.0, elevation_deg=25.0)
    camera = Camera(azimuth_deg=10.0, elevation_deg=5.0, resolution=64)
    assert view_camera(camera) is camera
    assert [grid_view(i).elevation_deg for i in (0, 11, 12, GRID_VIEWS - 1)] == [15.0, 15.0, 35.0, 35.0]


@pytest.mark.parametrize(("view", "message"), [
    (24, "view 24: the preprocessing views are 0..23"),
    (-1, "view -1: the preprocessing views are 0..23"),
    ("front", "view 'front': expected a view index 0..23, AZIMUTH,ELEVATION in degrees, or auto"),
    ("1,2,3", "view (1.0, 2.0, 3.0): expected"),
    ((30, 95), "view 30,95: elevation_deg=95.0 must be within +-89"),
    (True, "view True: expected"),
    (2.5, "view 2.5: expected"),
])
def test_a_bad_view_is_refused_naming_the_value_and_the_forms(view, message):
    with pytest.raises(ValueError, match="^" + re.escape(message)):
        view_camera(view)


def test_models_are_named_and_an_unknown_name_lists_the_accepted_ones():
    assert DEFAULT_MODEL in PRETRAINED_MODELS and "procedural" in PRETRAINED_MODELS
    assert pretrained_model(None).name == DEFAULT_MODEL
    assert pretrained_model("procedural").available()  # the model free of third-party data always ships
    assert release_model_for("procedural_chair_1024").name == "procedural" and release_model_for("chair_mix").name == "chairs"
    assert release_model_for("procedural_chair_16") is None
    with pytest.raises(ValueError, match="model 'chair' is not a pretrained model; accepted: chairs, procedural"):
        pretrained_model("chair")


def test_the_api_answers_a_path_an_rgb_array_and_a_pil_image_alike():
    from sketch2shape.data.user_sketch import SketchInputError
    from sketch2shape.optimize.sketch_to_shape import SketchToShape

    method = SketchToShape.pretrained("procedural", device="cpu", mesh={"resolution": 48})
    by_path = method.reconstruct(EXAMPLE, view=13)
    rgb = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    by_array = method.reconstruct(rgb, view=(30, 35))
    by_image = method.reconstruct(Image.open(EXAMPLE), view="30,35")
    assert by_path.camera == by_array.camera == by_image.camera and not by_path.view_estimated
    assert by_path.best.latent.shape == (method.deepsdf.latent_dim,) and len(by_path.best.mesh.faces) > 100
    assert float((by_path.best.latent - by_array.best.latent).abs().max()) < 1e-5
    assert float((by_path.best.latent - by_image.best.latent).abs().max()) < 1e-5
    with pytest.raises(SketchInputError, match=r"sketch: an array of shape \(4, 4, 2\) is not a drawing"):
        method.reconstruct(np.zeros((4, 4, 2), np.uint8))
    with pytest.raises(SketchInputError, match="no strokes|no lines|blank"):
        method.reconstruct(np.full((64, 64), 255, np.uint8))
    with pytest.raises(ValueError, match="model 'nope' is not a pretrained model"):
        SketchToShape.pretrained("nope")


def test_answering_a_sketch_imports_no_training_stack():
    code = ("import sys\nfrom sketch2shape.optimize.sketch_to_shape import SketchToShape\n"
            f"SketchToShape.pretrained('procedural', device='cpu', mesh={{'resolution': 32}}).reconstruct({str(EXAMPLE)!r}, view=13)\n"
            "print(sorted(m for m in ('lightning', 'pytorch_lightning', 'hydra', 'pandas', 'matplotlib') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_reconstruct_answers_many_sketches_in_one_process_and_records_the_bad_one(tmp_path, capsys):
    folder = tmp_path / "sketches"
    folder.mkdir()
    for name in ("a.png", "b.png"):
        (folder / name).write_bytes(EXAMPLE.read_bytes())
    (folder / "broken.png").write_text("not an image")
    sketches = sorted(str(p) for p in folder.iterdir())
    with pytest.raises(SystemExit) as stop:
        main(["reconstruct", *sketches, "--out-dir", str(tmp_path / "meshes"), "--resolution", "48", "--view", "13", "--model", "procedural"])
    assert stop.value.code == 1  # one sketch failed; the others are written
    rows = list(csv.DictReader((tmp_path / "meshes" / "summary.csv").open()))
    assert [row["sketch"] for row in rows] == sketches
    status = {os.path.basename(row["sketch"]): row["status"] for row in rows}
    assert status["a.png"] in ("ok", "poor match") and status["b.png"] == status["a.png"]
    assert status["broken.png"].startswith("error: ") and "broken.png is not an image PIL can read" in status["broken.png"]
    for stem in ("a", "b"):
        assert (tmp_path / "meshes" / f"{stem}.obj").stat().st_size > 1000 and (tmp_path / "meshes" / f"{stem}_preview.png").is_file()
    assert not (tmp_path / "meshes" / "broken.obj").exists()
    out = capsys.readouterr().out
    assert "2 of 3 meshes written" in out and "a.png" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["a.png", "b.png"], "2 sketches: pass --out-dir DIR"),
    (["a.png", "b.png", "--out", "x.obj", "--out-dir", "d"], "pass --out (one sketch, the mesh file) or --out-dir (a folder for the meshes), not both"),
    (["a.png", "--model", "chair"], "--model 'chair' is not a pretrained model; accepted: chairs, procedural"),
    (["a.png", "--model", "procedural", "--deepsdf-ckpt", "d.pt", "--encoder-ckpt", "e.pt"], "pass --model (a pretrained model) or your own"),
])
def test_reconstruct_refuses_contradicting_outputs_and_models_before_loading_anything(argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        main(["reconstruct", *argv])
    assert message in str(stop.value.code)
    assert not list(tmp_path.iterdir())


def test_a_checkpoint_path_holding_equals_gets_the_quoting_hint():
    from sketch2shape.utils.config import ConfigError
    from sketch2shape.utils.hydra import config_dir
    from sketch2shape.utils.overrides import check_overrides

    with pytest.raises(ConfigError, match=r"""ckpt_path=logs/c/epoch=0003\.ckpt: the value holds '=', .* 'ckpt_path="logs/c/epoch=0003\.ckpt"'"""):
        check_overrides(["ckpt_path=logs/c/epoch=0003.ckpt"], config_dir(), "optimize_deepsdf")
    check_overrides(['ckpt_path="logs/c/epoch=0003.ckpt"'], config_dir(), "optimize_deepsdf")  # quoted: accepted
    from omegaconf import OmegaConf

    filename = OmegaConf.load(REPO_ROOT / "sketch2shape" / "conf" / "callbacks" / "default.yaml").model_checkpoint.filename
    assert "=" not in filename  # the names training writes need no quoting


def test_the_app_takes_a_model_by_name_and_refuses_a_misspelled_one():
    from sketch2shape.app.engine import model_paths
    from sketch2shape.app.settings import AppSettings

    assert model_paths(AppSettings(model="procedural"))["deepsdf"] == pretrained_model("procedural").files()["deepsdf"]
    with pytest.raises(ValueError, match="app model 'procedurl' is not a pretrained model; accepted: chairs, procedural"):
        AppSettings(model="procedurl")
    with pytest.raises(ValueError, match="names a pretrained model: leave deepsdf_ckpt"):
        AppSettings(model="procedural", deepsdf_ckpt="my.ckpt")


def test_reviewed_edges_of_the_api(tmp_path):
    """Settings and inputs a caller writes naturally: search=False turns the search off; a float
    RGB array in 0..1 reads as the same drawing as its uint8 form; one extra drawing may be given
    alone; output names never collide in --out-dir."""
    from argparse import Namespace

    from sketch2shape.cli import reconstruct_outputs
    from sketch2shape.optimize.sketch_to_shape import CodeSearch, SketchToShape, SketchToShapeSettings, prepare_sketch

    assert not SketchToShapeSettings.from_config({"search": False}).search.enabled
    assert SketchToShapeSettings.from_config({"search": True}).search == CodeSearch()
    rgb = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    assert np.array_equal(prepare_sketch(rgb.astype(np.float32) / 255.0), prepare_sketch(rgb))
    assert np.array_equal(prepare_sketch(rgb.astype(np.uint16) * 257), prepare_sketch(rgb))
    with pytest.raises(ValueError, match="search neighbours=2.5: must be a whole number >= 0"):
        CodeSearch(neighbours=2.5)
    assert CodeSearch(neighbours=6.0).neighbours == 6 and CodeSearch(blends=0.5).blends == (0.5,)
    method = SketchToShape.pretrained("procedural", device="cpu", mesh={"resolution": 32}, search=False)
    assert not method.search.enabled
    alone = method.reconstruct(EXAMPLE, view=13, refine=False, also=str(EXAMPLE))
    paired = method.reconstruct(EXAMPLE, view=13, refine=False, also=[(str(EXAMPLE), 13)])
    assert alone.first.search_score is not None and paired.first.search_score is not None  # both drawings were scored
    names = reconstruct_outputs(Namespace(out_dir=str(tmp_path), out=None, sketches=["a.png", "a_2.png", "a.jpg", "A.png"]))
    assert [p.name for p in names] == ["a.obj", "a_2.obj", "a_3.obj", "A_4.obj"]
