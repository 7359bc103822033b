"""Device selection from config: the same code runs on CPU and CUDA."""

from __future__ import annotations

import torch

ACCEPTED_DEVICES = ("auto", "cpu", "cuda", "cuda:<index>", "mps")


def resolve_device(name: str | None = "auto", key: str = "device") -> torch.device:
    """Map a config value to a ``torch.device``.

    ``auto`` picks CUDA when available, else CPU. Asking for CUDA on a machine without it is an
    error rather than a silent fallback, so a misconfigured GPU job does not quietly run for days
    on the CPU. Errors (``ValueError``) name the setting as ``key``: a config key (``device=cpu``)
    or a command-line flag (``--device cpu``, a key that starts with ``-``).
    """
    name = "auto" if name is None else str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")

    def setting(value: str) -> str:
        return f"{key} {value}" if key.startswith("-") else f"{key}={value}"

    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"{setting(repr(name))} is not a device; accepted: {', '.join(ACCEPTED_DEVICES)}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"{setting(repr(name))} was requested but CUDA is not available; use {setting('cpu')} or {setting('auto')}")
    return device


def lightning_accelerator(name: str | None = "auto") -> str:
    """The Lightning ``accelerator`` string matching :func:`resolve_device`."""
    device = resolve_device(name)
    return {"cuda": "gpu"}.get(device.type, device.type)


def check_task_device(cfg, task: str, cpu_only: bool = False) -> torch.device:
    """Validate a task's ``device=`` before it starts; a one-line ``SystemExit`` if it cannot be honoured.

    A missing key means ``auto``. ``cpu_only`` tasks (no GPU code) accept ``device=cuda`` when
    CUDA exists but log that they run on the CPU, so a pipeline passing one ``device=`` to every
    task keeps working. Training tasks additionally map ``device`` onto the Lightning trainer
    (:func:`trainer_device_settings`), which is validated here too.
    """
    name = cfg.get("device", "auto") if hasattr(cfg, "get") else "auto"
    try:
        device = resolve_device(name)
        if cfg.get("trainer") is not None and hasattr(cfg.trainer, "get"):
            trainer_device_settings(name, cfg.trainer)
    except ValueError as err:
        raise SystemExit(f"{task}: {err}") from None
    if cpu_only and device.type != "cpu":
        import logging

        logging.getLogger(task).warning("%s has no GPU code: it runs on the CPU (device=%s)", task, name)
        return torch.device("cpu")
    return device


def trainer_device_settings(device: str | None, trainer_cfg) -> dict:
    """The Lightning ``accelerator``/``devices`` that ``device=`` asks for, to set on the trainer.

    ``device=auto`` keeps the trainer's own settings. Otherwise ``device`` decides, unless
    ``trainer.accelerator`` was set explicitly (not ``auto``, e.g. ``trainer=cpu``): then the two
    must agree, and a contradiction (``device=cuda trainer.accelerator=cpu``) is an error rather
    than one of them being ignored. ``trainer.accelerator=gpu`` without CUDA is an error as well.
    Raises ``ValueError`` with a one-line message.
    """
    name = "auto" if device is None else str(device)
    accelerator = str(trainer_cfg.get("accelerator", "auto") or "auto")
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ValueError(f"trainer.accelerator={accelerator} but CUDA is not available; use trainer.accelerator=cpu or auto")
    if name == "auto":
        return {}
    target = resolve_device(name)
    wanted = {"cuda": "gpu"}.get(target.type, target.type)
    if accelerator != "auto":
        if {"cuda": "gpu"}.get(accelerator, accelerator) != wanted:
            raise ValueError(f"device={name} contradicts trainer.accelerator={accelerator}; set only one of them")
        return {}
    settings: dict = {"accelerator": wanted}
    if target.index is not None:
        settings["devices"] = [target.index]
    return settings
