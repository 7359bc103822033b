import numpy as np
import pytest
import torch
import trimesh

from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.sphere_tracing import TracingSettings, render, sphere_trace


def sphere_sdf(z):
    """An SDF whose 'latent code' is (radius, center x, y, z)."""
    return lambda p: (p - z[1:].to(p)).norm(dim=-1) - z[0].to(p)


def box_sdf(half):
    def f(p):
        q = p.abs() - torch.as_tensor(half, dtype=p.dtype, device=p.device)
        return q.clamp_min(0).norm(dim=-1) + q.max(dim=-1).values.clamp_max(0)
    return f


def test_sphere_normal_map_matches_analytic():
    cam = Camera(40, 25, resolution=64)
    z = torch.tensor([0.6, 0.05, -0.1, 0.0], dtype=torch.float64)
    rendering = render(sphere_sdf(z), cam, dtype=torch.float64)
    origins, dirs = cam.rays(torch.float64)
    hit = rendering.mask.reshape(-1)
    points = origins[hit] + rendering.depth.reshape(-1)[hit, None] * dirs[hit]
    assert torch.allclose((points - z[1:]).norm(dim=-1), torch.full((int(hit.sum()),), 0.6, dtype=torch.float64), atol=2e-3)
    analytic = cam.directions_to_camera((points - z[1:]) / 0.6)
    cos = (analytic * rendering.normals.reshape(-1, 3)[hit]).sum(-1)
    assert torch.rad2deg(torch.arccos(cos.clamp(-1, 1))).max() < 1.0
    image = rendering.image
    assert image.shape == (64, 64, 3) and (image[~rendering.mask] == 1.0).all()


def test_aligns_pixel_for_pixel_with_preprocessed_mesh_renders():
    """The same camera model in preprocessing (Embree on the mesh) and the sphere tracer."""
    half = (0.5, 0.3, 0.4)
    mesh = trimesh.creation.box(extents=[2 * h for h in half])
    for cam in (Camera(30, 20, resolution=96), Camera(200, 35, resolution=96)):
        reference = MeshRaycaster(mesh).render(cam)
        traced = render(box_sdf(half), cam)
        mask = traced.mask.numpy()
        assert (mask & reference.mask).sum() / (mask | reference.mask).sum() >= 0.99
        both = mask & reference.mask
        cos = (traced.normals.detach().numpy()[both] * reference.normals[both]).sum(-1)
        assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 2.0


def test_only_active_rays_are_evaluated_and_escaped_rays_stop():
    cam = Camera(0, 0, resolution=32)
    origins, dirs = cam.rays()
    result = sphere_trace(sphere_sdf(torch.tensor([0.3, 0.0, 0.0, 0.0])), origins, dirs, TracingSettings(max_steps=100))
    n_in_bound = int(((origins * dirs).sum(-1) ** 2 - ((origins**2).sum(-1) - 1) > 0).sum())
    assert result.hit.any() and not result.hit.all()
    assert result.evaluations < 100 * n_in_bound / 3  # most rays stop long before the cap


def finite_difference(loss_fn, z, eps=1e-4):
    grad = torch.zeros_like(z)
    for i in range(len(z)):
        dz = torch.zeros_like(z)
        dz[i] = eps
        grad[i] = (loss_fn(z + dz) - loss_fn(z - dz)) / (2 * eps)
    return grad


@pytest.mark.parametrize("term", ["depth", "normals", "silhouette"])
def test_gradients_match_finite_differences(term):
    cam = Camera(25, 15, resolution=40)
    z0 = torch.tensor([0.55, 0.05, 0.02, -0.03], dtype=torch.float64)
    settings = TracingSettings(hit_threshold=1e-7, max_steps=200, temperature=0.05)
    pixels = render(sphere_sdf(z0), cam, settings, dtype=torch.float64).mask.clone()
    pixels &= torch.nn.functional.max_pool2d((~pixels)[None, None].double(), 5, 1, 2)[0, 0] == 0  # away from the rim
    weights = torch.linspace(0.5, 1.5, 3, dtype=torch.float64)

    def loss(z):
        r = render(sphere_sdf(z), cam, settings, dtype=torch.float64)
        if term == "depth":
            return r.depth[pixels].sum()
        if term == "normals":
            return (r.normals[pixels] * weights).sum()
        return r.silhouette.sum()

    z = z0.clone().requires_grad_(True)
    loss(z).backward()
    numeric = finite_difference(lambda v: loss(v).detach(), z0)
    assert torch.allclose(z.grad, numeric, rtol=0.02, atol=1e-3 * numeric.abs().max()), (z.grad, numeric)
