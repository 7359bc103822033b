"""The triplane decoder keeps the shape-space contract: the same values through every entry, the
gradients the renderer and latent optimization need, and it learns shapes in the auto-decoder."""

import lightning as L
import pytest
import torch
from torch.nn import functional as F

from sketch2shape.data.sdf_dataset import SDFSamples
from sketch2shape.mesh.marching_cubes import extract_mesh
from sketch2shape.models.deepsdf import sdf_field
from sketch2shape.models.deepsdf_module import DeepSDF, build_decoder, clamped_l1
from sketch2shape.models.triplane import PLANE_AXES, TriplaneDecoder, sample_planes
from sketch2shape.render.camera import Camera
from sketch2shape.render.sphere_tracing import TracingSettings, render

SMALL = dict(kind="triplane", latent_dim=16, channels=4, resolution=16, base_resolution=4, generator_width=16, hidden_dim=32, num_layers=2)


def small_decoder(device="cpu") -> TriplaneDecoder:
    torch.manual_seed(0)
    return build_decoder(SMALL).to(device)


def test_sample_planes_is_bilinear_interpolation_with_corners_at_the_cube(torch_device):
    planes = torch.randn(2, 3, 5, 9, 9, device=torch_device)
    points = torch.rand(2, 40, 3, device=torch_device) * 2.2 - 1.1  # some outside: clamped to the border
    reference = torch.cat([
        F.grid_sample(planes[:, k], points[..., list(axes)].clamp(-1, 1)[:, :, None, :], align_corners=True).squeeze(-1).transpose(1, 2)
        for k, axes in enumerate(PLANE_AXES)
    ], dim=-1)
    torch.testing.assert_close(sample_planes(planes, points), reference, atol=1e-5, rtol=1e-5)
    corner = torch.tensor([[[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]], device=torch_device)
    values = sample_planes(planes[:1], corner)
    torch.testing.assert_close(values[0, 0, :5], planes[0, 0, :, 0, 0])
    torch.testing.assert_close(values[0, 1, 5:10], planes[0, 1, :, -1, -1])


def test_every_entry_gives_the_same_signed_distances(torch_device):
    decoder = small_decoder(torch_device)
    codes = torch.randn(3, 16, device=torch_device) * 0.3
    points = torch.rand(3, 50, 3, device=torch_device) * 2 - 1
    batched = decoder.forward_batched(codes, points)
    assert batched.shape == (3, 50)
    for i in range(3):
        torch.testing.assert_close(decoder(codes[i], points[i]), batched[i])
        torch.testing.assert_close(sdf_field(decoder, codes[i])(points[i]), batched[i])
    per_point = decoder(codes.repeat_interleave(50, dim=0), points.reshape(-1, 3))  # one code per point, grouped
    torch.testing.assert_close(per_point, batched.reshape(-1))


def test_field_is_differentiable_in_the_code_and_twice_in_the_points():
    """What the sphere tracer needs: normals (grad_x f) that are differentiable in the code."""
    decoder = small_decoder()
    latent = (torch.randn(16) * 0.3).requires_grad_(True)
    field = decoder.field(latent)
    assert field.linearized is None  # the renderer differentiates the field itself
    points = (torch.rand(64, 3) * 2 - 1).requires_grad_(True)
    normals = torch.autograd.grad(field(points).sum(), points, create_graph=True)[0]
    (grad_code,) = torch.autograd.grad(normals.pow(2).sum(), latent)
    assert torch.isfinite(grad_code).all() and grad_code.abs().sum() > 0
    with pytest.raises(ValueError, match="one code of 16 values"):
        decoder.field(torch.zeros(2, 16))


def test_unknown_decoder_kind_and_arguments_are_refused():
    with pytest.raises(ValueError, match="kind='triplanes'.*accepted: mlp, triplane"):
        build_decoder({"kind": "triplanes"})
    with pytest.raises(ValueError, match="kind triplane.*hidden_dims"):
        build_decoder({**SMALL, "hidden_dims": 3})
    with pytest.raises(ValueError, match="resolution=24"):
        build_decoder({**SMALL, "resolution": 24})


def sphere_samples(radius: float, n: int = 6000) -> torch.Tensor:
    points = torch.rand(n, 3) * 2 - 1
    return torch.cat([points, (points.norm(dim=-1) - radius)[:, None]], dim=1)


@pytest.fixture(scope="module")
def trained() -> DeepSDF:
    """Two spheres learned by the auto-decoder with a triplane decoder (a few seconds)."""
    L.seed_everything(0)
    samples = [sphere_samples(0.3), sphere_samples(0.6)]
    loader = torch.utils.data.DataLoader(SDFSamples(samples, [0, 1], points_per_shape=1024, repeats=8), batch_size=2, shuffle=True)
    model = DeepSDF(num_shapes=2, decoder=SMALL, lr_decoder=3e-3, lr_latent=1e-2)
    model.samples = samples
    with torch.no_grad():
        model.before = clamped_l1(model.decoder(model.latents.weight[0], samples[0][:, :3]), samples[0][:, 3], 0.1).item()
    L.Trainer(max_epochs=25, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(model, loader)
    return model.eval()


def test_the_auto_decoder_learns_shapes_with_a_triplane_decoder(trained):
    with torch.no_grad():
        after = [clamped_l1(trained.decoder(trained.latents.weight[i], s[:, :3]), s[:, 3], 0.1).item() for i, s in enumerate(trained.samples)]
    assert max(after) < 0.3 * trained.before


def test_a_triplane_shape_meshes_and_renders(trained):
    """The mesher and the sphere tracer take the field unchanged: the big sphere comes out with
    about its radius in both."""
    with torch.no_grad():
        mesh, _ = extract_mesh(trained.decoder.field(trained.latents.weight[1]), resolution=48)
    radius = float(torch.as_tensor(mesh.vertices).norm(dim=-1).median())
    assert radius == pytest.approx(0.6, abs=0.08)
    latent = trained.latents.weight[1].detach().clone().requires_grad_(True)
    rendering = render(trained.decoder.field(latent), Camera(resolution=32), TracingSettings())
    assert rendering.mask.float().mean() > 0.1
    rendering.normals[rendering.mask].sum().backward()
    assert latent.grad is not None and latent.grad.abs().sum() > 0


def test_per_point_codes_keep_their_gradient():
    """The sketch encoder's SDF loss expands each predicted code per point: the gradient must
    reach every code."""
    decoder = small_decoder()
    codes = (torch.randn(2, 16) * 0.3).requires_grad_(True)
    points = torch.rand(2, 30, 3) * 2 - 1
    decoder(codes.repeat_interleave(30, dim=0), points.reshape(-1, 3)).sum().backward()
    assert codes.grad is not None and (codes.grad.abs().sum(dim=1) > 0).all()
    nan = decoder(codes[0].detach(), torch.tensor([[float("nan"), 0.0, 0.0]]))
    assert nan.shape == (1,)  # a NaN point reads the planes' centre, not outside them
