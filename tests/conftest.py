"""Shared fixtures: small synthetic meshes and tiny preprocessing settings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import trimesh

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
SHAPENET_SAMPLE = SHARED_DATA / "shapenet_sample" / "03001627"
SHAPENET_V1_SAMPLE = SHARED_DATA / "shapenet_v1_sample" / "03001627"


CUDA_MISSING = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available (torch.cuda.is_available() is False)")
DEVICES = ["cpu", pytest.param("cuda", marks=[pytest.mark.cuda, CUDA_MISSING])]


@pytest.fixture(params=DEVICES)
def torch_device(request) -> torch.device:
    """Runs a test on the CPU and, marked ``cuda``, on a GPU (skipped where CUDA is absent)."""
    return torch.device(request.param)


def require_shared_data(path: Path = SHAPENET_SAMPLE) -> Path:
    if not path.is_dir():
        pytest.skip(f"needs the real ShapeNet chairs at {path} (../shared/data next to the repository)")
    return path


@pytest.fixture
def box_mesh() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(0.8, 0.5, 0.6))


def union_parts() -> list[trimesh.Trimesh]:
    """Overlapping closed parts (like a ShapeNet part union), one a torus with a hole."""
    box = trimesh.creation.box(extents=(0.9, 0.15, 0.9))
    post = trimesh.creation.cylinder(radius=0.1, height=1.0)
    torus = trimesh.creation.torus(major_radius=0.35, minor_radius=0.1)
    torus.apply_translation((0.0, 0.3, 0.0))
    parts = [box, post, torus]
    scale = 0.9 / max(np.linalg.norm(p.vertices, axis=1).max() for p in parts)
    for part in parts:
        part.vertices *= scale
    return parts


@pytest.fixture
def closed_union_mesh() -> trimesh.Trimesh:
    return trimesh.util.concatenate(union_parts())


def write_obj(path: Path, mesh: trimesh.Trimesh) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mesh.export(path)
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> dict[str, Path]:
    """Tiny data and models trained by the project's scripts (:mod:`tests.tiny_models`), shared by
    every test of the session that needs trained checkpoints (built once, about a minute)."""
    from tests.tiny_models import build_tiny_run

    return build_tiny_run(tmp_path_factory.mktemp("tiny_models"))
