"""Atomic file writes: every file this project writes appears complete or not at all.

An interrupted run therefore never leaves a half-written ``.npy``/``.png``/``.obj`` behind, and
"the output file exists" is a valid test for "this work is done" when resuming.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file keeps the target's suffix so writers that infer the format from the
    extension (PIL, trimesh, numpy) behave as for the real name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates files readable by the owner only; give them the usual umask permissions.
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# The names atomic_path gives its temporary files: ".<stem>.<mkstemp's 8 random characters>.tmp<suffix>".
TEMP_NAME = re.compile(r"^\..*\.[A-Za-z0-9_]{8}\.tmp(\.[^./]*)?$")


def is_atomic_temp(path: str | os.PathLike) -> bool:
    """Whether ``path`` is named like a temporary file of :func:`atomic_path`."""
    return TEMP_NAME.match(Path(path).name) is not None


def remove_atomic_temps(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete the temporary files :func:`atomic_path` left in ``folder`` (a killed writer leaves them).

    Only call this while no other process can be writing there (e.g. under the dataset's
    preprocessing lock). Returns the deleted paths.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = folder.rglob(".*") if recursive else folder.glob(".*")
    removed = []
    for path in candidates:
        if is_atomic_temp(path) and path.is_file():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Save a uint8 image (H, W) or (H, W, 3|4) as PNG/JPEG, atomically."""
    from PIL import Image

    if image.dtype != np.uint8:
        raise TypeError(f"save_image expects uint8, got {image.dtype} for {path}")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp)


MESH_SUFFIXES = (".obj", ".ply", ".glb", ".gltf", ".stl", ".off")  # triangle-mesh formats trimesh writes with our dependencies (tests/test_cli_arguments.py)


def check_mesh_suffix(path: str | os.PathLike) -> Path:
    """``path`` as a Path if its suffix names a mesh format :func:`save_mesh` writes, else a
    ``ValueError`` that names the file and the accepted suffixes."""
    path = Path(path)
    if path.suffix.lower() not in MESH_SUFFIXES:
        raise ValueError(f"{path}: cannot write a mesh as {path.suffix or 'a file without a suffix'}; use one of {', '.join(MESH_SUFFIXES)}")
    return path


def save_mesh(path: str | os.PathLike, mesh: Any) -> None:
    """Save a ``trimesh.Trimesh`` atomically, in the format its suffix names (:data:`MESH_SUFFIXES`;
    another suffix raises ``ValueError`` before anything is written)."""
    with atomic_path(check_mesh_suffix(path)) as tmp:
        mesh.export(tmp)


def save_figure(path: str | os.PathLike, fig: Any, dpi: int = 100) -> None:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
