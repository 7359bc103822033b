"""Ray casting of triangle meshes with Embree, for preprocessing (normal maps, visibility).

Raw ShapeNet meshes have inconsistent winding, so face normals are turned to face the ray they
were hit by: a normal map shows the side of the surface that the camera sees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import trimesh
from embreex import rtcore_scene
from embreex.mesh_construction import TriangleMesh

from sketch2shape.render.camera import Camera
from sketch2shape.render.sketch import edge_mask

# Rays shorter than this from their origin do not count as hits (self-intersection guard).
RAY_EPSILON = 1e-6


@dataclass(frozen=True)
class MeshRender:
    """A mesh seen from one camera. Arrays are (H, W, ...) in row-major pixel order."""

    normals: np.ndarray  # (H, W, 3) float32 camera-space unit normals facing the camera; 0 on background
    mask: np.ndarray  # (H, W) bool, True where a ray hit the mesh
    depth: np.ndarray  # (H, W) float32 distance along the ray; inf on background


class MeshRaycaster:
    """Closest-hit queries against one triangle mesh."""

    def __init__(self, mesh: trimesh.Trimesh) -> None:
        self.mesh = mesh
        self._scene = rtcore_scene.EmbreeScene()
        TriangleMesh(self._scene, np.ascontiguousarray(mesh.triangles, dtype=np.float32))
        self._face_normals = np.asarray(mesh.face_normals, dtype=np.float32)

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Closest hit of each ray.

        Args:
            origins, directions: (N, 3); directions need not be normalized.
        Returns:
            distance: (N,) float32 ray parameter of the hit in units of ``|direction|`` (inf if none).
            face: (N,) int64 index of the hit triangle (-1 if none).
        """
        result = self._scene.run(
            np.ascontiguousarray(origins, dtype=np.float32),
            np.ascontiguousarray(directions, dtype=np.float32),
            output=1,
        )
        face = result["primID"].astype(np.int64)
        distance = result["tfar"].astype(np.float32)
        distance[face < 0] = np.inf
        return distance, face

    def depth(self, camera: Camera) -> np.ndarray:
        """(H, W) float32 distance along each pixel's ray to the first hit; inf on background."""
        origins, dirs = (t.numpy() for t in camera.rays(torch.float32))
        distance, _ = self.cast(origins, dirs)
        return distance.reshape(camera.resolution, camera.resolution)

    def render(self, camera: Camera) -> MeshRender:
        origins, dirs = (t.numpy() for t in camera.rays(torch.float32))
        distance, face = self.cast(origins, dirs)
        hit = face >= 0
        normals = np.zeros_like(dirs)
        normals[hit] = self._face_normals[face[hit]]
        facing_away = (normals * dirs).sum(-1) > 0
        normals[facing_away] *= -1.0
        normals_cam = camera.directions_to_camera(torch.from_numpy(normals)).numpy()
        normals_cam[~hit] = 0.0
        n = camera.resolution
        return MeshRender(
            normals=normals_cam.reshape(n, n, 3).astype(np.float32),
            mask=hit.reshape(n, n),
            depth=distance.reshape(n, n),
        )


def answer_lines(mesh: trimesh.Trimesh, camera: Camera, crease_angle_deg: float = 35.0) -> np.ndarray:
    """Bool (H, W) contour and crease lines of ``mesh`` seen from ``camera`` (its resolution)."""
    if len(mesh.faces) == 0:
        return np.zeros((camera.resolution, camera.resolution), bool)
    rendering = MeshRaycaster(mesh).render(camera)
    return edge_mask(rendering.normals, rendering.mask, crease_angle_deg)
