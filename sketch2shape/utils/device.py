"""Device selection from config: the same code runs on CPU and CUDA."""

from __future__ import annotations

import torch

ACCEPTED_DEVICES = ("auto", "cpu", "cuda", "cuda:<index>", "mps")


def resolve_device(name: str | None = "auto") -> torch.device:
    """Map a config value to a ``torch.device``.

    ``auto`` picks CUDA when available, else CPU. Asking for CUDA on a machine without it is an
    error rather than a silent fallback, so a misconfigured GPU job does not quietly run for days
    on the CPU.
    """
    name = "auto" if name is None else str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise ValueError(f"device={name!r} is not a device; accepted: {', '.join(ACCEPTED_DEVICES)}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={name!r} was requested but CUDA is not available; use device=cpu or device=auto")
    return device


def lightning_accelerator(name: str | None = "auto") -> str:
    """The Lightning ``accelerator`` string matching :func:`resolve_device`."""
    device = resolve_device(name)
    return {"cuda": "gpu"}.get(device.type, device.type)
