import numpy as np
import pytest
import trimesh

from sketch2shape.data.preprocess.sdf import SDFSettings, compute_sdf, sample_points, sample_surface
from tests.conftest import union_parts


def box_sdf(points: np.ndarray, half: np.ndarray) -> np.ndarray:
    q = np.abs(points) - half
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def test_sdf_of_box_matches_analytic(box_mesh):
    rng = np.random.default_rng(0)
    points = rng.uniform(-1, 1, size=(20_000, 3))
    result = compute_sdf(box_mesh, points, SDFSettings(sign_method="auto"))
    assert result.sign_method == "winding"
    error = np.abs(result.samples[:, 3] - box_sdf(points, np.array([0.4, 0.25, 0.3])))
    assert error.max() < 1e-3


def test_sdf_of_sphere_matches_analytic():
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=0.6)
    rng = np.random.default_rng(1)
    points = rng.uniform(-1, 1, size=(20_000, 3))
    sdf = compute_sdf(sphere, points, SDFSettings(sign_method="winding")).samples[:, 3]
    assert np.abs(sdf - (np.linalg.norm(points, axis=1) - 0.6)).max() < 1e-3


def test_sample_points_follow_deepsdf_mix(box_mesh):
    settings = SDFSettings(num_samples=10_000, near_surface_stds=(0.05, 0.01), uniform_fraction=0.1)
    points = sample_points(box_mesh, settings, np.random.default_rng(0))
    assert points.shape == (10_000, 3)
    assert np.abs(points[-1000:]).max() <= 1.0  # the uniform tail lies in the bounding cube
    half = np.array([0.4, 0.25, 0.3])
    d_fine = np.abs(box_sdf(points[4500:9000], half))
    d_coarse = np.abs(box_sdf(points[:4500], half))
    assert np.median(d_fine) < np.median(d_coarse) < 0.1
    # Same seed, same points.
    again = sample_points(box_mesh, settings, np.random.default_rng(0))
    np.testing.assert_array_equal(points, again)


def test_surface_samples_lie_on_surface(box_mesh):
    points = sample_surface(box_mesh, 5000, np.random.default_rng(0))
    assert np.abs(box_sdf(points, np.array([0.4, 0.25, 0.3]))).max() < 1e-9


def test_visibility_sign_agrees_with_closed_mesh(closed_union_mesh):
    """On a closed mesh the visibility sign (made for raw ShapeNet) matches the true inside/outside."""
    settings = SDFSettings(num_samples=60_000, sign_method="visibility", visibility_views=40, visibility_resolution=256)
    points = sample_points(closed_union_mesh, settings, np.random.default_rng(0))
    exact = compute_sdf(closed_union_mesh, points, SDFSettings(sign_method="winding")).samples[:, 3]
    vis = compute_sdf(closed_union_mesh, points, settings)
    assert vis.sign_method == "visibility"
    far = np.abs(exact) > settings.shell
    agreement = np.mean((vis.samples[far, 3] < 0) == (exact[far] < 0))
    assert agreement >= 0.995, agreement
    # Within the shell every point counts as inside the thickened surface, on either side.
    assert np.all(vis.samples[~far, 3] <= 0)


def test_auto_sign_is_exact_on_watertight_mesh(closed_union_mesh):
    settings = SDFSettings(num_samples=30_000)
    points = sample_points(closed_union_mesh, settings, np.random.default_rng(2))
    result = compute_sdf(closed_union_mesh, points, settings)
    assert result.sign_method == "winding"
    inside = np.any([part.contains(points) for part in union_parts()], axis=0)
    sdf = result.samples[:, 3]
    assert np.mean((sdf < 0) == inside) >= 0.995


def test_visibility_gives_thin_open_sheets_a_volume():
    """A single-sided square sheet (no inside at all) becomes a slab of thickness 2 * shell."""
    sheet = trimesh.Trimesh(vertices=[[-0.5, 0, -0.5], [0.5, 0, -0.5], [0.5, 0, 0.5], [-0.5, 0, 0.5]], faces=[[0, 1, 2], [0, 2, 3]])
    settings = SDFSettings(sign_method="auto", shell=0.01, visibility_views=12, visibility_resolution=64)
    points = np.array([[0.0, 0.0, 0.0], [0.0, 0.005, 0.1], [0.0, 0.05, 0.0], [0.0, -0.2, 0.0]])
    result = compute_sdf(sheet, points, settings)
    assert result.sign_method == "visibility"
    np.testing.assert_allclose(result.samples[:, 3], [-0.01, -0.005, 0.04, 0.19], atol=1e-6)


def test_settings_validation():
    with pytest.raises(ValueError, match="sign_method='parity'; accepted: auto, winding, visibility"):
        SDFSettings(sign_method="parity")
