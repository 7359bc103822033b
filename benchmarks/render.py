"""Differentiable rendering speed: sphere tracing vs a fixed-step ray marcher, side by side.

For 64^2, 128^2 and 256^2 pixels and both DeepSDF sizes: forward time, forward+backward time
(gradient of the normal map and silhouette to the latent code) and decoder evaluations per pixel.
The baseline marches every ray with a fixed step of one 256^3 grid cell (2/255) and refines a
sign change by bisection to the same depth accuracy as the sphere tracer's hit threshold.

    python benchmarks/render.py --ckpt logs/train_deepsdf/runs/<time>/checkpoints/last.ckpt [--big-ckpt ...]

A trained checkpoint matters: an untrained decoder has no surface. Without --big-ckpt the paper
size is measured with random weights whose output is shifted into a sphere (cost only).
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from sketch2shape.models.checkpoints import load_deepsdf
from sketch2shape.models.deepsdf import DeepSDFDecoder
from sketch2shape.render.camera import Camera
from sketch2shape.render.sphere_tracing import TracingSettings, ray_sphere, render


class CountingSDF:
    def __init__(self, fn):
        self.fn, self.count = fn, 0

    def __call__(self, points):
        self.count += len(points)
        return self.fn(points)


@torch.no_grad()
def fixed_step_march(sdf_fn, origins, dirs, step: float, threshold: float, bound: float = 1.0):
    """First sign change along each ray at a fixed step, refined by bisection to ``threshold``."""
    inside, t_near, t_far = ray_sphere(origins, dirs, bound)
    hit = torch.zeros(len(origins), dtype=torch.bool)
    t_hit = torch.full((len(origins),), float("inf"))
    active = inside.clone()
    t = t_near.clone()
    previous = torch.full((len(origins),), float("inf"))
    while active.any():
        index = active.nonzero().squeeze(-1)
        sdf = sdf_fn(origins[index] + t[index, None] * dirs[index])
        crossed = (sdf <= 0) & (previous[index] > 0)
        lo, hi = t[index[crossed]] - step, t[index[crossed]]
        for _ in range(max(1, math.ceil(math.log2(step / threshold)))):
            mid = 0.5 * (lo + hi)
            inner = sdf_fn(origins[index[crossed]] + mid[:, None] * dirs[index[crossed]]) <= 0
            hi, lo = torch.where(inner, mid, hi), torch.where(inner, lo, mid)
        hit[index[crossed]] = True
        t_hit[index[crossed]] = hi
        previous[index] = sdf
        t[index] += step
        active[index[crossed | (t[index] > t_far[index])]] = False
    return hit, t_hit


def sphere_stand_in(decoder: DeepSDFDecoder):
    """Random weights, output shifted so that the level set is a rough sphere (for cost only)."""
    return lambda latent, p: decoder(latent, p) * 0.01 + p.norm(dim=-1) - 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a trained DeepSDF checkpoint (the CPU-sized model)")
    parser.add_argument("--big-ckpt", default=None, help="a trained paper-sized checkpoint, if you have one")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--skip-big", action="store_true", help="only the CPU-sized model (the paper size takes long on a CPU)")
    args = parser.parse_args()
    torch.manual_seed(0)

    models = {}
    small = load_deepsdf(args.ckpt, torch.device("cpu"))
    models["deepsdf_small (trained)"] = (small.decoder, small.mean_latent())
    if args.skip_big:
        pass
    elif args.big_ckpt:
        big = load_deepsdf(args.big_ckpt, torch.device("cpu"))
        models["deepsdf (trained)"] = (big.decoder, big.mean_latent())
    else:
        big = DeepSDFDecoder().eval().requires_grad_(False)
        models["deepsdf (random, sphere)"] = (sphere_stand_in(big), torch.zeros(big.latent_dim))

    settings = TracingSettings()
    camera = Camera(azimuth_deg=30, elevation_deg=20)
    header = f"{'model':<26} {'res':>5} {'fwd s':>7} {'fwd+bwd s':>10} {'evals/px':>9} | {'fixed-step s':>12} {'evals/px':>9} {'ratio':>6} {'mask IoU':>8}"
    print("\n" + header + "\n" + "-" * len(header))
    for name, (decoder, latent) in models.items():
        for res in args.resolutions:
            cam = camera.with_resolution(res)
            latent_var = latent.clone().requires_grad_(True)
            counter = CountingSDF(lambda p: decoder(latent_var, p))
            start = time.perf_counter()
            rendering = render(counter, cam, settings)
            forward = time.perf_counter() - start
            start = time.perf_counter()
            rendering = render(lambda p: decoder(latent_var, p), cam, settings)
            (rendering.normals.sum() + rendering.silhouette.sum()).backward()
            both = time.perf_counter() - start
            origins, dirs = cam.rays()
            fixed_counter = CountingSDF(lambda p: decoder(latent, p))
            start = time.perf_counter()
            with torch.no_grad():
                fixed_hit, _ = fixed_step_march(fixed_counter, origins, dirs, step=2 / 255, threshold=settings.hit_threshold)
            fixed_s = time.perf_counter() - start
            mask = rendering.mask.reshape(-1)
            iou = (mask & fixed_hit).sum().item() / max(1, (mask | fixed_hit).sum().item())
            pixels = res * res
            ours, theirs = counter.count / pixels, fixed_counter.count / pixels
            print(f"{name:<26} {res:>5} {forward:>7.2f} {both:>10.2f} {ours:>9.1f} | {fixed_s:>12.2f} {theirs:>9.1f} {ours / theirs:>6.2f} {iou:>8.3f}")


if __name__ == "__main__":
    main()
