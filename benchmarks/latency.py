"""Latency of sketch -> shape with the shipped models, side by side with the former default, in one run.

Rows, per example sketch (``examples/*.png``), seconds on this machine's CPU:

* ``first mesh``: load both models, read and normalize the sketch, encode, mesh at 128^3
  (what `sketch2shape reconstruct` writes first);
* ``refinement``: the optional refinement after it (30 steps at 64 px + meshing + the IoU check);
* ``former default``: the code optimized from the mean code for 100 steps at 64 px (the loop
  `reconstruct` ran before the encoder existed; its Siamese term left out, the rendering cost is
  the same) + meshing at 128^3.

``--busy N`` repeats the first-mesh row while N processes spin on the CPU (the app's case: "another
process using the CPU"), for each ``--threads`` value.

python benchmarks/latency.py
python benchmarks/latency.py --busy 2 --threads 1 2
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]


def spin() -> None:
    while True:
        pass


def first_mesh_seconds(path: Path, threads: int | None) -> tuple[float, object, object]:
    from sketch2shape.data.user_sketch import Framing, normalize_sketch, read_sketch_file
    from sketch2shape.models.checkpoints import PRETRAINED
    from sketch2shape.optimize.reconstruct import MeshSettings
    from sketch2shape.optimize.sketch_to_shape import sketch_to_shape_from_files

    if threads:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    method = sketch_to_shape_from_files(PRETRAINED["deepsdf"], PRETRAINED["sketch_encoder"], "cpu", mesh=MeshSettings(resolution=128))
    sketch = normalize_sketch(read_sketch_file(path), Framing())
    result = method(sketch, refine=False)
    return time.perf_counter() - start, method, sketch if len(result.first.mesh.faces) else None


def former_default_seconds(method, sketch, steps: int = 100) -> float:
    from sketch2shape.optimize.latent import LatentOptimSettings, optimize_latent
    from sketch2shape.optimize.sketch import SketchLoss, SketchObjective, SketchView, sketch_region
    from sketch2shape.render.camera import Camera
    from sketch2shape.render.shading import from_uint8
    from sketch2shape.render.sphere_tracing import TracingSettings

    start = time.perf_counter()
    sketch_t = from_uint8(sketch)
    view = SketchView(13, Camera(azimuth_deg=30.0, elevation_deg=35.0, resolution=64), sketch_t, None, sketch_region(sketch_t, 64))
    objective = SketchObjective(method.deepsdf.decoder, None, [view], TracingSettings(), SketchLoss(silhouette_weight=3.0, distance_weight=0.0))
    settings = LatentOptimSettings(steps=steps, lr=1e-2, lr_decay=0.3, lr_decay_every=int(0.7 * steps), prior_weight=1e-3, keep_best=True)
    latent = optimize_latent(objective, method.deepsdf.mean_latent().clone(), settings).latent
    method.mesh(latent)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", nargs="*", default=None, help="sketch files (default: examples/*.png)")
    parser.add_argument("--busy", type=int, default=0, help="spinning processes for the busy-machine rows")
    parser.add_argument("--threads", type=int, nargs="*", default=[0], help="torch threads to try (0: torch's default)")
    parser.add_argument("--former-steps", type=int, default=100)
    args = parser.parse_args()
    paths = [Path(p) for p in args.examples] if args.examples else sorted((REPO / "examples").glob("*.png"))
    rows = []
    for threads in args.threads:
        firsts, refines, formers = [], [], []
        for path in paths:
            seconds, method, sketch = first_mesh_seconds(path, threads or None)
            firsts.append(seconds)
            result = method(sketch, refine=True)
            refines.append(result.refined.seconds if result.refined is not None else 0.0)
            formers.append(former_default_seconds(method, sketch, args.former_steps))
        rows.append((f"quiet, threads={threads or torch.get_num_threads()}", firsts, refines, formers))
        if args.busy:
            procs = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
            for p in procs:
                p.start()
            try:
                busy = [first_mesh_seconds(path, threads or None)[0] for path in paths]
            finally:
                for p in procs:
                    p.terminate()
            rows.append((f"{args.busy} busy processes, threads={threads or torch.get_num_threads()}", busy, [], []))
    print(f"\n{len(paths)} sketches; median seconds (max)")
    print("| case | first mesh (load+encode+mesh 128^3) | refinement (more) | former default (100 steps + mesh) |")
    print("|---|---|---|---|")
    for name, firsts, refines, formers in rows:
        cell = lambda v: f"{statistics.median(v):.2f} ({max(v):.2f})" if v else "-"  # noqa: E731
        print(f"| {name} | {cell(firsts)} | {cell(refines)} | {cell(formers)} |")


if __name__ == "__main__":
    main()
