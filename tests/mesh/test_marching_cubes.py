import numpy as np
import pytest
import torch

from sketch2shape.mesh.marching_cubes import extract_mesh, sdf_grid


def sphere(radius, center=(0.0, 0.0, 0.0)):
    c = torch.tensor(center)
    return lambda p: (p - c.to(p)).norm(dim=-1) - radius


def test_sphere_radius_and_area_within_one_percent():
    mesh, _ = extract_mesh(sphere(0.6), resolution=96)
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert np.abs(radii - 0.6).max() < 0.006
    assert mesh.area == pytest.approx(4 * np.pi * 0.36, rel=0.01)
    assert mesh.volume == pytest.approx(4 / 3 * np.pi * 0.216, rel=0.01)  # positive: outward normals
    assert mesh.is_watertight


def test_grid_spans_unit_cube_exactly():
    # A sphere centered off the origin keeps its center: the (res - 1) spacing is right.
    mesh, _ = extract_mesh(sphere(0.3, (0.5, -0.2, 0.1)), resolution=65)
    np.testing.assert_allclose(mesh.vertices.mean(axis=0), [0.5, -0.2, 0.1], atol=2e-3)


def union_of_spheres(p):
    a = (p - torch.tensor([0.3, 0.0, 0.0])).norm(dim=-1) - 0.35
    b = (p - torch.tensor([-0.4, 0.2, 0.1])).norm(dim=-1) - 0.2
    c = torch.maximum(p.abs().max(dim=-1).values - 0.15, -(p[:, 1] + 0.6))  # a box, cut
    return torch.minimum(torch.minimum(a, b), c)


@pytest.mark.parametrize("resolution", [64, 129])
def test_coarse_to_fine_equals_dense(resolution):
    fine, stats = extract_mesh(union_of_spheres, resolution=resolution, coarse_to_fine=True)
    dense, dense_stats = extract_mesh(union_of_spheres, resolution=resolution, coarse_to_fine=False)
    assert stats.queries < dense_stats.queries / 2
    assert np.array_equal(fine.faces, dense.faces)
    np.testing.assert_allclose(fine.vertices, dense.vertices, atol=1e-5)
    values, _ = sdf_grid(union_of_spheres, resolution, True)
    dense_values, _ = sdf_grid(union_of_spheres, resolution, False)
    assert np.array_equal(values < 0, dense_values < 0)


def test_empty_level_set_gives_empty_mesh():
    mesh, _ = extract_mesh(lambda p: torch.ones(len(p)), resolution=16)
    assert len(mesh.faces) == 0
