"""WarmStart: renders of an optimization that start where the last one found the surface.

Tolerance (stated in sketch2shape/render/warm_start.py): a warm render matches the cold render of
the same shape within a hit's tolerance: at most 1% of the hit pixels flip (silhouette pixels
the two marchings decide differently; 2.5% with the shipped decoder, whose silhouettes have more
grazing rays), silhouettes within 0.01 on average, depths where both hit
within 2e-3 on average and 0.05 at most (a hit is any point with |sdf| < hit_threshold, which
along a ray grazing a sphere of radius 0.5 spans up to 0.045), latent gradients in the same
direction (cosine > 0.95).
"""

import pytest
import torch
import torch.nn.functional as F

from sketch2shape.models.checkpoints import load_deepsdf_file
from sketch2shape.pretrained import pretrained_model
from sketch2shape.render.camera import CameraBatch
from sketch2shape.render.sphere_tracing import TracingSettings, march, render_batch
from sketch2shape.render.warm_start import WarmStart
from tests.render.test_render_batch import mlp_sdf, small_decoder
from tests.render.test_sphere_tracing import sphere_sdf

CAMERAS = CameraBatch.from_views([30.0, 200.0], [20.0, 35.0], resolution=48)


def assert_close_to_cold(warm, cold):
    hits = int(cold.mask.sum())
    assert hits > 50
    assert int((warm.mask ^ cold.mask).sum()) <= max(1, hits // 100)
    assert (warm.silhouette - cold.silhouette).abs().mean() < 0.01
    both = warm.mask & cold.mask
    depth = (warm.depth[both] - cold.depth[both]).abs()
    assert depth.mean() < 2e-3 and depth.max() < 0.05


def test_the_first_render_is_the_plain_cold_render():
    decoder = small_decoder()
    z = torch.zeros(8, dtype=torch.float64)
    state = WarmStart()
    warm = render_batch(mlp_sdf(decoder, z), CAMERAS, dtype=torch.float64, warm=state)
    cold = render_batch(mlp_sdf(decoder, z), CAMERAS, dtype=torch.float64)
    assert state.last == "cold"
    for name in ("mask", "depth", "silhouette", "normals"):
        assert torch.equal(getattr(warm, name), getattr(cold, name)), name
    assert warm.evaluations == cold.evaluations


def test_warm_renders_match_cold_ones_along_an_optimization():
    """Images and latent gradients of each step, warm vs cold at the same code; fewer evaluations."""
    decoder = small_decoder()
    z = (torch.randn(8, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 0.3).requires_grad_(True)
    with torch.no_grad():
        target = render_batch(mlp_sdf(decoder, torch.ones(8, dtype=torch.float64)), CAMERAS, dtype=torch.float64).mask.double()
    optimizer = torch.optim.Adam([z], lr=0.05)
    state = WarmStart()
    kinds, saved = [], []
    for _ in range(8):
        renders, grads = [], []
        for warm in (None, state):
            r = render_batch(mlp_sdf(decoder, z), CAMERAS, dtype=torch.float64, differentiable_normals=False, warm=warm)
            loss = F.binary_cross_entropy(r.silhouette.clamp(1e-6, 1 - 1e-6), target)
            grads.append(torch.autograd.grad(loss, z)[0])
            renders.append(r)
        cold, warm = renders
        kinds.append(state.last)
        assert_close_to_cold(warm, cold)
        assert F.cosine_similarity(grads[0], grads[1], dim=0) > 0.95
        saved.append(cold.evaluations / warm.evaluations)
        optimizer.zero_grad()
        z.grad = grads[0]
        optimizer.step()
    assert kinds[0] == "cold" and kinds[1:].count("warm") >= 5, kinds
    assert min(s for s, k in zip(saved, kinds) if k == "warm") > 1.3, saved


def test_a_moving_shape_is_followed_new_hits_included():
    """A sphere sliding sideways: rays that missed start to hit (found in their band stretch), the
    hits satisfy the hit test, and the images stay those of a cold render."""
    settings = TracingSettings()
    state = WarmStart()
    for i in range(10):
        code = torch.tensor([0.5, -0.1 + 0.015 * i, 0.02 * i, 0.0], dtype=torch.float64)
        warm = render_batch(sphere_sdf(code), CAMERAS, settings, dtype=torch.float64, warm=state)
        cold = render_batch(sphere_sdf(code), CAMERAS, settings, dtype=torch.float64)
        assert_close_to_cold(warm, cold)
        origins, dirs = (x.reshape(-1, 3) for x in CAMERAS.rays(torch.float64))
        hit = warm.mask.reshape(-1)
        points = origins[hit] + warm.depth.reshape(-1)[hit, None] * dirs[hit]
        assert ((points - code[1:]).norm(dim=-1) - 0.5).abs().max() < 2 * settings.hit_threshold
    assert state.last == "warm"
    assert warm.evaluations < 0.7 * cold.evaluations


def test_falls_back_to_a_cold_render_when_the_shape_jumps():
    """A code that jumps to another shape: the drift exceeds the budget, the render is cold (exactly the plain one)."""
    state = WarmStart()
    small = torch.tensor([0.4, 0.0, 0.0, 0.0], dtype=torch.float64)
    render_batch(sphere_sdf(small), CAMERAS, dtype=torch.float64, warm=state)
    render_batch(sphere_sdf(small), CAMERAS, dtype=torch.float64, warm=state)
    assert state.last == "warm"
    other = torch.tensor([0.6, 0.1, -0.05, 0.0], dtype=torch.float64)
    warm = render_batch(sphere_sdf(other), CAMERAS, dtype=torch.float64, warm=state)
    cold = render_batch(sphere_sdf(other), CAMERAS, dtype=torch.float64)
    assert state.last == "drift"
    assert torch.equal(warm.mask, cold.mask) and torch.equal(warm.silhouette, cold.silhouette) and warm.evaluations == cold.evaluations
    # New cameras (or settings) start over cold as well.
    render_batch(sphere_sdf(other), CameraBatch.from_views([90.0], [10.0], resolution=48), dtype=torch.float64, warm=state)
    assert state.last == "cold"


def test_small_steps_that_add_up_refresh_the_skipped_stretches():
    """Many small moves in one direction: their summed drift uses up the budget, so rays are
    re-marched from the bounding sphere before a skipped stretch could reach the surface."""
    state = WarmStart(band=0.15, safety=2.0)
    remarched = []
    for i in range(12):
        code = torch.tensor([0.45 + 0.008 * i, 0.0, 0.0, 0.0], dtype=torch.float64)
        warm = render_batch(sphere_sdf(code), CAMERAS, dtype=torch.float64, warm=state)
        cold = render_batch(sphere_sdf(code), CAMERAS, dtype=torch.float64)
        assert_close_to_cold(warm, cold)
        remarched.append(state.remarched)
        assert state.last in ("cold", "warm")
    assert max(remarched[1:]) > 0.5 * int(cold.mask.sum()), remarched


def test_the_band_record_keeps_the_smallest_sdf_off_the_band_stretch():
    """BandRecord.clearance, the bound on the skipped stretches, against the samples of plain sphere
    tracing computed here: the smallest |sdf| before the first sample within the band and after the
    last one, for a ray that hits, one that passes through the band and one that never enters it."""
    radius, band, settings = 0.5, 0.15, TracingSettings()
    offsets = torch.tensor([0.3, 0.6, 0.7], dtype=torch.float64)  # hits; passes at 0.1 from the surface; at 0.2
    origins = torch.stack([torch.zeros_like(offsets), offsets, torch.full_like(offsets, -3.0)], dim=1)
    dirs = torch.tensor([[0.0, 0.0, 1.0]], dtype=torch.float64).expand(3, 3)
    trace = march(sphere_sdf(torch.tensor([radius, 0.0, 0.0, 0.0], dtype=torch.float64)), origins, dirs, settings, band=band)
    for i, offset in enumerate(offsets.tolist()):
        t, t_far = 3 - (1 - offset**2) ** 0.5, 3 + (1 - offset**2) ** 0.5  # the ray in and out of the bounding sphere
        samples = []
        for _ in range(settings.max_steps):
            f = (offset**2 + (t - 3) ** 2) ** 0.5 - radius
            samples.append(abs(f))
            if abs(f) < settings.hit_threshold or t + settings.step_scale * f > t_far:
                break
            t += settings.step_scale * f
        inside = [k for k, f in enumerate(samples) if f < band]
        outside = samples if not inside else samples[: inside[0]] + samples[inside[-1] + 1 :]
        assert trace.band.clearance[i].item() == pytest.approx(min(outside, default=float("inf")), abs=1e-12)
        assert bool(trace.hit[i]) == (i == 0)
    assert trace.band.clearance[0] >= band and trace.band.clearance[1] >= band and trace.band.clearance[2] == trace.closest[2]


def test_a_still_shape_is_a_fixed_point_at_a_third_of_the_cost():
    """The same shape rendered again: no ray is marched from the bounding sphere but those that
    max_steps stopped (they creep along the surface and stay unfinished), the renders after
    the first warm one repeat it exactly (the near misses start at their refined closest approach),
    they match the cold render within tolerance and cost under 40% of it."""
    sdf = mlp_sdf(small_decoder(), torch.full((8,), 0.3, dtype=torch.float64))
    state = WarmStart()
    cold = render_batch(sdf, CAMERAS, dtype=torch.float64, warm=state)
    unfinished = int((~state.previous.finished).sum())
    first = render_batch(sdf, CAMERAS, dtype=torch.float64, warm=state)
    second = render_batch(sdf, CAMERAS, dtype=torch.float64, warm=state)
    assert state.last == "warm" and state.remarched == unfinished < 0.01 * cold.mask.numel() and state.drift < 1e-6
    assert_close_to_cold(first, cold)
    for name in ("mask", "depth", "silhouette"):
        assert torch.allclose(getattr(second, name), getattr(first, name), atol=1e-9), name
    assert second.evaluations < 0.4 * cold.evaluations, (cold.evaluations, second.evaluations)


def test_the_shipped_decoder_stays_within_tolerance_along_a_silhouette_fit():
    """The shipped ``procedural`` DeepSDF decoder (an MLP), its mean code fitted to the silhouette of training shape 3 (a
    fit whose hits move most among the benchmark's targets): every warm render stays within the
    tolerance of the cold render of the same code. Before depth_tolerance, Newton restarts from the
    last hits missed crossings that grew in front of them along grazing approaches: hits up to 1.1
    deeper than the first surface from the fourth step on."""
    model = load_deepsdf_file(pretrained_model("procedural").files()["deepsdf"])
    camera = CameraBatch.from_views([30.0], [35.0], resolution=64)
    with torch.no_grad():
        target = render_batch(model.decoder.field(model.latents.weight[3]), camera).mask.float()
    z = model.mean_latent().detach().clone().requires_grad_(True)
    optimizer, state = torch.optim.Adam([z], lr=1e-2), WarmStart()
    for _ in range(8):
        warm = render_batch(model.decoder.field(z), camera, differentiable_normals=False, warm=state)
        with torch.no_grad():
            cold = render_batch(model.decoder.field(z.detach()), camera)
        hits = int(cold.mask.sum())
        assert int((warm.mask ^ cold.mask).sum()) <= hits // 40  # grazing rays: hit or miss is decided by where samples land
        assert (warm.silhouette - cold.silhouette).abs().mean() < 0.01
        both = warm.mask & cold.mask
        depth = (warm.depth[both] - cold.depth[both]).abs()
        assert depth.mean() < 2e-3 and depth.max() < 0.05, (depth.mean(), depth.max())
        loss = F.binary_cross_entropy(warm.silhouette.clamp(1e-6, 1 - 1e-6), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert state.last == "warm"


def test_low_precision_marching_works_with_the_warm_start():
    """march_dtype='bfloat16' (an accepted setting) with a WarmStart, as SketchObjective uses it:
    the warm renders follow an optimization and stay within tolerance of float32 cold renders."""
    decoder = small_decoder(torch.float32)
    settings = TracingSettings(march_dtype="bfloat16")
    z = (torch.randn(8, generator=torch.Generator().manual_seed(1)) * 0.3).requires_grad_(True)
    with torch.no_grad():
        target = render_batch(mlp_sdf(decoder, torch.ones(8)), CAMERAS).mask.float()
    optimizer = torch.optim.Adam([z], lr=0.05)
    state, kinds = WarmStart(), []
    for _ in range(5):
        warm = render_batch(mlp_sdf(decoder, z), CAMERAS, settings, differentiable_normals=False, warm=state)
        kinds.append(state.last)
        with torch.no_grad():
            cold = render_batch(mlp_sdf(decoder, z.detach()), CAMERAS)
        hits = int(cold.mask.sum())
        assert int((warm.mask ^ cold.mask).sum()) <= max(2, hits // 50)
        assert (warm.silhouette - cold.silhouette).abs().mean() < 0.01
        loss = F.binary_cross_entropy(warm.silhouette.clamp(1e-6, 1 - 1e-6), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert kinds[0] == "cold" and "warm" in kinds[1:], kinds
