"""``device=`` is one setting of every task, honoured or refused in one line, never ignored."""

import os
import subprocess
import sys

import pytest
import torch
import yaml

from sketch2shape.utils.device import check_task_device, trainer_device_settings
from sketch2shape.utils.hydra import compose, config_dir
from tests.conftest import REPO_ROOT


def task_configs() -> list[str]:
    """Every Hydra task of scripts/ (a primary config with a task_name)."""
    names = []
    for path in sorted(config_dir().glob("*.yaml")):
        if "task_name" in (yaml.safe_load(path.read_text()) or {}):
            names.append(path.stem)
    return names


OWN_TASKS = ["preprocess_data", "copy_shapenet", "train_deepsdf", "train_siamese", "eval_siamese", "optimize_deepsdf",
             "optimize_normals", "optimize_sketch", "eval_sketch_to_shape", "traverse_latent"]


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_the_task_configs_declare_device_auto():
    for task in OWN_TASKS:
        assert compose(task).device == "auto", task


@pytest.mark.parametrize("task", task_configs())
def test_device_cuda_without_cuda_is_refused_in_one_line(task, no_cuda):
    for spelling in ("device=cuda", "+device=cuda", "++device=cuda"):
        cfg = compose(task, [spelling])
        with pytest.raises(SystemExit) as info:
            check_task_device(cfg, task)
        message = str(info.value.code)
        assert message == f"{task}: device='cuda' was requested but CUDA is not available; use device=cpu or device=auto"
    assert check_task_device(compose(task, ["device=cpu"]), task).type == "cpu"
    with pytest.raises(SystemExit, match="is not a device"):
        check_task_device(compose(task, ["device=tpu7"]), task)


def test_cpu_only_tasks_say_they_run_on_the_cpu(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert check_task_device(compose("preprocess_data", ["device=cuda"]), "preprocess_data", cpu_only=True).type == "cpu"
    assert "preprocess_data has no GPU code: it runs on the CPU (device=cuda)" in caplog.text


def test_device_sets_the_lightning_trainer(monkeypatch):
    trainer = compose("train_deepsdf").trainer
    assert trainer.accelerator == "auto"
    assert trainer_device_settings("auto", trainer) == {}
    assert trainer_device_settings("cpu", trainer) == {"accelerator": "cpu"}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert trainer_device_settings("cuda", trainer) == {"accelerator": "gpu"}
    assert trainer_device_settings("cuda:1", trainer) == {"accelerator": "gpu", "devices": [1]}
    # an explicit trainer.accelerator is kept; device must agree with it
    cpu_trainer = compose("train_deepsdf", ["trainer=cpu"]).trainer
    assert trainer_device_settings("cpu", cpu_trainer) == {}
    with pytest.raises(ValueError, match="device=cuda contradicts trainer.accelerator=cpu; set only one of them"):
        trainer_device_settings("cuda", cpu_trainer)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="trainer.accelerator=gpu but CUDA is not available"):
        trainer_device_settings("auto", compose("train_deepsdf", ["trainer=gpu"]).trainer)


def test_build_trainer_uses_device(tmp_path):
    from lightning.pytorch.accelerators import CPUAccelerator

    from sketch2shape.models.training import build_trainer

    cfg = compose("train_deepsdf", ["device=cpu", f"paths.output_dir={tmp_path}", "logger=csv"])
    assert isinstance(build_trainer(cfg).accelerator, CPUAccelerator)


@pytest.mark.parametrize("task", ["train_deepsdf", "train_siamese", "train_sketch_encoder"])
def test_float32_matmul_precision_is_a_trainer_setting_default_highest(tmp_path, task):
    """TF32 (``high``) and bf16 (``medium``) matmuls are opt-in; the Trainer never sees the key."""
    from sketch2shape.models.training import build_trainer

    before = torch.get_float32_matmul_precision()
    try:
        cfg = compose(task, ["device=cpu", f"paths.output_dir={tmp_path}", "logger=csv"])
        assert cfg.trainer.float32_matmul_precision == "highest"
        build_trainer(cfg)
        assert torch.get_float32_matmul_precision() == "highest"
        cfg = compose(task, ["device=cpu", f"paths.output_dir={tmp_path}", "logger=csv", "trainer.float32_matmul_precision=high"])
        build_trainer(cfg)
        assert torch.get_float32_matmul_precision() == "high"
        cfg = compose(task, ["device=cpu", f"paths.output_dir={tmp_path}", "trainer.float32_matmul_precision=tf32"])
        with pytest.raises(ValueError, match=r"trainer.float32_matmul_precision='tf32'; accepted: highest, high, medium"):
            build_trainer(cfg)
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.parametrize("script", ["train_deepsdf.py", "preprocess_data.py"])
def test_script_with_device_cuda_and_no_cuda_exits_with_one_line(tmp_path, script):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(
        [sys.executable, f"scripts/{script}", "data=procedural_chair_4", "+device=cuda", f"paths.root_dir={tmp_path}"],
        cwd=REPO_ROOT, capture_output=True, text=True, env=env, timeout=300,
    )
    task = script.removesuffix(".py")
    assert out.returncode == 1
    assert out.stderr.strip() == f"{task}: device='cuda' was requested but CUDA is not available; use device=cpu or device=auto"
    assert not (tmp_path / "data").exists()  # stopped before touching the data


def test_a_misspelled_trainer_key_added_with_plus_is_refused(tmp_path):
    """Hydra refuses ``trainer.max_epochz=1`` itself; with ``+`` the key gets in, and build_trainer
    refuses it before Lightning sees it (naming the close match)."""
    from sketch2shape.models.training import build_trainer
    from sketch2shape.utils.config import ConfigError

    cfg = compose("train_deepsdf", ["device=cpu", f"paths.output_dir={tmp_path}", "+trainer.max_epochz=1"])
    with pytest.raises(ConfigError, match=r"unknown trainer key 'max_epochz' \(did you mean 'max_epochs'\?\)"):
        build_trainer(cfg)


def test_a_task_without_its_data_stops_with_one_line(tmp_path):
    out = subprocess.run([sys.executable, "scripts/train_deepsdf.py", "data=procedural_chair_4", f"paths.root_dir={tmp_path}"],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("train_deepsdf: ") and "metainfo.csv does not exist" in out.stderr
