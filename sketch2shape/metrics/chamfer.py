"""Chamfer distance and F-score between point sets, as DeepSDF reports them.

Chamfer (Park et al. 2019): sample 30,000 points on each surface; average the *squared*
nearest-neighbor distance from each set to the other; sum the two directions. Distances are in
the normalized frame (shapes inside the unit sphere). Papers print it multiplied by 1000.

F-score at threshold tau (Tatarchenko et al. 2019): harmonic mean of precision (share of
predicted points within tau of the ground truth) and recall (share of ground-truth points within
tau of the prediction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

CHAMFER_POINTS = 30_000
FSCORE_THRESHOLD = 0.02  # 1% of the diameter of the unit sphere the shapes are normalized into


@dataclass(frozen=True)
class SurfaceMetrics:
    chamfer: float  # sum of the two mean squared NN distances (not x1000)
    fscore: float  # at FSCORE_THRESHOLD

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        return {f"{prefix}chamfer": self.chamfer, f"{prefix}fscore": self.fscore}


def nearest_distances(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Euclidean distance from every point of ``source`` (N, 3) to its nearest in ``target`` (M, 3)."""
    distances, _ = cKDTree(target).query(source, k=1, workers=-1)
    return distances


def chamfer_distance(a: np.ndarray, b: np.ndarray) -> float:
    """DeepSDF's chamfer distance between point sets (N, 3) and (M, 3)."""
    return float(np.mean(nearest_distances(a, b) ** 2) + np.mean(nearest_distances(b, a) ** 2))


def fscore(pred: np.ndarray, gt: np.ndarray, threshold: float = FSCORE_THRESHOLD) -> float:
    precision = float(np.mean(nearest_distances(pred, gt) < threshold))
    recall = float(np.mean(nearest_distances(gt, pred) < threshold))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def sample_mesh_points(mesh: trimesh.Trimesh, count: int = CHAMFER_POINTS, seed: int = 0) -> np.ndarray:
    points, _ = trimesh.sample.sample_surface(mesh, count, seed=seed)
    return np.asarray(points)


def surface_metrics(
    mesh: trimesh.Trimesh, gt_points: np.ndarray, count: int = CHAMFER_POINTS, seed: int = 0, threshold: float = FSCORE_THRESHOLD
) -> SurfaceMetrics:
    """Chamfer and F-score of a reconstructed mesh against ground-truth surface samples.

    An empty mesh (nothing reconstructed) gets infinite chamfer and zero F-score rather than
    an error, so one failed shape does not stop an evaluation of many.
    """
    if len(mesh.faces) == 0:
        return SurfaceMetrics(chamfer=float("inf"), fscore=0.0)
    rng = np.random.default_rng(seed)
    gt = gt_points if len(gt_points) <= count else gt_points[rng.choice(len(gt_points), count, replace=False)]
    pred = sample_mesh_points(mesh, count, seed)
    return SurfaceMetrics(chamfer=chamfer_distance(pred, gt), fscore=fscore(pred, gt, threshold))
