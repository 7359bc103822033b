import math
import pickle

import numpy as np
import pytest
import torch

from sketch2shape.render.camera import Camera, CameraBatch, as_camera_batch, cameras_from_json, cameras_to_json, sphere_cameras, view_grid


def test_origin_projects_to_image_center():
    for az, el in [(0, 0), (30, 20), (200, -10)]:
        uv, depth = Camera(az, el, distance=2.5, resolution=128).project(torch.zeros(1, 3))
        assert torch.allclose(uv, torch.tensor([[64.0, 64.0]]))
        assert depth.item() == pytest.approx(2.5)


def test_axes_conventions_front_view():
    cam = Camera(azimuth_deg=0, elevation_deg=0, distance=3.0, fov_deg=60, resolution=100)
    assert torch.allclose(cam.position(), torch.tensor([0.0, 0.0, 3.0]))
    points = torch.tensor([[0.5, 0.0, 0.0], [0.0, 0.5, 0.0]])  # +X appears right, +Y up (smaller row)
    uv, _ = cam.project(points)
    f = 50 / math.tan(math.radians(30))
    assert uv[0, 0].item() == pytest.approx(50 + f * 0.5 / 3.0, abs=1e-4) and uv[0, 1].item() == pytest.approx(50)
    assert uv[1, 1].item() == pytest.approx(50 - f * 0.5 / 3.0, abs=1e-4)
    # azimuth 90 looks from +X: +Z appears on the right... of a camera whose right axis is -Z? check R
    side = Camera(azimuth_deg=90, elevation_deg=0, distance=3.0)
    assert torch.allclose(side.position(), torch.tensor([3.0, 0.0, 0.0]), atol=1e-6)
    assert torch.allclose(side.rotation()[0], torch.tensor([0.0, 0.0, -1.0]), atol=1e-6)


def test_rotation_is_orthonormal_and_looks_at_origin():
    for cam in sphere_cameras(20):
        rot = cam.rotation(torch.float64)
        assert torch.allclose(rot @ rot.T, torch.eye(3, dtype=torch.float64), atol=1e-10)
        assert torch.det(rot).item() == pytest.approx(1.0)
        assert torch.allclose(cam.world_to_camera(torch.zeros(1, 3, dtype=torch.float64))[0, :2], torch.zeros(2, dtype=torch.float64), atol=1e-9)


def test_rays_pass_through_their_pixels():
    cam = Camera(40, 25, resolution=32)
    origins, dirs = cam.rays(torch.float64)
    assert origins.shape == dirs.shape == (32 * 32, 3)
    assert torch.allclose(dirs.norm(dim=-1), torch.ones(32 * 32, dtype=torch.float64))
    uv, depth = cam.project(origins + 1.7 * dirs)
    rows, cols = np.divmod(np.arange(32 * 32), 32)
    assert np.allclose(uv[:, 0].numpy(), cols + 0.5, atol=1e-6)
    assert np.allclose(uv[:, 1].numpy(), rows + 0.5, atol=1e-6)
    assert torch.allclose(depth, torch.full_like(depth, 1.7))


def test_unit_sphere_fits_in_default_view():
    cam = Camera()
    half_fov = math.radians(cam.fov_deg / 2)
    assert math.asin(1.0 / cam.distance) < half_fov


def test_view_grid_order_and_json_roundtrip():
    cams = view_grid(4, [10.0, 30.0], distance=2.0, resolution=64)
    assert [(c.azimuth_deg, c.elevation_deg) for c in cams[:5]] == [(0, 10), (90, 10), (180, 10), (270, 10), (0, 30)]
    assert cameras_from_json(cameras_to_json(cams)) == cams


def test_camera_validation():
    with pytest.raises(ValueError, match="elevation_deg=90"):
        Camera(elevation_deg=90)
    with pytest.raises(ValueError, match="distance=0.5 must exceed 1"):
        Camera(distance=0.5)


def test_camera_batch_rays_and_rotations_equal_the_single_cameras():
    cams = [Camera(30, 20, resolution=24), Camera(200, -35, distance=3.0, fov_deg=40, resolution=24), Camera(95, 60, resolution=24)]
    batch = CameraBatch.from_cameras(cams)
    assert len(batch) == 3 and list(batch) == cams and batch[1] == cams[1] and batch.cameras() == cams
    for dtype in (torch.float32, torch.float64):
        origins, dirs = batch.rays(dtype)
        assert origins.shape == dirs.shape == (3, 24 * 24, 3) and dirs.dtype == dtype
        rotations, positions = batch.rotation(dtype), batch.position(dtype)
        for i, cam in enumerate(cams):
            o, d = cam.rays(dtype)
            assert torch.allclose(origins[i], o, rtol=0, atol=1e-6) and torch.allclose(dirs[i], d, rtol=0, atol=1e-6)
            assert torch.allclose(rotations[i], cam.rotation(dtype)) and torch.allclose(positions[i], cam.position(dtype))
    assert torch.allclose(batch.focal_px, torch.tensor([c.focal_px for c in cams], dtype=torch.float64))


def test_camera_batch_projection_and_frames_follow_each_view():
    batch = CameraBatch.from_views([0.0, 90.0, 250.0], [10.0, -20.0, 45.0], distance=2.2, resolution=32)
    origins, dirs = batch.rays(torch.float64)
    uv, depth = batch.project(origins + 1.3 * dirs)
    rows, cols = np.divmod(np.arange(32 * 32), 32)
    assert np.allclose(uv[..., 0].numpy(), cols + 0.5, atol=1e-6) and np.allclose(uv[..., 1].numpy(), rows + 0.5, atol=1e-6)
    assert torch.allclose(depth, torch.full_like(depth, 1.3))
    points = torch.randn(3, 5, 3, dtype=torch.float64)
    for i, cam in enumerate(batch):
        assert torch.allclose(batch.world_to_camera(points)[i], cam.world_to_camera(points[i]))
        assert torch.allclose(batch.directions_to_camera(points)[i], cam.directions_to_camera(points[i]))
    assert batch.directions_to_camera(torch.randn(3, 4, 4, 3)).shape == (3, 4, 4, 3)


def test_camera_batch_constructors_broadcast_validate_and_convert():
    batch = CameraBatch.from_views([0.0, 90.0, 180.0], 20.0, resolution=16)
    assert [(c.azimuth_deg, c.elevation_deg, c.distance, c.fov_deg, c.resolution) for c in batch] == [(a, 20.0, 2.5, 50.0, 16) for a in (0.0, 90.0, 180.0)]
    assert batch.with_resolution(8).resolution == 8 and batch.with_resolution(8)[2] == batch[2].with_resolution(8)
    assert Camera(10, 5).batch() == CameraBatch.from_cameras([Camera(10, 5)])
    assert as_camera_batch(Camera(10, 5)) == Camera(10, 5).batch() and as_camera_batch(batch) is batch
    assert cameras_from_json(batch.to_dicts()) == list(batch)
    assert pickle.loads(pickle.dumps(batch)) == batch
    with pytest.raises(ValueError, match="view 1: elevation_deg=90"):
        CameraBatch.from_views([0.0, 10.0], [0.0, 90.0])
    with pytest.raises(ValueError, match="different lengths"):
        CameraBatch.from_views([0.0, 10.0, 20.0], [0.0, 10.0])
    with pytest.raises(ValueError, match="share one resolution"):
        CameraBatch.from_cameras([Camera(resolution=16), Camera(resolution=32)])
    with pytest.raises(AttributeError):
        batch.resolution = 3
