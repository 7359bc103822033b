"""Sketch-reconstruction optimization steps per second: the original renderer vs the batched one.

One step = render the silhouette of a DeepSDF-sized MLP (latent 64, 6 x 256, the
``deepsdf_small`` model) from 1..4 views at 64 x 64 pixels, a binary cross-entropy against target
silhouettes (mean over views, as ``SketchObjective``'s silhouette term), backward through the
render to the latent code, one Adam step. Paths, side by side and interleaved (one step of each
per round, medians reported, so that a busy machine hurts all of them alike):

* ``reference, loop``: ``render_reference`` once per view, the renderer before issue 12 (its
  marching loop synchronizes with the device every step);
* ``render, loop``: ``render`` (the new renderer, one view per call) once per view;
* ``render_batch``: all views in one ``render_batch`` call;
* ``render_batch, nd``: the same with ``differentiable_normals=False`` (a silhouette loss does
  not need the normals' double-backward graph);
* ``render_batch, bf16`` (with ``--bf16``): the opt-in ``march_dtype="bfloat16"`` (marching under
  autocast, hits polished in float32; results within tolerance, not identical).

``mask IoU`` compares each path's masks at the start code with the reference's; ``evals/step``
counts SDF evaluations (points) per step. The CPU work is the MLP: the new paths evaluate the same
points as the reference (bf16 a few more), so on a CPU their gain is bounded by cheaper
evaluations (chunks that stay in cache, one gradient pass less), not by fewer synchronizations.

Without ``--ckpt`` the SDF is an analytic chair clamped to +-0.1 (like DeepSDF's training
targets) plus a small random-weight MLP term, so that every evaluation costs one MLP forward and
the latent gets gradients; ``--ckpt`` renders a trained DeepSDF checkpoint at its mean code.

    python benchmarks/render_steps.py [--threads 1] [--views 1 2 4] [--rounds 5] [--bf16] [--ckpt path/to/last.ckpt]
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
import torch.nn.functional as F

from sketch2shape.models.deepsdf import DeepSDFDecoder
from sketch2shape.render.camera import Camera, CameraBatch
from sketch2shape.render.sphere_tracing import TracingSettings, render, render_batch, render_reference

VIEWS = [(30.0, 35.0), (120.0, 20.0), (210.0, 35.0), (300.0, 20.0)]
CHAIR = [  # (center, half extents) of boxes inside the unit sphere
    ((0.0, 0.0, 0.0), (0.4, 0.05, 0.4)),
    ((0.0, 0.4, -0.35), (0.4, 0.35, 0.05)),
    *[((x, -0.4, z), (0.05, 0.35, 0.05)) for x in (-0.33, 0.33) for z in (-0.33, 0.33)],
]


def chair_sdf(points: torch.Tensor) -> torch.Tensor:
    distances = []
    for center, half in CHAIR:
        q = (points - torch.tensor(center, dtype=points.dtype, device=points.device)).abs() - torch.tensor(half, dtype=points.dtype, device=points.device)
        distances.append(q.clamp_min(0).norm(dim=-1) + q.max(dim=-1).values.clamp_max(0))
    return torch.stack(distances).min(dim=0).values


def make_sdf(args):
    """(sdf(latent, points), start latent)."""
    if args.ckpt:
        from sketch2shape.models.checkpoints import load_deepsdf

        model = load_deepsdf(args.ckpt, torch.device("cpu"))
        return (lambda latent, p: model.decoder(latent, p)), model.mean_latent().detach()
    decoder = DeepSDFDecoder(latent_dim=64, hidden_dim=256, num_layers=6, skip_layers=(3,), dropout=0.0).eval().requires_grad_(False)
    return (lambda latent, p: chair_sdf(p).clamp(-0.1, 0.1) + 0.02 * decoder(latent, p)), torch.randn(64, generator=torch.Generator().manual_seed(0)) * 0.1


class Path:
    def __init__(self, name, render_views, sdf, start, targets, lr):
        self.name, self.render_views, self.sdf, self.targets = name, render_views, sdf, targets
        self.latent = start.clone().requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.latent], lr=lr)
        self.times: list[float] = []
        self.evaluations = 0
        self.masks = None

    def step(self) -> None:
        start = time.perf_counter()
        silhouettes, masks, self.evaluations = self.render_views(lambda p: self.sdf(self.latent, p))
        loss = F.binary_cross_entropy(silhouettes.clamp(1e-6, 1 - 1e-6), self.targets)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.times.append(time.perf_counter() - start)
        if self.masks is None:
            self.masks = masks


def paths_for(cameras: list[Camera], settings: TracingSettings, bf16: bool):
    batch = CameraBatch.from_cameras(cameras)

    def loop(fn):
        def run(sdf_fn):
            renderings = [fn(sdf_fn, camera, settings) for camera in cameras]
            return (torch.stack([r.silhouette for r in renderings]), torch.stack([r.mask for r in renderings]), sum(r.evaluations for r in renderings))
        return run

    def batched(differentiable_normals=True, **changes):
        def run(sdf_fn):
            r = render_batch(sdf_fn, batch, replace(settings, **changes), differentiable_normals=differentiable_normals)
            return r.silhouette, r.mask, r.evaluations
        return run

    paths = {"reference, loop": loop(render_reference), "render, loop": loop(render), "render_batch": batched(), "render_batch, nd": batched(False)}
    if bf16:
        paths["render_batch, bf16"] = batched(march_dtype="bfloat16")
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, nargs="+", default=[1, 2, 4], help="numbers of views (1-4)")
    parser.add_argument("--rounds", type=int, default=5, help="timed steps per path (after one warm-up step)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=48, help="marching steps (optimize_sketch's render.max_steps)")
    parser.add_argument("--chunk-size", type=int, default=None, help="TracingSettings.chunk_size for the new paths (default: automatic)")
    parser.add_argument("--bf16", action="store_true", help="also the opt-in march_dtype='bfloat16' path (fast only on CPUs with AVX512-BF16/AMX, and on GPUs)")
    parser.add_argument("--ckpt", default=None, help="a trained DeepSDF checkpoint instead of the analytic stand-in")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sdf, start = make_sdf(args)
    settings = TracingSettings(max_steps=args.max_steps, chunk_size=args.chunk_size)
    model = f"checkpoint {args.ckpt}" if args.ckpt else "analytic chair (clamped 0.1) + 0.02 x random MLP (latent 64, 6x256)"
    print(f"{model}; {args.resolution}^2 px, max_steps={args.max_steps}, torch threads={torch.get_num_threads()}, device=cpu, rounds={args.rounds}")

    header = f"{'views':>5} {'path':<18} {'steps/s':>8} {'min..max s/step':>16} {'vs reference':>12} {'evals/step':>10} {'mask IoU':>8}"
    print("\n" + header + "\n" + "-" * len(header))
    for count in args.views:
        cameras = [Camera(az, el, resolution=args.resolution) for az, el in VIEWS[:count]]
        with torch.no_grad():  # targets: the start shape's silhouettes moved 3 pixels to the right
            masks = torch.stack([render_reference(lambda p: sdf(start, p), cam, settings).mask for cam in cameras])
        targets = torch.roll(masks, 3, dims=-1).float()
        paths = [Path(name, fn, sdf, start, targets, lr=1e-2) for name, fn in paths_for(cameras, settings, args.bf16).items()]
        for path in paths:
            path.step()  # warm-up, and the masks at the start code
            path.times.clear()
        for _ in range(args.rounds):
            for path in paths:
                path.step()
        reference = statistics.median(paths[0].times)
        for path in paths:
            median = statistics.median(path.times)
            both = (path.masks & paths[0].masks).sum().item()
            iou = both / max(1, (path.masks | paths[0].masks).sum().item())
            spread = f"{min(path.times):.3f}..{max(path.times):.3f}"
            print(f"{count:>5} {path.name:<18} {1 / median:>8.2f} {spread:>16} {reference / median:>11.2f}x {path.evaluations:>10} {iou:>8.4f}")


if __name__ == "__main__":
    main()
