"""Sphere tracing on a machine that other torch processes keep busy: OpenMP's spin-waiting, side by side.

Every torch process runs its parallel regions with one OpenMP thread per core. Between regions
GNU OpenMP (``libgomp``, which the CPU wheels of torch use) keeps its threads spinning, by default
for up to 300,000 spins, so that the next region starts without waking them. With more busy threads
than cores, the spinners take the cores from the threads that have work, and each process slows
down far more than its share of the machine would say. ``sketch2shape`` sets ``GOMP_SPINCOUNT`` to
1000 when it is imported before torch and the variable is unset (``sketch2shape/__init__.py``):
threads still spin briefly, then sleep.

This script times ``--renders`` cold 64^2 renders of the shipped decoder (mean code, 1 view),
the marching's mix of large and small MLP calls, in a process with ``GOMP_SPINCOUNT`` unset
(libgomp's default) and set to 1000: alone, beside a plain Python loop that keeps one core busy
(the usual busy desktop), and as one of ``--copies`` such processes at once (seconds per process,
mean and slowest). The ratios are against the same setting alone; a fair share of the cores would
be ``copies * threads / cores``. A short spin costs a little on an idle machine: the threads are
woken for each parallel region instead of catching it while they spin.

python benchmarks/busy_machine.py
python benchmarks/busy_machine.py --copies 3 --renders 20
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WORKER = """
import time, torch
from sketch2shape.models.checkpoints import PRETRAINED, load_deepsdf_file
from sketch2shape.render.camera import Camera, CameraBatch
from sketch2shape.render.sphere_tracing import TracingSettings, render_batch
model = load_deepsdf_file(PRETRAINED["deepsdf"])
field = model.decoder.field(model.mean_latent().detach())
cameras = CameraBatch.from_cameras([Camera(30.0, 35.0, resolution=64)])
render_batch(field, cameras, TracingSettings(), differentiable_normals=False)  # warm-up
start = time.perf_counter()
for _ in range({renders}):
    render_batch(field, cameras, TracingSettings(), differentiable_normals=False)
print(time.perf_counter() - start)
"""


def run_copies(copies: int, renders: int, spincount: str | None) -> list[float]:
    """Seconds of each of ``copies`` worker processes started together."""
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    if spincount is not None:
        env["GOMP_SPINCOUNT"] = spincount
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    # `python -c` with torch imported first: the package's default does not apply, the environment decides
    code = "import torch\n" + WORKER.format(renders=renders)
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(copies)]
    try:
        outs = [p.communicate(timeout=1800)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    if any(p.returncode for p in procs):
        raise SystemExit(f"a worker failed (exit {[p.returncode for p in procs]})")
    return [float(out.strip().splitlines()[-1]) for out in outs]


def with_spinner(renders: int, spincount: str | None) -> float:
    """Seconds of one worker while a plain Python loop keeps one core busy (a browser, an editor)."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        return run_copies(1, renders, spincount)[0]
    finally:
        spinner.kill()
        spinner.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=3, help="processes at once (default 3, on this 2-core machine)")
    parser.add_argument("--renders", type=int, default=20)
    args = parser.parse_args()
    if args.copies < 2 or args.renders < 1:
        raise SystemExit("error: need --copies >= 2 and --renders >= 1")
    began = time.perf_counter()
    rows = []
    for label, spincount in (("unset (libgomp default)", None), ("1000 (sketch2shape's default)", "1000")):
        alone = run_copies(1, args.renders, spincount)[0]
        spinner = with_spinner(args.renders, spincount)
        together = run_copies(args.copies, args.renders, spincount)
        rows.append((label, alone, spinner, sum(together) / len(together), max(together)))
    print(f"{args.renders} cold 64^2 renders per process, shipped decoder, seconds; {os.cpu_count()} cores\n")
    print(f"| GOMP_SPINCOUNT | alone | beside a busy Python loop | {args.copies} processes at once (mean / slowest) |")
    print("|---|---|---|---|")
    for label, alone, spinner, mean, slowest in rows:
        print(f"| {label} | {alone:.2f} | {spinner:.2f} ({spinner / alone:.1f}x) | {mean:.2f} / {slowest:.2f} ({mean / alone:.1f}x) |")
    print(f"\n`python benchmarks/busy_machine.py --copies {args.copies} --renders {args.renders}` ({time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
