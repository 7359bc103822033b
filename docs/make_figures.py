"""Figures of the README that need no trained model (run from the repository root).

python docs/make_figures.py [--real-chairs ../shared/data/shapenet_sample/03001627]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from sketch2shape.data.preprocess.mesh import load_mesh, normalize_mesh
from sketch2shape.data.procedural import generate_chair
from sketch2shape.render.camera import Camera, view_grid
from sketch2shape.render.sketch import sketch_from_normal_map
from sketch2shape.utils.io import save_image
from sketch2shape.viz import image_grid, render_mesh

OUT = Path("docs/images")


def procedural_contact_sheet(count: int = 16, seed: int = 0) -> None:
    camera = Camera(azimuth_deg=35, elevation_deg=20, resolution=160)
    renders = []
    for index in range(count):
        mesh, _ = normalize_mesh(generate_chair(seed, index)[1])
        renders.append(render_mesh(mesh, camera))
    save_image(OUT / "procedural_chairs.png", image_grid([renders[i : i + 8] for i in range(0, count, 8)]))


def normals_and_sketches(mesh_path: Path, name: str) -> None:
    mesh, _ = normalize_mesh(load_mesh(mesh_path))
    cameras = view_grid(6, [20.0], azimuth_start_deg=15.0, resolution=192)
    normals = [render_mesh(mesh, cam) for cam in cameras]
    sketches = [sketch_from_normal_map(n) for n in normals]
    save_image(OUT / name, image_grid([normals, sketches]))


def sdf_slices(mesh_paths: list[Path], name: str, n: int = 160) -> None:
    """Slices of the SDF (the preprocessing's sign method) through each chair: blue inside,
    orange outside, black the zero level; planes x=0 (side), z=0 (front) and y=-0.1 (top)."""
    from sketch2shape.data.preprocess.sdf import SDFSettings, compute_sdf

    g = np.linspace(-1, 1, n)
    a, b = np.meshgrid(g, -g)
    rows = []
    for path in mesh_paths:
        mesh, _ = normalize_mesh(load_mesh(path))
        tiles = []
        for plane in ("x", "z", "y"):
            q = np.zeros((n * n, 3))
            if plane == "x":
                q[:, 2], q[:, 1] = a.ravel(), b.ravel()
            elif plane == "z":
                q[:, 0], q[:, 1] = a.ravel(), b.ravel()
            else:
                q[:, 0], q[:, 2], q[:, 1] = a.ravel(), -b.ravel(), -0.1
            sdf = compute_sdf(mesh, q, SDFSettings()).samples[:, 3].reshape(n, n)
            tile = np.where(sdf[..., None] < 0, [0.2, 0.35, 0.9], [0.95, 0.65, 0.35])
            tile = tile * (0.8 + 0.2 * np.cos(np.abs(sdf) * 150))[..., None]
            tile[np.abs(sdf) < 0.006] = 0
            tiles.append((tile * 255).astype(np.uint8))
        rows.append(tiles)
    save_image(OUT / name, image_grid([sum(rows[i : i + 2], []) for i in range(0, len(rows), 2)]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--real-chairs", type=Path, default=None)
    args = parser.parse_args()
    procedural_contact_sheet()
    normals_and_sketches_of = sorted(args.real_chairs.glob("*/models/model_normalized.obj"))[:1] if args.real_chairs else []
    for path in normals_and_sketches_of:
        normals_and_sketches(path, "real_chair_normals_sketches.png")
    if args.real_chairs:
        sdf_slices(sorted(args.real_chairs.glob("*/models/model_normalized.obj"))[:4], "real_chair_sdf_slices.png")
    _, mesh = generate_chair(0, 3)
    tmp = OUT / ".procedural_example.obj"
    mesh.export(tmp)
    normals_and_sketches(tmp, "procedural_normals_sketches.png")
    tmp.unlink()


if __name__ == "__main__":
    main()
