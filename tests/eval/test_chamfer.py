import numpy as np
import pytest
import trimesh

from sketch2shape.metrics.chamfer import chamfer_distance, fscore, surface_metrics


def test_identical_point_sets_have_zero_chamfer():
    points = np.random.default_rng(0).normal(size=(500, 3))
    assert chamfer_distance(points, points) == 0.0
    assert fscore(points, points) == 1.0


def test_chamfer_of_shifted_point_sets_is_analytic():
    points = np.random.default_rng(0).uniform(size=(300, 3)) * 0.01  # tight cluster
    shift = np.array([1.0, 0.0, 0.0])
    # Every nearest neighbor is ~1 away: the sum of two mean squared distances is ~2.
    assert chamfer_distance(points, points + shift) == pytest.approx(2.0, rel=0.03)


def test_chamfer_of_concentric_spheres():
    r1, r2 = 0.5, 0.55
    inner = trimesh.creation.icosphere(5, radius=r1)
    rng = np.random.default_rng(2)
    v = rng.normal(size=(30_000, 3))
    outer_points = v / np.linalg.norm(v, axis=1, keepdims=True) * r2
    metrics = surface_metrics(inner, outer_points, count=30_000)
    # Each direction's NN distance is ~(r2 - r1); the sum of squares of the two means is 2 (r2 - r1)^2.
    assert metrics.chamfer == pytest.approx(2 * (r2 - r1) ** 2, rel=0.05)
    assert metrics.fscore == 0.0  # 0.05 apart, threshold 0.02


def test_empty_mesh_gets_infinite_chamfer():
    empty = trimesh.Trimesh(vertices=np.zeros((0, 3)), faces=np.zeros((0, 3), dtype=np.int64))
    metrics = surface_metrics(empty, np.zeros((10, 3)))
    assert metrics.chamfer == float("inf") and metrics.fscore == 0.0
