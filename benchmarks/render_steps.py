"""Sketch-reconstruction optimization steps per second on the CPU: today's renderer vs the warm-started one.

One step = render the soft silhouettes of the shipped DeepSDF decoder
(``sketch2shape/pretrained/deepsdf.pt``) from 1..4 views at 64 x 64 pixels, a binary
cross-entropy against target silhouettes (mean over views, as ``SketchObjective``'s silhouette
term), backward to the latent code, one Adam step (lr 1e-2, as ``SketchToShape``'s refinement).
The code starts at the decoder's mean code; the targets are the silhouettes of training shape
``--target`` from the same views, so the shape really moves during the run. Every path runs its
own optimization of ``--steps`` steps from that start, all steps timed (the first render of a
warm-started path is cold, and so are its refreshes, so they count). Paths run interleaved, one
step of each per round, so that a busy machine slows them alike; steps/s = steps / total wall
time. On a machine shared with other jobs the wall time of a step can jump tenfold, so the CPU
time of this process (``time.process_time``, all its threads) is reported too: the work a step
takes, which other jobs change much less.

* ``reference, loop`` (today, before issue 12): ``render_reference`` once per view;
* ``render, loop``: ``render`` once per view, what ``SketchObjective`` did before the warm start;
* ``render_batch, nd``: all views in one cold ``render_batch`` call, normals without gradients
  (a silhouette loss does not need them);
* ``warm``: the same with a ``WarmStart`` kept across the steps: each render starts where the
  last one found the surface;
* ``warm + field``: the same with the SDF as ``decoder.field(latent)`` built once per step (the
  latent code folded into biases, weight normalization applied once:
  :class:`~sketch2shape.models.deepsdf.LatentField`), what ``SketchObjective`` does now. The
  paths above call ``decoder(latent, points)`` at every evaluation, as the code before issue 12 did.

``evals/step``: SDF evaluations (points) per step, mean. ``final loss``: the loss at the last step
(the paths follow slightly different trajectories: warm renders match cold ones within a hit's
tolerance, not bit for bit). ``max |d loss|``: the largest difference, over the steps, between a
path's loss and the loss of the same latent rendered by ``render_reference``, a check that the
renders agree along the whole run (``--check``, off by default: it costs a reference render per step).

The table is printed and written to ``benchmarks/results/render_steps/`` (``results.csv`` and
``summary.md`` with the command and the machine).

    python benchmarks/render_steps.py [--views 1 2 4] [--steps 20] [--threads N] [--check]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from sketch2shape.models.checkpoints import load_deepsdf_file
from sketch2shape.render.camera import Camera, CameraBatch
from sketch2shape.render.sphere_tracing import TracingSettings, render, render_batch, render_reference
from sketch2shape.render.warm_start import WarmStart

REPO = Path(__file__).resolve().parents[1]
VIEWS = [(30.0, 35.0), (120.0, 20.0), (210.0, 35.0), (300.0, 20.0)]


class Run:
    """One optimization: a latent, its Adam, the render function of the path, and its timings."""

    def __init__(self, name, render_views, field, decoder, start, targets, lr):
        self.name, self.render_views, self.field, self.decoder, self.targets = name, render_views, field, decoder, targets
        self.latent = start.clone().requires_grad_(True)
        self.optimizer = torch.optim.Adam([self.latent], lr=lr)
        self.times: list[float] = []
        self.cpu_times: list[float] = []
        self.evaluations: list[int] = []
        self.losses: list[float] = []
        self.latents: list[torch.Tensor] = []

    def step(self) -> None:
        self.latents.append(self.latent.detach().clone())
        start, cpu_start = time.perf_counter(), time.process_time()
        sdf = self.decoder.field(self.latent) if self.field else (lambda p: self.decoder(self.latent, p))
        silhouettes, evaluations = self.render_views(sdf)
        loss = F.binary_cross_entropy(silhouettes.clamp(1e-6, 1 - 1e-6), self.targets)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.times.append(time.perf_counter() - start)
        self.cpu_times.append(time.process_time() - cpu_start)
        self.evaluations.append(evaluations)
        self.losses.append(float(loss.detach()))


def paths_for(cameras: list[Camera], settings: TracingSettings):
    """name -> (function(sdf) -> ((V, H, W) silhouettes, SDF evaluations), whether the path's SDF is the decoder's field)."""
    batch = CameraBatch.from_cameras(cameras)

    def loop(fn):
        def run(sdf_fn):
            renderings = [fn(sdf_fn, camera, settings) for camera in cameras]
            return torch.stack([r.silhouette for r in renderings]), sum(r.evaluations for r in renderings)
        return run

    def batched(warm: bool):
        state = WarmStart() if warm else None

        def run(sdf_fn):
            r = render_batch(sdf_fn, batch, settings, differentiable_normals=False, warm=state)
            return r.silhouette, r.evaluations
        return run

    return {"reference, loop": (loop(render_reference), False), "render, loop": (loop(render), False), "render_batch, nd": (batched(False), False),
            "warm": (batched(True), False), "warm + field": (batched(True), True)}


def reference_loss(decoder, latent, cameras, settings, targets) -> float:
    with torch.no_grad():
        silhouettes = torch.stack([render_reference(lambda p: decoder(latent, p), cam, settings).silhouette for cam in cameras])
    return float(F.binary_cross_entropy(silhouettes.clamp(1e-6, 1 - 1e-6), targets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, nargs="+", default=[1, 2, 4], help="numbers of views (1-4)")
    parser.add_argument("--steps", type=int, default=20, help="optimization steps per path (all timed)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--resolution", type=int, default=64)
    parser.add_argument("--max-steps", type=int, default=TracingSettings.max_steps, help="marching steps (SketchToShape's default)")
    parser.add_argument("--target", type=int, default=7, help="training shape whose silhouettes are the targets")
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--check", action="store_true", help="also the loss of each step's latent under render_reference (max |d loss|)")
    parser.add_argument("--ckpt", default=str(REPO / "sketch2shape" / "pretrained" / "deepsdf.pt"), help="a DeepSDF release file or checkpoint")
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "render_steps"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = load_deepsdf_file(args.ckpt)
    decoder, start, goal = model.decoder, model.mean_latent().detach(), model.latents.weight[args.target].detach()
    settings = TracingSettings(max_steps=args.max_steps)
    head = (f"{Path(args.ckpt).name}: mean code -> silhouettes of training shape {args.target}; {args.resolution}^2 px, max_steps={args.max_steps}, "
            f"Adam lr={args.lr}, {args.steps} steps per path; torch threads={torch.get_num_threads()}, CPU ({os.cpu_count()} cores, {platform.machine()})")
    print(head)

    header = f"{'views':>5} {'path':<17} {'steps/s':>8} {'vs today':>8} {'CPU s/step':>10} {'vs today':>8} {'evals/step':>10} {'final loss':>10}" + (f" {'max |d loss|':>12}" if args.check else "")
    print("\n" + header + "\n" + "-" * len(header))
    rows = []
    render_reference(lambda p: decoder(start, p), Camera(*VIEWS[0], resolution=16), settings)  # first-call overheads
    for count in args.views:
        cameras = [Camera(az, el, resolution=args.resolution) for az, el in VIEWS[:count]]
        with torch.no_grad():
            targets = torch.stack([render_reference(lambda p: decoder(goal, p), cam, settings).mask for cam in cameras]).float()
        paths = [Run(name, fn, field, decoder, start, targets, args.lr) for name, (fn, field) in paths_for(cameras, settings).items()]
        for _ in range(args.steps):
            for path in paths:
                path.step()
        today, today_cpu = sum(paths[0].times), sum(paths[0].cpu_times)
        for path in paths:
            total, cpu = sum(path.times), sum(path.cpu_times)
            row = {"views": count, "path": path.name, "steps_per_s": args.steps / total, "vs_today": today / total, "cpu_s_per_step": cpu / args.steps,
                   "vs_today_cpu": today_cpu / cpu, "evals_per_step": sum(path.evaluations) / args.steps, "final_loss": path.losses[-1]}
            line = (f"{count:>5} {path.name:<17} {row['steps_per_s']:>8.2f} {row['vs_today']:>7.2f}x {row['cpu_s_per_step']:>10.3f} {row['vs_today_cpu']:>7.2f}x"
                    f" {row['evals_per_step']:>10.0f} {row['final_loss']:>10.4f}")
            if args.check:
                row["max_loss_diff"] = max(abs(loss - reference_loss(decoder, z, cameras, settings, targets)) for z, loss in zip(path.latents, path.losses))
                line += f" {row['max_loss_diff']:>12.5f}"
            rows.append(row)
            print(line, flush=True)
    write_results(Path(args.out), rows, head, args)


def write_results(out: Path, rows: list[dict], head: str, args) -> None:
    """``results.csv`` (one row per views x path) and ``summary.md`` (the table, the command)."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: f"{v:.5g}" if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    table = ["| views | path | steps/s | vs today | CPU s/step | vs today (CPU) | evals/step | final loss |" + (" max \\|d loss\\| |" if args.check else ""),
             "|---|---|---|---|---|---|---|---|" + ("---|" if args.check else "")]
    for r in rows:
        table.append(f"| {r['views']} | {r['path']} | {r['steps_per_s']:.2f} | {r['vs_today']:.2f}x | {r['cpu_s_per_step']:.3f} | {r['vs_today_cpu']:.2f}x |"
                     f" {r['evals_per_step']:.0f} | {r['final_loss']:.4f} |"
                     + (f" {r['max_loss_diff']:.5f} |" if args.check else ""))
    command = "python benchmarks/render_steps.py " + " ".join(sys.argv[1:])
    (out / "summary.md").write_text(f"{head}\n\n" + "\n".join(table) + f"\n\n`{command.strip()}` (today = `reference, loop`; paths interleaved in one run)\n")


if __name__ == "__main__":
    main()
