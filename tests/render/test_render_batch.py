"""The batched, few-synchronization renderer against the original one (render_reference)."""

import math

import pytest
import torch
from torch.overrides import TorchFunctionMode

from sketch2shape.models.deepsdf import DeepSDFDecoder
from sketch2shape.render.camera import Camera, CameraBatch
from sketch2shape.render.sphere_tracing import (
    TracingSettings,
    march,
    render,
    render_batch,
    render_reference,
    sphere_trace,
)
from tests.render.test_sphere_tracing import box_sdf, sphere_sdf

VIEWS = [(30.0, 20.0), (200.0, 35.0), (110.0, -15.0)]


def small_decoder(dtype=torch.float64, device="cpu") -> DeepSDFDecoder:
    torch.manual_seed(0)
    return DeepSDFDecoder(latent_dim=8, hidden_dim=32, num_layers=4, skip_layers=(2,), dropout=0.0).eval().requires_grad_(False).to(dtype=dtype, device=device)


def mlp_sdf(decoder, latent):
    """A shape with a surface (a sphere bent by a small MLP), differentiable in ``latent``."""
    return lambda p: p.norm(dim=-1) - 0.55 + 0.08 * decoder(latent, p)


def assert_same_images(new, old, max_flipped=0, normal_deg=0.05, atol=1e-5):
    """Same masks (up to ``max_flipped`` pixels), normals, depth and silhouette where both hit."""
    flipped = int((new.mask ^ old.mask).sum())
    assert flipped <= max_flipped, f"{flipped} pixels differ"
    both = new.mask & old.mask
    assert both.sum() > 20
    cos = (new.normals[both] * old.normals[both]).sum(-1).clamp(-1, 1)
    assert torch.rad2deg(torch.arccos(cos)).max() < normal_deg
    assert torch.allclose(new.depth[both], old.depth[both], atol=atol)
    agree = ~(new.mask ^ old.mask)
    assert torch.allclose(new.silhouette[agree], old.silhouette[agree], atol=atol)
    assert (new.normals[~new.mask] == 0).all() and torch.isinf(new.depth[~new.mask]).all()


@pytest.mark.parametrize("shape", ["sphere", "box"])
def test_matches_reference_on_analytic_sdfs(shape, torch_device):
    sdf = sphere_sdf(torch.tensor([0.6, 0.05, -0.1, 0.0], dtype=torch.float64, device=torch_device)) if shape == "sphere" else box_sdf((0.5, 0.3, 0.4))
    for az, el in VIEWS[:2]:
        cam = Camera(az, el, resolution=48)
        old = render_reference(sdf, cam, device=torch_device, dtype=torch.float64)
        new = render(sdf, cam, device=torch_device, dtype=torch.float64)
        assert new.mask.shape == (48, 48) and new.normals.shape == (48, 48, 3)
        assert_same_images(new, old)
        # the same samples, but the first parabola fit of a near miss reuses the march's sample at its closest approach
        near_misses = int(((new.silhouette > 0) & ~new.mask).sum())
        assert near_misses > 0 and new.evaluations == old.evaluations - near_misses


def test_matches_reference_on_a_small_mlp_images_and_latent_gradients(torch_device):
    decoder = small_decoder(device=torch_device)
    z0 = torch.randn(8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(torch_device) * 0.3
    cam = Camera(40, 25, resolution=40)
    pixels = None
    grads, renders = [], []
    for fn in (render_reference, render):
        z = z0.clone().requires_grad_(True)
        r = fn(mlp_sdf(decoder, z), cam, TracingSettings(temperature=0.05), device=torch_device, dtype=torch.float64)
        pixels = r.mask.clone() if pixels is None else pixels
        loss = r.silhouette.sum() + (r.normals[pixels] * torch.tensor([0.5, 1.0, 1.5], dtype=torch.float64, device=torch_device)).sum() + r.depth[pixels].sum()
        loss.backward()
        grads.append(z.grad)
        renders.append(r)
    assert_same_images(renders[1], renders[0])
    assert torch.allclose(grads[1], grads[0], rtol=1e-6, atol=1e-9 * grads[0].abs().max()), grads


def test_batch_of_views_equals_one_view_at_a_time(torch_device):
    decoder = small_decoder(device=torch_device)
    z = torch.zeros(8, dtype=torch.float64, device=torch_device)
    sdf = mlp_sdf(decoder, z)
    cameras = CameraBatch.from_views([a for a, _ in VIEWS], [e for _, e in VIEWS], resolution=32)
    batch = render_batch(sdf, cameras, device=torch_device, dtype=torch.float64)
    assert batch.normals.shape == (3, 32, 32, 3) and batch.mask.shape == batch.depth.shape == batch.silhouette.shape == (3, 32, 32)
    assert len(batch) == 3 and batch.image.shape == (3, 32, 32, 3)
    singles = [render(sdf, cam, device=torch_device, dtype=torch.float64) for cam in cameras]
    for i, single in enumerate(singles):
        assert_same_images(batch.view(i), single, atol=1e-9)
        assert_same_images(batch.view(i), render_reference(sdf, cameras[i], device=torch_device, dtype=torch.float64))
    assert batch.evaluations == sum(s.evaluations for s in singles)
    # A list of cameras and a single Camera are accepted too.
    assert torch.equal(render_batch(sdf, list(cameras)[:1], device=torch_device, dtype=torch.float64).mask[0], singles[0].mask)
    assert render_batch(sdf, cameras[2], device=torch_device, dtype=torch.float64).mask.shape == (1, 32, 32)


@pytest.mark.parametrize("compact_every,chunk_size", [(1, 0), (4, 0), (16, 7), (48, None)])
def test_compaction_interval_and_chunks_do_not_change_the_images(compact_every, chunk_size, torch_device):
    """compact_every > 1 is the GPU default; the sample positions and so the images are the same."""
    sdf = box_sdf((0.5, 0.3, 0.4))
    cameras = CameraBatch.from_views([30.0, 200.0], [20.0, 35.0], resolution=32)
    base = render_batch(sdf, cameras, TracingSettings(compact_every=1, chunk_size=0), device=torch_device, dtype=torch.float64)
    other = render_batch(sdf, cameras, TracingSettings(compact_every=compact_every, chunk_size=chunk_size), device=torch_device, dtype=torch.float64)
    for i in range(2):
        assert_same_images(other.view(i), base.view(i), atol=1e-9)
    assert other.evaluations >= base.evaluations  # frozen rays are evaluated until the next compaction


def test_march_equals_sphere_trace():
    cam = Camera(20, 10, resolution=32)
    origins, dirs = cam.rays(torch.float64)
    sdf = sphere_sdf(torch.tensor([0.5, 0.1, 0.0, 0.0], dtype=torch.float64))
    only = torch.rand(len(origins), generator=torch.Generator().manual_seed(0)) > 0.3
    old = sphere_trace(sdf, origins, dirs, TracingSettings(max_steps=30), only=only)
    for every in (1, 5):
        new = march(sdf, origins, dirs, TracingSettings(max_steps=30, compact_every=every), only=only)
        assert torch.equal(new.hit, old.hit) and torch.equal(new.t, old.t)
        assert torch.equal(new.closest, old.closest) and torch.equal(new.t_closest, old.t_closest)
        assert (new.evaluations == old.evaluations) == (every == 1)


class SyncCounter(TorchFunctionMode):
    """Counts calls that copy a result to the host (the host then waits for the device)."""

    NAMES = {"nonzero", "item", "tolist", "__bool__", "cpu", "numpy", "any", "all"}

    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if getattr(func, "__name__", "") in self.NAMES:
            self.count += 1
        return func(*args, **(kwargs or {}))


def test_march_synchronizes_once_per_compaction_not_per_step():
    cam = Camera(0, 0, resolution=16)
    origins, dirs = cam.rays()
    slow = lambda p: 0.02 * (p.norm(dim=-1) - 0.3)  # noqa: E731 - an SDF that needs all the steps
    settings = TracingSettings(max_steps=48, hit_threshold=1e-6)
    with SyncCounter() as reference:
        old = sphere_trace(slow, origins, dirs, settings)
    with SyncCounter() as new:
        result = march(slow, origins, dirs, TracingSettings(max_steps=48, hit_threshold=1e-6, compact_every=8))
    assert reference.count >= 48  # one per step
    assert new.count <= 1 + math.ceil(48 / 8), new.count  # one per compaction
    assert torch.equal(result.t, old.t) and result.evaluations >= old.evaluations


def test_normals_without_gradients_and_renders_without_any_gradients():
    decoder = small_decoder()
    z = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    cam = Camera(30, 20, resolution=32)
    full = render_batch(mlp_sdf(decoder, z), cam, dtype=torch.float64)
    lean = render_batch(mlp_sdf(decoder, z), cam, dtype=torch.float64, differentiable_normals=False)
    assert_same_images(lean.view(0), full.view(0), atol=1e-9)
    assert full.normals.requires_grad and not lean.normals.requires_grad
    g_full = torch.autograd.grad(full.silhouette.sum() + full.depth[full.mask].sum(), z)[0]
    g_lean = torch.autograd.grad(lean.silhouette.sum() + lean.depth[lean.mask].sum(), z)[0]
    assert torch.allclose(g_full, g_lean, rtol=1e-9)
    # Nothing requires gradients, or gradients are off: the same images, no graph.
    fixed = mlp_sdf(decoder, z.detach())
    with torch.no_grad():
        quiet = render(fixed, cam, dtype=torch.float64)
    assert not quiet.silhouette.requires_grad
    assert_same_images(quiet, render(fixed, cam, dtype=torch.float64), atol=1e-9)
    assert_same_images(quiet, render_reference(fixed, cam, dtype=torch.float64), atol=1e-9)


def test_empty_scene_renders_background():
    nothing = lambda p: p.norm(dim=-1) + 0.5  # noqa: E731 - no zero level set
    r = render_batch(nothing, CameraBatch.from_views([0.0, 90.0], 10.0, resolution=16))
    assert not r.mask.any() and (r.silhouette == 0).all() and (r.normals == 0).all() and torch.isinf(r.depth).all()


def test_decoder_forward_and_one_latent_step_through_the_renderer(torch_device):
    """A DeepSDF decoder on the device, rendered from two views in one call, one Adam step."""
    decoder = small_decoder(torch.float32, torch_device)
    points = torch.rand(100, 3, device=torch_device) * 2 - 1
    values = decoder(torch.zeros(8, device=torch_device), points)
    assert values.shape == (100,) and values.device.type == torch_device.type
    latent = torch.zeros(8, device=torch_device, requires_grad=True)
    optimizer = torch.optim.Adam([latent], lr=0.05)
    cameras = CameraBatch.from_views([30.0, 150.0], 20.0, resolution=32)
    rendering = render_batch(mlp_sdf(decoder, latent), cameras, device=torch_device)
    assert rendering.silhouette.device.type == torch_device.type and rendering.mask.any()
    target = torch.roll(rendering.mask, 2, dims=-1).float()
    loss = torch.nn.functional.binary_cross_entropy(rendering.silhouette.clamp(1e-6, 1 - 1e-6), target) + (1 - rendering.normals[..., 2][rendering.mask]).mean()
    optimizer.zero_grad()
    loss.backward()
    assert torch.isfinite(latent.grad).all() and latent.grad.abs().sum() > 0
    optimizer.step()
    assert (latent.detach() != 0).any()


def test_low_precision_marching_stays_within_tolerance(torch_device):
    """march_dtype='bfloat16' (opt-in): marching under autocast, hits polished in float32."""
    decoder = small_decoder(torch.float32, torch_device)
    z = torch.zeros(8, device=torch_device, requires_grad=True)
    cameras = CameraBatch.from_views([30.0, 200.0], [20.0, 35.0], resolution=48)
    exact = render_batch(mlp_sdf(decoder, z), cameras, device=torch_device)
    fast = render_batch(mlp_sdf(decoder, z), cameras, TracingSettings(march_dtype="bfloat16"), device=torch_device)
    assert (fast.mask ^ exact.mask).sum() <= 0.01 * exact.mask.sum()
    both = fast.mask & exact.mask
    cos = (fast.normals[both] * exact.normals[both]).sum(-1).clamp(-1, 1)
    assert torch.rad2deg(torch.arccos(cos)).mean() < 0.5
    assert (fast.depth[both] - exact.depth[both]).abs().max() < 5e-3  # polished hits: |sdf| < hit_threshold in float32
    assert (fast.silhouette - exact.silhouette).abs().mean() < 0.01
    g_fast = torch.autograd.grad(fast.silhouette.sum(), z)[0]
    g_exact = torch.autograd.grad(exact.silhouette.sum(), z)[0]
    assert torch.nn.functional.cosine_similarity(g_fast, g_exact, dim=0) > 0.99


def test_a_decoder_field_renders_and_differentiates_like_the_decoder_call(torch_device):
    """render_batch on decoder.field(z) (code folded in; hit normals and the hits' code gradient
    from one backward pass: LatentField.linearized) equals render_batch on decoder(z, p)."""
    torch.manual_seed(3)
    decoder = DeepSDFDecoder(latent_dim=8, hidden_dim=32, num_layers=4, skip_layers=(2,), dropout=0.0, tanh_output=False).to(dtype=torch.float64, device=torch_device)
    with torch.no_grad():  # a zero level set inside the bound: shift the output to the median of the values near the centre
        decoder.output.bias -= decoder(torch.zeros(8, dtype=torch.float64, device=torch_device), torch.rand(4000, 3, dtype=torch.float64, device=torch_device) - 0.5).median()
    decoder.eval().requires_grad_(False)
    z0 = torch.randn(8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)).to(torch_device) * 0.3
    cameras = CameraBatch.from_views([30.0, 200.0], 20.0, resolution=32)
    renders, grads = [], []
    for use_field in (False, True):
        z = z0.clone().requires_grad_(True)
        sdf = decoder.field(z) if use_field else (lambda p, z=z: decoder(z, p))
        r = render_batch(sdf, cameras, TracingSettings(temperature=0.05), device=torch_device, dtype=torch.float64, differentiable_normals=False)
        (r.silhouette.sum() + r.depth[r.mask].sum()).backward()
        renders.append(r)
        grads.append(z.grad)
    assert renders[0].mask.sum() > 50
    for view in range(2):
        assert_same_images(renders[1].view(view), renders[0].view(view), atol=1e-9)
    assert torch.allclose(grads[1], grads[0], rtol=1e-7, atol=1e-12), (grads[1], grads[0])
