"""Load any ShapeNet-style OBJ and normalize it into the unit sphere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import trimesh


class MeshError(ValueError):
    """A mesh file that cannot be used (unreadable, empty, degenerate)."""


@dataclass(frozen=True)
class Normalization:
    """``normalized = (raw - center) * scale``."""

    center: tuple[float, float, float]
    scale: float

    def apply(self, points: np.ndarray) -> np.ndarray:
        return (points - np.asarray(self.center)) * self.scale

    def invert(self, points: np.ndarray) -> np.ndarray:
        return points / self.scale + np.asarray(self.center)

    def to_dict(self) -> dict:
        return {"center": list(self.center), "scale": self.scale}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalization":
        return cls(center=tuple(float(c) for c in d["center"]), scale=float(d["scale"]))


def load_mesh(path: str | Path) -> trimesh.Trimesh:
    """Load an OBJ (multiple groups, materials, open shells, inner faces) as one triangle mesh.

    Materials and textures are ignored; duplicate vertices are merged so that watertightness can
    be judged; degenerate faces are dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"mesh file {path} does not exist")
    try:
        mesh = trimesh.load(path, force="mesh", process=False, skip_materials=True)
    except Exception as err:
        raise MeshError(f"cannot read mesh {path}: {type(err).__name__}: {err}") from err
    if not isinstance(mesh, trimesh.Trimesh) or len(mesh.faces) == 0:
        raise MeshError(f"mesh {path} has no triangles")
    mesh = trimesh.Trimesh(vertices=np.asarray(mesh.vertices, dtype=np.float64), faces=np.asarray(mesh.faces), process=False)
    mesh.merge_vertices(merge_tex=True, merge_norm=True)
    mesh.update_faces(mesh.nondegenerate_faces())
    mesh.remove_unreferenced_vertices()
    if len(mesh.faces) == 0 or not np.isfinite(mesh.vertices).all():
        raise MeshError(f"mesh {path} has no valid triangles")
    return mesh


def fit_unit_sphere(mesh: trimesh.Trimesh, padding: float = 0.03) -> Normalization:
    """Center the bounding box at the origin and scale the farthest vertex to radius 1 - padding."""
    if not 0.0 <= padding < 1.0:
        raise ValueError(f"padding={padding} must be in [0, 1)")
    vertices = np.asarray(mesh.vertices)
    center = 0.5 * (vertices.min(axis=0) + vertices.max(axis=0))
    radius = float(np.linalg.norm(vertices - center, axis=1).max())
    if radius <= 0.0:
        raise MeshError("mesh is a single point; it cannot be normalized")
    return Normalization(center=tuple(float(c) for c in center), scale=(1.0 - padding) / radius)


def normalize_mesh(mesh: trimesh.Trimesh, padding: float = 0.03) -> tuple[trimesh.Trimesh, Normalization]:
    norm = fit_unit_sphere(mesh, padding)
    out = mesh.copy()
    out.vertices = norm.apply(np.asarray(mesh.vertices))
    return out, norm


def is_closed_and_oriented(mesh: trimesh.Trimesh) -> bool:
    """True if the winding of ``mesh`` defines an inside: a closed, outward-oriented surface.

    The test is that every directed edge a->b is matched by as many b->a (the surface has no
    boundary as a 2-chain), no triangle is listed twice (double-sided sheets are balanced too,
    but enclose nothing) and the enclosed volume is positive. Unlike ``is_watertight`` this
    accepts unions of closed parts that touch at shared vertices or edges, which is what
    ShapeNet part unions and the procedural chairs are.
    """
    edges = np.asarray(mesh.edges, dtype=np.int64)  # directed, 3 per face
    if len(edges) == 0:
        return False
    n = int(edges.max()) + 1
    forward = edges[:, 0] * n + edges[:, 1]
    backward = edges[:, 1] * n + edges[:, 0]
    keys, counts = np.unique(forward, return_counts=True)
    back_keys, back_counts = np.unique(backward, return_counts=True)
    if len(keys) != len(back_keys) or not np.array_equal(keys, back_keys) or not np.array_equal(counts, back_counts):
        return False
    _, face_counts = np.unique(np.sort(np.asarray(mesh.faces), axis=1), axis=0, return_counts=True)
    if (face_counts > 1).any():
        return False
    return bool(mesh.volume > 0)
