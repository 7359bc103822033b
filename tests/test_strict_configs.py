"""Strict configs: a key that nothing reads is refused, naming the key, its node and the accepted keys.

Hydra refuses ``data.preprocess_sdf.num_sampels=1000`` but adds ``+data.preprocess_sdf.num_sampels=1000``
without complaint; every ``from_config`` helper goes through :mod:`sketch2shape.utils.config`, and
the scripts turn its :class:`ConfigError` into a one-line exit.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from sketch2shape.utils.config import ConfigError, check_keys, dataclass_kwargs, field_names, find_config_error, plain
from tests.conftest import REPO_ROOT

SDF_KEYS = "near_surface_stds, num_samples, shell, sign_method, uniform_fraction, visibility_resolution, visibility_views"


def _script(tmp_path, script: str, *overrides: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, f"scripts/{script}", *overrides, f"paths.root_dir={tmp_path}"],
        cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300,
    )


# --- the scripts -------------------------------------------------------------------------------------
def test_preprocess_refuses_a_misspelled_added_key_in_one_line_before_any_work(tmp_path):
    out = _script(tmp_path, "preprocess_data.py", "data=procedural_chair_4", "+data.preprocess_sdf.num_sampels=1000")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "preprocess_data: unknown data.preprocess_sdf key 'num_sampels' (did you mean 'num_samples'?); "
        f"accepted: {SDF_KEYS}"
    )
    assert "Traceback" not in out.stdout + out.stderr
    assert not (tmp_path / "data").exists()  # stopped before the dataset was made or locked


def test_preprocess_refuses_a_node_of_no_step(tmp_path):
    out = _script(tmp_path, "preprocess_data.py", "data=procedural_chair_4", "+data.preprocess_sfd.num_samples=1000")
    assert out.returncode == 1
    assert out.stderr.strip().startswith("preprocess_data: unknown data node(s) preprocess_sfd: no preprocessing step reads them; accepted: preprocess_mesh, ")
    assert not (tmp_path / "data").exists()


def test_optimize_deepsdf_refuses_a_misspelled_optim_key_before_loading_anything(tmp_path):
    # no ckpt_path: the settings are checked before the checkpoint is looked for
    out = _script(tmp_path, "optimize_deepsdf.py", "data=procedural_chair_4", "+optim.stpes=5")
    assert out.returncode == 1
    assert out.stderr.strip() == (
        "optimize_deepsdf: unknown optim key 'stpes' (did you mean 'steps'?); accepted: clamp, keep_best, lr, lr_decay, "
        "lr_decay_every, points_per_step, prior_weight, steps"
    )


# --- the helper --------------------------------------------------------------------------------------
def test_check_keys_names_the_key_the_node_and_the_accepted_keys():
    check_keys({"a": 1}, ("a", "b"), "node")
    check_keys([], (), "node")
    with pytest.raises(ConfigError) as info:
        check_keys({"a": 1, "resolutoin": 2}, ("a", "resolution", "strides"), "mesh")
    assert str(info.value) == "unknown mesh key 'resolutoin' (did you mean 'resolution'?); accepted: a, resolution, strides"
    assert isinstance(info.value, ValueError)  # callers catching ValueError still do
    with pytest.raises(ConfigError, match=r"^unknown loss keys 'x', 'yy'; accepted: \(none\)$"):
        check_keys(["x", "yy"], (), "loss")


def test_dataclass_kwargs_accepts_fields_and_extra_and_refuses_the_rest():
    from sketch2shape.optimize.latent import SDF_OPTIM_KEYS, LatentOptimSettings

    node = OmegaConf.create({"steps": 5, "points_per_step": 100})
    assert dataclass_kwargs(LatentOptimSettings, node, "optim", extra=SDF_OPTIM_KEYS) == {"steps": 5}
    with pytest.raises(ConfigError, match=r"unknown optim key 'points_per_step'; accepted: keep_best, lr, "):
        dataclass_kwargs(LatentOptimSettings, node, "optim")
    assert dataclass_kwargs(LatentOptimSettings, None, "optim") == {}
    assert field_names(LatentOptimSettings)[0] == "steps"
    with pytest.raises(TypeError):
        field_names(dict)


def test_plain_and_find_config_error():
    assert plain(OmegaConf.create({"a": [1, {"b": "${c}"}], "c": 2})) == {"a": [1, {"b": 2}], "c": 2}
    assert plain({"x": 1}) == {"x": 1} and plain(None) is None
    inner = ConfigError("unknown x key 'y'; accepted: z")
    try:
        try:
            raise inner
        except ConfigError as err:
            raise RuntimeError("Error in call to target 'SiameseModule'") from err  # as Hydra's instantiate wraps it
    except RuntimeError as wrapped:
        assert find_config_error(wrapped) is inner
    assert find_config_error(ValueError("other")) is None


# --- every from_config helper uses it ----------------------------------------------------------------
@pytest.mark.parametrize(("build", "message"), [
    ("mesh", r"unknown mesh key 'resolutoin' \(did you mean 'resolution'\?\); accepted: batch_size, coarse_to_fine, level, margin, resolution, strides"),
    ("optim", r"unknown optim key 'lr_dacay' \(did you mean 'lr_decay'\?\)"),
    ("render", r"unknown render key 'max_step' \(did you mean 'max_steps'\?\); accepted: bound, .*max_steps, .*resolution"),
    ("pairs", r"unknown pairs key 'shard_sise' \(did you mean 'shard_size'\?\)"),
    ("siamese_loader", r"unknown model.loader key 'cach' \(did you mean 'cache'\?\)"),
    ("encoder_loader", r"unknown model.loader key 'batchsize' \(did you mean 'batch_size'\?\)"),
    ("augment", r"unknown model.augment.jitter key 'grid_size' \(did you mean 'grid'\?\); accepted: grid, magnitude, prob"),
    ("encoder_loss", r"unknown model.loss key 'sdf_weigth' \(did you mean 'sdf_weight'\?\)"),
    ("sdf_step", r"unknown data.preprocess_sdf key 'shel' \(did you mean 'shell'\?\)"),
    ("sketch_step", r"unknown data.preprocess_synthetic key 'stroke' \(did you mean 'stroke_width'\?\)"),
])
def test_every_from_config_refuses_unknown_keys(build, message):
    from sketch2shape.data.augment import AugmentSettings
    from sketch2shape.data.preprocess.steps import sdf_settings, sketch_settings
    from sketch2shape.data.siamese_dataset import LoaderSettings
    from sketch2shape.data.sketch_code_dataset import SketchCodeLoaderSettings
    from sketch2shape.data.sketch_pairs import PairSettings
    from sketch2shape.models.sketch_encoder_module import loss_settings
    from sketch2shape.optimize.latent import LatentOptimSettings
    from sketch2shape.optimize.normals import tracing_settings
    from sketch2shape.optimize.reconstruct import MeshSettings

    calls = {
        "mesh": lambda: MeshSettings.from_config({"resolutoin": 64}),
        "optim": lambda: LatentOptimSettings.from_config({"lr_dacay": 0.1}),
        "render": lambda: tracing_settings({"resolution": 64, "max_step": 10}),
        "pairs": lambda: PairSettings.from_config({"shard_sise": 3}),
        "siamese_loader": lambda: LoaderSettings.from_config({"cach": False}),
        "encoder_loader": lambda: SketchCodeLoaderSettings.from_config({"batchsize": 4}),
        "augment": lambda: AugmentSettings.from_config({"jitter": {"grid_size": 3}}),
        "encoder_loss": lambda: loss_settings({"sdf_weigth": 1.0}),
        "sdf_step": lambda: sdf_settings({"shel": 0.01}),
        "sketch_step": lambda: sketch_settings({"stroke": 2}),
    }
    with pytest.raises(ConfigError, match=message):
        calls[build]()


def test_known_keys_still_pass_through():
    from sketch2shape.data.preprocess.steps import sdf_settings
    from sketch2shape.optimize.normals import tracing_settings
    from sketch2shape.optimize.reconstruct import MeshSettings

    assert MeshSettings.from_config(OmegaConf.create({"resolution": 64, "strides": [4, 1]})).strides == (4, 1)
    assert tracing_settings({"resolution": 64, "max_steps": 10}).max_steps == 10
    assert sdf_settings({"num_samples": 10, "near_surface_stds": [0.1]}).near_surface_stds == (0.1,)


def test_preprocess_plan_checks_every_step_and_its_values(tmp_path):
    from sketch2shape.data.preprocess.runner import plan_from_config
    from sketch2shape.utils.hydra import compose

    def data(*overrides):
        return compose("preprocess_data", ["data=procedural_chair_4", f"paths.root_dir={tmp_path}", *overrides]).data

    assert plan_from_config(data(), [], seed=0).step_settings["surface"] == {"num_samples": 50000}
    with pytest.raises(ConfigError, match=r"unknown data.preprocess_mesh key 'paddin' \(did you mean 'padding'\?\); accepted: min_kept_area, min_kept_faces, padding$"):
        plan_from_config(data("+data.preprocess_mesh.paddin=0.1"), [], seed=0)
    with pytest.raises(ConfigError, match=r"unknown data.preprocess_normals key 'resolution'; accepted: \(none\)"):
        plan_from_config(data("+data.preprocess_normals.resolution=64"), [], seed=0)
    with pytest.raises(ConfigError, match=r"data.preprocess_sdf: sign_method='parity'; accepted: auto, winding, visibility"):
        plan_from_config(data("data.preprocess_sdf.sign_method=parity"), [], seed=0)


def test_eval_methods_are_checked_per_kind():
    from sketch2shape.eval.sketch_to_shape import check_method, method_settings

    cfg = OmegaConf.create({
        "methods": {
            "ok": {"kind": "deepsdf", "about": "x"},
            "typo": {"kind": "sketch", "silhouete_weight": 3.0},
            "wrong_kind": {"kind": "deepsdf", "sketch_views": [1]},
            "bad_optim": {"kind": "sketch", "optim": {"step": 3}},
        },
        "sketch": {"sketch_views": [13], "render": {"resolution": 64}, "optim": {"steps": 2}},
        "deepsdf": {"init": "nearest", "optim": {"steps": 2, "points_per_step": 100, "clamp": 0.1}},
    })
    assert check_method(cfg, "ok")["optim"]["points_per_step"] == 100
    with pytest.raises(ConfigError, match=r"unknown methods.typo key 'silhouete_weight' \(did you mean 'silhouette_weight'\?\)"):
        method_settings(cfg, "typo")
    with pytest.raises(ConfigError, match=r"unknown methods.wrong_kind key 'sketch_views'; accepted: about, init, init_points, kind, optim"):
        method_settings(cfg, "wrong_kind")
    with pytest.raises(ConfigError, match=r"unknown methods.bad_optim.optim \(sketch.optim\) key 'step' \(did you mean 'steps'\?\)"):
        check_method(cfg, "bad_optim")


@pytest.mark.parametrize(("task", "overrides"), [
    ("optimize_deepsdf", []),
    ("optimize_deepsdf", ["+experiment/optimize_deepsdf=cpu"]),
    ("optimize_deepsdf", ["+experiment/optimize_deepsdf=demo"]),
    ("optimize_normals", []),
    ("optimize_sketch", []),
    ("optimize_sketch", ["+experiment/optimize_sketch=demo"]),
    ("eval_sketch_to_shape", []),
    ("eval_sketch_to_shape", ["+experiment/eval_sketch_to_shape=demo"]),
    ("traverse_latent", []),
])
def test_the_shipped_configs_pass_the_checks(tmp_path, task, overrides):
    """Every node the strict helpers read in the shipped configs (and their experiments) is accepted."""
    from sketch2shape.eval.sketch_to_shape import check_method
    from sketch2shape.optimize.latent import SDF_OPTIM_KEYS
    from sketch2shape.optimize.normals import NORMAL_LOSS_KEYS, tracing_settings
    from sketch2shape.optimize.reconstruct import MeshSettings, run_settings
    from sketch2shape.optimize.sketch import SketchLoss
    from sketch2shape.utils.hydra import compose

    cfg = compose(task, [f"paths.root_dir={tmp_path}", "paths.output_dir=" + str(tmp_path / "out"), *overrides])
    if task == "traverse_latent":
        MeshSettings.from_config(cfg.mesh)
        return
    optim, _, _ = run_settings(cfg, SDF_OPTIM_KEYS if task == "optimize_deepsdf" else ())
    assert (optim is None) == (task == "eval_sketch_to_shape")
    if "render" in cfg:
        tracing_settings(cfg.render)
    if task == "optimize_normals":
        check_keys(plain(cfg.loss), NORMAL_LOSS_KEYS, "loss")
    if task == "optimize_sketch":
        SketchLoss.from_config(cfg.loss)
    for name in cfg.get("methods") or {}:
        if cfg.methods[name] is not None:
            check_method(cfg, name)
