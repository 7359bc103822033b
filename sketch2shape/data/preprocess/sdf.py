"""Signed distance samples in the DeepSDF style, with a sign that survives raw ShapeNet meshes.

Sampling (Park et al. 2019): most points are surface points displaced by Gaussian noise at two
scales, the rest are uniform in the bounding cube [-1, 1]^3.

Distance: exact unsigned distance to the triangles (libigl AABB tree).

Sign, by ``sign_method``:

* ``winding``: generalized winding number > 1/2 (libigl's fast winding number). Exact for closed,
  consistently oriented meshes, including unions of overlapping closed parts.
* ``visibility``: for meshes that are not closed (open shells, single-sided sheets, flipped
  faces, inner faces), as DeepSDF does with renderings from many views. Depth maps are
  ray-cast from cameras spread over the sphere; a point is outside if some camera sees it in
  front of the surface. Thin sheets have no inside, so the shape is thickened by a shell:
  ``sdf = udf - shell`` outside, ``-(udf + shell)`` inside, continuous at the surface. Because
  every point within ``shell`` of the surface is inside the thickened shape whatever its side, the
  depth test may use a tolerance of ``shell`` without moving the zero level set.
* ``auto``: ``winding`` for closed oriented meshes, else ``visibility``.
"""

from __future__ import annotations

from dataclasses import dataclass

import igl
import numpy as np
import torch
import trimesh

from sketch2shape.data.preprocess.mesh import is_closed_and_oriented
from sketch2shape.render.camera import Camera, sphere_cameras
from sketch2shape.render.mesh_raycast import MeshRaycaster

SIGN_METHODS = ("auto", "winding", "visibility")


@dataclass(frozen=True)
class SDFSettings:
    num_samples: int = 250_000
    near_surface_stds: tuple[float, ...] = (0.0707, 0.0224)  # sqrt of DeepSDF's variances 0.005, 0.0005
    uniform_fraction: float = 0.05
    sign_method: str = "auto"
    visibility_views: int = 40
    visibility_resolution: int = 256
    shell: float = 0.005

    def __post_init__(self) -> None:
        if self.sign_method not in SIGN_METHODS:
            raise ValueError(f"sign_method={self.sign_method!r}; accepted: {', '.join(SIGN_METHODS)}")
        if not 0.0 <= self.uniform_fraction <= 1.0:
            raise ValueError(f"uniform_fraction={self.uniform_fraction} must be in [0, 1]")
        if self.num_samples < 1 or not self.near_surface_stds and self.uniform_fraction < 1.0:
            raise ValueError("num_samples must be >= 1 and near_surface_stds non-empty unless uniform_fraction=1")


def sample_points(mesh: trimesh.Trimesh, settings: SDFSettings, rng: np.random.Generator) -> np.ndarray:
    """(num_samples, 3) query points: near-surface at each noise scale, then uniform."""
    n_uniform = int(round(settings.num_samples * settings.uniform_fraction))
    n_near = settings.num_samples - n_uniform
    chunks = []
    if n_near:
        counts = np.full(len(settings.near_surface_stds), n_near // len(settings.near_surface_stds))
        counts[: n_near - counts.sum()] += 1
        surface = sample_surface(mesh, n_near, rng)
        start = 0
        for std, count in zip(settings.near_surface_stds, counts):
            chunks.append(surface[start : start + count] + rng.normal(0.0, std, size=(count, 3)))
            start += count
    chunks.append(rng.uniform(-1.0, 1.0, size=(n_uniform, 3)))
    return np.concatenate(chunks).astype(np.float64)


def sample_surface(mesh: trimesh.Trimesh, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` points uniformly distributed over the surface area, (count, 3) float64."""
    areas = np.asarray(mesh.area_faces, dtype=np.float64)
    faces = rng.choice(len(areas), size=count, p=areas / areas.sum())
    r1, r2 = rng.random(count), rng.random(count)
    flip = r1 + r2 > 1.0
    r1[flip], r2[flip] = 1.0 - r1[flip], 1.0 - r2[flip]
    tri = np.asarray(mesh.triangles)[faces]
    return tri[:, 0] + r1[:, None] * (tri[:, 1] - tri[:, 0]) + r2[:, None] * (tri[:, 2] - tri[:, 0])


def unsigned_distance(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    squared, _, _ = igl.point_mesh_squared_distance(
        np.ascontiguousarray(points, dtype=np.float64),
        np.ascontiguousarray(mesh.vertices, dtype=np.float64),
        np.ascontiguousarray(mesh.faces, dtype=np.int64),
    )
    return np.sqrt(squared)


# Fast winding numbers approximate far triangles by a tree; large triangles are always "near"
# and evaluated exactly, which makes low-poly meshes (procedural chairs) slow. Splitting them
# changes neither the surface nor its winding number.
WINDING_MAX_EDGE = 0.02


def inside_by_winding(mesh: trimesh.Trimesh, points: np.ndarray) -> np.ndarray:
    vertices, faces = trimesh.remesh.subdivide_to_size(mesh.vertices, mesh.faces, max_edge=WINDING_MAX_EDGE)
    winding = igl.fast_winding_number(
        np.ascontiguousarray(vertices, dtype=np.float64),
        np.ascontiguousarray(faces, dtype=np.int64),
        np.ascontiguousarray(points, dtype=np.float64),
    )
    return winding > 0.5


def outside_by_visibility(
    mesh: trimesh.Trimesh, points: np.ndarray, cameras: list[Camera], tolerance: float
) -> np.ndarray:
    """True where some camera sees the point in front of the first surface along its ray.

    The surface depth at a point's projection is the minimum over the 2x2 pixel centers around
    it, a lower bound of the depth along the point's own ray, so that points truly inside are
    never carved away at silhouettes.
    """
    raycaster = MeshRaycaster(mesh)
    outside = np.zeros(len(points), dtype=bool)
    points_t = torch.from_numpy(points.astype(np.float32))
    for camera in cameras:
        n = camera.resolution
        depth = raycaster.depth(camera)
        pending = np.flatnonzero(~outside)
        if pending.size == 0:
            break
        uv, point_depth = (t.numpy() for t in camera.project(points_t[pending]))
        # The 2x2 block of pixel centers around uv: centers are at index + 0.5.
        j0 = np.floor(uv[:, 0] - 0.5).astype(np.int64)
        i0 = np.floor(uv[:, 1] - 0.5).astype(np.int64)
        padded = np.pad(depth, 1, constant_values=np.inf)  # outside the image: background
        i0, j0 = np.clip(i0 + 1, 0, n), np.clip(j0 + 1, 0, n)
        surface = np.minimum.reduce([padded[i0, j0], padded[i0 + 1, j0], padded[i0, j0 + 1], padded[i0 + 1, j0 + 1]])
        seen = (point_depth > 0) & (point_depth < surface + tolerance)
        outside[pending[seen]] = True
    return outside


@dataclass(frozen=True)
class SDFResult:
    samples: np.ndarray  # (N, 4) float32: xyz, sdf
    sign_method: str  # the method actually used ("winding" or "visibility")


def compute_sdf(mesh: trimesh.Trimesh, points: np.ndarray, settings: SDFSettings) -> SDFResult:
    """Signed distances of ``points`` (N, 3) to the normalized ``mesh`` (negative inside)."""
    method = settings.sign_method
    if method == "auto":
        method = "winding" if is_closed_and_oriented(mesh) else "visibility"
    udf = unsigned_distance(mesh, points)
    if method == "winding":
        sdf = np.where(inside_by_winding(mesh, points), -udf, udf)
    else:
        cameras = sphere_cameras(settings.visibility_views, resolution=settings.visibility_resolution)
        outside = outside_by_visibility(mesh, points, cameras, tolerance=settings.shell)
        sdf = np.where(outside, udf - settings.shell, -(udf + settings.shell))
    samples = np.concatenate([points, sdf[:, None]], axis=1).astype(np.float32)
    return SDFResult(samples=samples, sign_method=method)
