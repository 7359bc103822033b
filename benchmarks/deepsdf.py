"""DeepSDF speed on this machine, measured side by side in one run.

(a) training throughput (SDF points / s, forward + backward + Adam) and the share of the
    machine's peak float32 matmul FLOP/s (a large square matmul, measured in the same run);
(b) meshing at 256^3: decoder queries and seconds, coarse-to-fine vs dense, and whether the
    two meshes are identical;
(c) seconds per shape of latent optimization at the paper's settings (800 steps x 8000 points).

    python benchmarks/deepsdf.py [--ckpt path/to/last.ckpt] [--skip-dense]

Without --ckpt, (a) and (c) use untrained decoders (their cost does not depend on the weights)
and (b) meshes an analytic seat-and-legs SDF: cheap to evaluate, so only its query counts and
mesh identity mean something; give a trained checkpoint for real meshing times.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from sketch2shape.mesh.marching_cubes import extract_mesh
from sketch2shape.models.deepsdf import DeepSDFDecoder
from sketch2shape.optimize.latent import LatentOptimSettings, SDFObjective, optimize_latent
from sketch2shape.utils.hydra import compose

SIZES = {"deepsdf_small": "CPU-sized (default for procedural data)", "deepsdf": "paper (8 x 512, latent 256)"}


def peak_matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def decoder_of(size: str) -> DeepSDFDecoder:
    cfg = compose("train_deepsdf", [f"model={size}", "paths.output_dir=/tmp/unused"])
    return DeepSDFDecoder(**cfg.model.decoder)


def training_throughput(decoder: DeepSDFDecoder, batch_points: int, seconds: float = 10.0) -> float:
    decoder.train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=1e-4)
    latent = torch.randn(batch_points, decoder.latent_dim)
    points, target = torch.rand(batch_points, 3) * 2 - 1, torch.rand(batch_points) * 0.2 - 0.1
    steps, start = 0, None
    while True:
        if steps == 2:
            start = time.perf_counter()
        optimizer.zero_grad()
        (decoder(latent, points).clamp(-0.1, 0.1) - target).abs().mean().backward()
        optimizer.step()
        steps += 1
        if start is not None and time.perf_counter() - start > seconds:
            return (steps - 2) * batch_points / (time.perf_counter() - start)


def meshing(sdf_fn, resolution: int, dense: bool) -> dict:
    start = time.perf_counter()
    fine, stats = extract_mesh(sdf_fn, resolution=resolution, coarse_to_fine=True)
    fine_s = time.perf_counter() - start
    row = {"c2f_queries": stats.queries, "c2f_s": fine_s, "dense_queries": stats.dense_queries}
    if dense:
        start = time.perf_counter()
        full, _ = extract_mesh(sdf_fn, resolution=resolution, coarse_to_fine=False)
        row["dense_s"] = time.perf_counter() - start
        row["identical"] = bool(np.array_equal(fine.faces, full.faces) and np.allclose(fine.vertices, full.vertices, atol=1e-5))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", help="a trained DeepSDF checkpoint for (b) and (c); default: untrained decoders")
    parser.add_argument("--batch-points", type=int, default=8192)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--skip-dense", action="store_true", help="do not run the dense 256^3 meshing (minutes on a CPU)")
    parser.add_argument("--optim-steps", type=int, default=800)
    args = parser.parse_args()
    torch.manual_seed(0)

    peak = peak_matmul_flops()
    print(f"\npeak float32 matmul: {peak / 1e9:.1f} GFLOP/s ({torch.get_num_threads()} threads)\n")
    print("(a) training throughput")
    print(f"{'model':<15} {'params':>9} {'points/s':>10} {'GFLOP/s':>8} {'of peak':>8}")
    for size in SIZES:
        decoder = decoder_of(size)
        rate = training_throughput(decoder, args.batch_points)
        flops = 3 * decoder.flops_per_point() * rate  # backward ~ 2x forward
        params = sum(p.numel() for p in decoder.parameters())
        print(f"{size:<15} {params:>9} {rate:>10.0f} {flops / 1e9:>8.1f} {flops / peak:>8.1%}")

    if args.ckpt:
        from sketch2shape.models.checkpoints import load_deepsdf

        model = load_deepsdf(args.ckpt, torch.device("cpu"))
        decoder, latent = model.decoder, model.latents.weight[0].detach()
        sdf_fn = lambda p: decoder(latent, p)  # noqa: E731
        source = f"trained decoder {args.ckpt}"
    else:
        def box(p, center, half):
            q = (p - torch.tensor(center)).abs() - torch.tensor(half)
            return q.clamp_min(0).norm(dim=-1) + q.max(dim=-1).values.clamp_max(0)

        def sdf_fn(p):  # a seat on four legs, as a stand-in surface
            parts = [box(p, (0.0, 0.0, 0.0), (0.45, 0.04, 0.45))]
            parts += [box(p, (x, -0.45, z), (0.04, 0.45, 0.04)) for x in (-0.38, 0.38) for z in (-0.38, 0.38)]
            parts.append(box(p, (0.0, 0.45, -0.41), (0.45, 0.45, 0.04)))
            return torch.stack(parts).min(dim=0).values

        source = "analytic seat + legs"
    print(f"\n(b) meshing at {args.resolution}^3 ({source})")
    row = meshing(sdf_fn, args.resolution, dense=not args.skip_dense)
    ratio = row["dense_queries"] / row["c2f_queries"]
    print(f"{'coarse-to-fine':<15} {row['c2f_queries']:>10} queries {row['c2f_s']:>7.1f} s")
    if "dense_s" in row:
        print(f"{'dense':<15} {row['dense_queries']:>10} queries {row['dense_s']:>7.1f} s   identical mesh: {row['identical']}")
    print(f"-> {ratio:.1f}x fewer queries (target >= 10x)")

    print(f"\n(c) latent optimization, {args.optim_steps} steps x 8000 points")
    print(f"{'model':<15} {'s/shape':>8}")
    samples = torch.cat([torch.rand(250_000, 3) * 2 - 1, torch.rand(250_000, 1) * 0.2 - 0.1], dim=1)
    for size in SIZES:
        decoder = decoder_of(size).eval().requires_grad_(False)
        objective = SDFObjective(decoder, samples, points_per_step=8000)
        start = time.perf_counter()
        optimize_latent(objective, torch.zeros(decoder.latent_dim), LatentOptimSettings(steps=args.optim_steps))
        print(f"{size:<15} {time.perf_counter() - start:>8.1f}")


if __name__ == "__main__":
    main()
