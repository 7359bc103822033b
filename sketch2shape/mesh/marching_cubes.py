"""Meshes from signed distance functions by marching cubes, densely or coarse-to-fine.

The grid has ``resolution`` points per axis spanning [-1, 1] (spacing ``2 / (resolution - 1)``),
so vertices come out in the normalized frame without rescaling errors.

Coarse-to-fine evaluates the SDF on lattices of decreasing stride. A point of a finer lattice is
evaluated only if some point of the previous lattice within one previous stride is closer to
the surface than ``margin * stride * spacing * sqrt(3)``. For a 1-Lipschitz SDF (what DeepSDF
learns near the surface) every grid cell the surface crosses is then evaluated at all eight
corners, and the points left out keep the sign of their nearest evaluated neighbor, so marching
cubes returns the same mesh as on the dense grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from scipy import ndimage
from skimage import measure

SDFFunction = Callable[[torch.Tensor], torch.Tensor]  # (M, 3) points -> (M,) sdf


@dataclass(frozen=True)
class MeshingStats:
    queries: int  # points at which the SDF was evaluated
    dense_queries: int  # resolution ** 3


def grid_axis(resolution: int) -> np.ndarray:
    return np.linspace(-1.0, 1.0, resolution, dtype=np.float64)


def _evaluate(sdf_fn: SDFFunction, index: np.ndarray, resolution: int, batch_size: int, device, dtype) -> np.ndarray:
    """SDF at grid points given by integer indices (M, 3)."""
    spacing = 2.0 / (resolution - 1)
    out = np.empty(len(index), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            chunk = torch.as_tensor(index[start : start + batch_size] * spacing - 1.0, dtype=dtype, device=device)
            out[start : start + batch_size] = sdf_fn(chunk).float().cpu().numpy()
    return out


def _lattice_axis(resolution: int, stride: int) -> np.ndarray:
    """Indices of a lattice of the given stride along one axis (always including both ends)."""
    return np.unique(np.r_[np.arange(0, resolution, stride), resolution - 1])


def _nearest_on_axis(resolution: int, stride: int) -> np.ndarray:
    """For every index 0..resolution-1, the nearest lattice index of the given stride."""
    lattice = _lattice_axis(resolution, stride)
    i = np.arange(resolution)
    right = np.clip(np.searchsorted(lattice, i), 0, len(lattice) - 1)
    left = np.clip(right - 1, 0, len(lattice) - 1)
    return np.where(np.abs(lattice[left] - i) <= np.abs(lattice[right] - i), lattice[left], lattice[right])


def sdf_grid(
    sdf_fn: SDFFunction,
    resolution: int = 256,
    coarse_to_fine: bool = True,
    strides: Sequence[int] = (16, 4, 2, 1),
    margin: float = 1.5,
    batch_size: int = 2**16,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> tuple[np.ndarray, MeshingStats]:
    """SDF values on the (resolution,)*3 grid, indexed ``[ix, iy, iz]`` (see module docstring)."""
    if resolution < 2:
        raise ValueError(f"resolution={resolution} must be >= 2")
    dense = resolution**3
    if not coarse_to_fine:
        index = np.stack(np.meshgrid(*[np.arange(resolution)] * 3, indexing="ij"), -1).reshape(-1, 3)
        values = _evaluate(sdf_fn, index, resolution, batch_size, device, dtype).reshape((resolution,) * 3)
        return values, MeshingStats(queries=dense, dense_queries=dense)
    strides = sorted({int(s) for s in strides} | {1}, reverse=True)
    spacing = 2.0 / (resolution - 1)
    values = np.zeros((resolution,) * 3, dtype=np.float32)
    evaluated = np.zeros((resolution,) * 3, dtype=bool)
    filled = np.zeros((resolution,) * 3, dtype=np.float32)  # best known value of every point
    queries = 0
    for level, stride in enumerate(strides):
        axis = np.zeros(resolution, dtype=bool)
        axis[_lattice_axis(resolution, stride)] = True
        candidates = axis[:, None, None] & axis[None, :, None] & axis[None, None, :] & ~evaluated
        if level > 0:
            previous = strides[level - 1]
            near = evaluated & (np.abs(values) < margin * previous * spacing * math.sqrt(3.0))
            # Chebyshev dilation by one previous stride (separable, so cheap on large grids).
            candidates &= ndimage.maximum_filter(near.view(np.uint8), size=2 * previous + 1, mode="constant") > 0
        index = np.argwhere(candidates)
        if len(index):
            values[tuple(index.T)] = _evaluate(sdf_fn, index, resolution, batch_size, device, dtype)
            evaluated[tuple(index.T)] = True
            queries += len(index)
        # Points this level skipped keep the value of their nearest lattice point of the finest
        # level that evaluated it, so the next level and marching cubes see the right sign.
        nearest = np.ix_(*[_nearest_on_axis(resolution, stride)] * 3)
        filled = np.where(evaluated[nearest], values[nearest], filled)
    values = np.where(evaluated, values, filled)
    return values, MeshingStats(queries=queries, dense_queries=dense)


def mesh_from_grid(values: np.ndarray, level: float = 0.0) -> trimesh.Trimesh:
    """Marching cubes on a grid spanning [-1, 1]^3; empty mesh if the level set is not crossed."""
    resolution = values.shape[0]
    if not (values.min() < level < values.max()):
        return trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64))
    spacing = 2.0 / (resolution - 1)
    # skimage orients faces by the gradient; "descent" makes normals point outward for negative-inside SDFs.
    verts, faces, _, _ = measure.marching_cubes(values, level=level, spacing=(spacing,) * 3, gradient_direction="descent")
    return trimesh.Trimesh(vertices=verts - 1.0, faces=faces, process=False)


def extract_mesh(
    sdf_fn: SDFFunction,
    resolution: int = 256,
    coarse_to_fine: bool = True,
    **kwargs,
) -> tuple[trimesh.Trimesh, MeshingStats]:
    """Mesh of the zero level set of ``sdf_fn`` in [-1, 1]^3, and how many queries it took."""
    values, stats = sdf_grid(sdf_fn, resolution, coarse_to_fine, **kwargs)
    return mesh_from_grid(values), stats
