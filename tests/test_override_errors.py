"""A mistyped key in a plain override, or a value of the wrong type for a typed key, ends a task in one
line before it starts (:mod:`sketch2shape.utils.overrides`), whichever way the task was started: no
Hydra block advising ``+trainer.max_epocs=1``, no traceback from deep inside the task."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from sketch2shape.utils.config import ConfigError
from sketch2shape.utils.hydra import config_dir, normalize_overrides
from sketch2shape.utils.overrides import check_overrides
from tests.conftest import REPO_ROOT

ENV = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
ENV["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])  # this checkout's package


def _run(*command: str, root) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command, f"paths.root_dir={root}"], cwd=REPO_ROOT, capture_output=True, text=True, env=ENV, timeout=120)


def _one_line_error(out: subprocess.CompletedProcess) -> str:
    assert out.returncode == 1, (out.returncode, out.stdout[-2000:], out.stderr[-2000:])
    assert "Traceback" not in out.stdout + out.stderr
    assert out.stdout == "" and len(out.stderr.strip().splitlines()) == 1, out.stderr
    return out.stderr.strip()


@pytest.mark.parametrize(("command", "start"), [
    (["scripts/train_deepsdf.py", "trainer.max_epocs=1"], "train_deepsdf: unknown trainer key 'max_epocs' (did you mean 'max_epochs'?); accepted: accelerator, "),
    (["-m", "sketch2shape", "train_deepsdf", "model.decoder.hiden_dim=3"], "train_deepsdf: unknown model.decoder key 'hiden_dim' (did you mean 'hidden_dim'?); accepted: "),
    (["-m", "sketch2shape.tasks.preprocess_data", "data=procedural_chair_4", "data.preprocess_sdf.num_sampels=1000"],
     "preprocess_data: unknown data.preprocess_sdf key 'num_sampels' (did you mean 'num_samples'?); accepted: "),
    (["scripts/optimize_sketch.py", "sede=3"], "optimize_sketch: unknown top-level key 'sede' (did you mean 'seed'?); accepted: "),
])
def test_a_mistyped_key_is_refused_in_one_line_with_the_key_it_means(command, start, tmp_path):
    message = _one_line_error(_run(*command, root=tmp_path))
    assert message.startswith(start), message
    typed = command[-1].split("=")[0]
    assert f"+{typed}" not in message  # not the advice to add the typo
    assert "_target_" not in message
    assert not (tmp_path / "logs").exists()  # stopped before the run folder was made


def test_without_a_close_key_the_message_says_how_to_add_one(tmp_path):
    message = _one_line_error(_run("scripts/train_deepsdf.py", "trainer.limit_train_batches=2", root=tmp_path))
    assert message.startswith("train_deepsdf: unknown trainer key 'limit_train_batches'; accepted: ")
    assert message.endswith("; to add a key the config does not list, write +trainer.limit_train_batches=2")


@pytest.mark.parametrize(("override", "message"), [
    ("seed=abc", "train_deepsdf: seed='abc' must be an integer (default: 42)"),
    ("+seed=abc", "train_deepsdf: seed='abc' must be an integer (default: 42)"),
    ("trainer.max_epochs=1.5", "train_deepsdf: trainer.max_epochs=1.5 must be an integer (default: 600)"),
    ("model.latent_reg=small", "train_deepsdf: model.latent_reg='small' must be a number (default: 0.0001)"),
    ("datamodule.skip_missing=yes", "train_deepsdf: datamodule.skip_missing='yes' must be true or false (default: false)"),
])
def test_a_value_of_the_wrong_type_is_refused_in_one_line(override, message, tmp_path):
    assert _one_line_error(_run("scripts/train_deepsdf.py", "+data=procedural_chair_16", override, root=tmp_path)) == message


def test_an_unknown_group_option_keeps_hydras_list_of_options(tmp_path):
    out = _run("scripts/train_deepsdf.py", "+data=procedural_chair_61", "trainer.max_epocs=1", root=tmp_path)
    assert out.returncode == 1
    assert "Could not find 'data/procedural_chair_61'" in out.stderr and "procedural_chair_16" in out.stderr


def test_the_checks_answer_before_torch_is_imported():
    code = (
        "import json, sys\nfrom sketch2shape.cli import main\n"
        "messages = []\n"
        "for argv in (['train_deepsdf', 'trainer.max_epocs=1'], ['optimize_deepsdf', 'optim.steps=many']):\n"
        "    try:\n        main(argv)\n    except SystemExit as stop:\n        messages.append(stop.code)\n"
        "print(json.dumps({'messages': messages, 'torch': 'torch' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["messages"][0].startswith("train_deepsdf: unknown trainer key 'max_epocs' (did you mean 'max_epochs'?)")
    assert result["messages"][1] == "optimize_deepsdf: optim.steps='many' must be an integer (default: 800)"
    assert not result["torch"]


def _check(config_name: str, *overrides: str) -> None:
    conf_dir = config_dir()
    check_overrides(normalize_overrides(list(overrides), conf_dir, config_name), conf_dir, config_name)


@pytest.mark.parametrize("overrides", [
    ["+data=procedural_chair_16", "trainer.max_epochs=1"],
    ["data=procedural_chair_4", "seed=7", "model.latent_reg=1", "trainer.devices=auto", "trainer.deterministic=warn"],
    ["trainer.devices=[0,1]", "ckpt_path=/some/last.ckpt", "seed=null", "seed=${oc.env:SEED,1}"],
    ["+trainer.limit_train_batches=2", "++trainer.limit_val_batches=0.5", "trainer.limit_train_batches=3"],
    ["seed=1,2,3", "trainer.max_epochs=range(1,4)", "datamodule.skip_missing=true"],
    ["+experiment/train_deepsdf=shapenet_chair_16", "trainer=cpu", "trainer.max_epochs=2"],
    ["data=procedural_chair_61"],  # Hydra lists the options
    ["~report", "hydra.run.dir=somewhere", "hydra/job_logging=disabled"],
])
def test_valid_overrides_pass(overrides):
    _check("train_deepsdf", *overrides)


def test_the_optimize_tasks_keep_their_boolean_words():
    """``train=Train`` (the original README) and the other words ``as_bool`` reads pass the check."""
    _check("optimize_deepsdf", "+data=procedural_chair_16", "ckpt_path=x.ckpt", "train=Train", "split=val", "prior_idx=False", "save_mesh=no")
    with pytest.raises(ConfigError, match=r"^train='maybe' must be true or false \(also yes, 1, on, train, no, 0, off\) \(default: true\)$"):
        _check("optimize_deepsdf", "train=maybe")


def test_check_overrides_refuses_each_kind():
    with pytest.raises(ConfigError, match=r"^unknown data\.splits key 'trian' \(did you mean 'train'\?\)"):
        _check("preprocess_data", "data=procedural_chair_4", "data.splits.trian=3")
    with pytest.raises(ConfigError, match=r"^seed='a' must be an integer"):
        _check("train_deepsdf", "seed=1,a")  # each value of a sweep
    with pytest.raises(ConfigError, match=r"^model\.decoder\.weight_norm=1 must be true or false \(default: true\)$"):
        _check("train_deepsdf", "model.decoder.weight_norm=1")
