"""The app's method settings come from the method's one definition unless app.yaml sets them."""

import pytest

from sketch2shape.app.settings import load_settings
from sketch2shape.optimize.sketch_to_shape import SketchToShapeSettings


def test_the_shipped_app_yaml_leaves_the_method_settings_to_the_method():
    assert load_settings().method == SketchToShapeSettings()


def test_a_setting_given_overrides_only_itself(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text("steps: 5\nsilhouette_weight: 2.0\nresolution: 64\n")
    method, default = load_settings(path).method, SketchToShapeSettings()
    assert method.refine.steps == 5 and method.refine.loss.silhouette_weight == 2.0 and method.mesh.resolution == 64
    assert method.refine.resolution == default.refine.resolution and method.refine.loss.anchor_weight == default.refine.loss.anchor_weight
    assert method.min_iou == default.min_iou and method.view_search == default.view_search
    # a command-line flag (--threads etc.) given as None keeps the file's value
    assert load_settings(path, steps=None).method.refine.steps == 5


def test_a_misspelled_app_key_is_refused(tmp_path):
    path = tmp_path / "app.yaml"
    path.write_text("step: 5\n")
    with pytest.raises(ValueError, match=r"unknown keys \['step'\]"):
        load_settings(path)


def test_steps_per_job_follow_the_method_or_optimize_sketch_in_demo_mode(tmp_path):
    from sketch2shape.app.settings import AppSettings
    from sketch2shape.utils.hydra import compose

    assert AppSettings().steps_per_job == SketchToShapeSettings().refine.steps  # encoder mode: the method's
    demo = AppSettings(siamese_ckpt=str(tmp_path / "siamese.ckpt"))
    assert demo.demo_mode and demo.steps_per_job == compose("optimize_sketch").optim.steps
    assert AppSettings(siamese_ckpt=str(tmp_path / "siamese.ckpt"), steps=7).steps_per_job == 7
