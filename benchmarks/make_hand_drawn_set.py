"""Write the committed hand-drawn-style sketch test set (and, with --examples, the user examples).

    python benchmarks/make_hand_drawn_set.py              # benchmarks/data/hand_drawn/ + docs/images/hand_drawn_set.png
    python benchmarks/make_hand_drawn_set.py --examples   # examples/*.png + examples/README.md

The test set: one view of each of the 64 test chairs of ``procedural_chair_1024`` (ids and split
exactly as ``sketch2shape.data.create.generate_procedural_dataset`` makes them from
sketch2shape/conf/data/procedural_chair_1024.yaml), rendered with the project's camera and sketch pipeline at
128 x 128 and redrawn by :func:`sketch2shape.data.hand_drawn.hand_drawn_sketch`. Chair ``i``'s
sketch depends only on ``(--seed, i)``: ``seed = SeedSequence([--seed, i]).generate_state(1)[0]``
is written to views.csv; ``rng = np.random.default_rng(seed)`` draws the azimuth
(uniform in [-60, 60] degrees, 0 = the chair's front), then the elevation (uniform in [10, 35]),
then every random choice of the stroke model.

The examples: training-style views (view 13 of the dataset grid: azimuth 30, elevation 35, the
default ``--view`` of ``sketch2shape reconstruct``) of a few test chairs of chosen kinds, at
256 x 256 with the 2-pixel training stroke width, redrawn by hand_drawn_sketch.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

from sketch2shape.data.create import procedural_obj_id
from sketch2shape.data.hand_drawn import HandDrawnSettings, hand_drawn_sketch
from sketch2shape.data.metainfo import make_splits, obj_ids_of
from sketch2shape.data.preprocess.mesh import normalize_mesh
from sketch2shape.data.procedural import KINDS, _cycled_choice, generate_chair
from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import normals_to_image, to_uint8
from sketch2shape.render.sketch import SketchSettings, sketch_from_normal_map

ROOT = Path(__file__).resolve().parents[1]
DATA = "procedural_chair_1024"
OUT = ROOT / "benchmarks" / "data" / "hand_drawn"
SHEET = ROOT / "docs" / "images" / "hand_drawn_set.png"
EXAMPLES = ROOT / "examples"
AZIMUTH_RANGE = (-60.0, 60.0)
ELEVATION_RANGE = (10.0, 35.0)
# (file name, generator kind) of the user examples; the first test chair of each kind is drawn
EXAMPLE_KINDS = (("office_chair", "office"), ("dining_chair", "dining"), ("bar_stool", "bar_stool"), ("lounge_chair", "lounge"), ("cantilever_chair", "cantilever"))
EXAMPLE_CAMERA = dict(azimuth_deg=30.0, elevation_deg=35.0)  # view 13 of the dataset grid
EXAMPLE_SETTINGS = HandDrawnSettings(width_px=(1.5, 4.0))  # 256 px: the same look as 1-3 px at 128


def data_config():
    """sketch2shape/conf/data/procedural_chair_1024.yaml on top of sketch2shape/conf/data/base.yaml (its defaults list)."""
    conf = ROOT / "sketch2shape" / "conf" / "data"
    own = OmegaConf.load(conf / f"{DATA}.yaml")
    own.pop("defaults", None)
    return OmegaConf.merge(OmegaConf.load(conf / "base.yaml"), own)


def test_chairs(cfg) -> list[tuple[str, int]]:
    """(obj_id, generator index) of the test split, as generate_procedural_dataset makes it."""
    sizes = dict(cfg.splits)
    ids = [procedural_obj_id(i) for i in range(sum(sizes.values()))]
    metainfo = make_splits(ids, sizes, int(cfg.split_seed))
    return [(obj_id, int(obj_id.split("_")[-1])) for obj_id in obj_ids_of(metainfo, "test")]


def clean_sketch(cfg, index: int, camera: Camera, stroke_width: int) -> np.ndarray:
    """The synthetic sketch of chair ``index`` from ``camera`` (the preprocessing pipeline's way)."""
    _, mesh = generate_chair(int(cfg.procedural_seed), index, int(cfg.procedural_version))
    mesh, _ = normalize_mesh(mesh, float(cfg.preprocess_mesh.padding))
    render = MeshRaycaster(mesh).render(camera)
    image = to_uint8(normals_to_image(torch.from_numpy(render.normals), torch.from_numpy(render.mask)))
    return sketch_from_normal_map(image, SketchSettings(float(cfg.preprocess_synthetic.crease_angle_deg), stroke_width))


def save_png(path: Path, image: np.ndarray) -> None:
    """8-bit greyscale PNG, optimized."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, mode="L").save(path, optimize=True)


def chair_seed(base_seed: int, index: int) -> int:
    return int(np.random.SeedSequence([base_seed, index]).generate_state(1)[0])


def make_test_set(seed: int, sheet_pairs: int = 8) -> None:
    cfg = data_config()
    camera_cfg = cfg.camera
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    rows, pairs = [], []
    for obj_id, index in test_chairs(cfg):
        s = chair_seed(seed, index)
        rng = np.random.default_rng(s)
        azimuth, elevation = rng.uniform(*AZIMUTH_RANGE), rng.uniform(*ELEVATION_RANGE)
        camera = Camera(float(azimuth), float(elevation), float(camera_cfg.distance), float(camera_cfg.fov_deg), int(camera_cfg.resolution))
        clean = clean_sketch(cfg, index, camera, int(cfg.preprocess_synthetic.stroke_width))
        drawn = hand_drawn_sketch(clean, rng)
        save_png(OUT / f"{obj_id}.png", drawn)
        rows.append((obj_id, f"{azimuth:.4f}", f"{elevation:.4f}", s))
        if len(pairs) < sheet_pairs:
            pairs.append((clean, drawn))
        print(f"{obj_id}: azimuth {azimuth:6.1f} elevation {elevation:5.1f}", flush=True)
    with open(OUT / "views.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("obj_id", "azimuth_deg", "elevation_deg", "seed"))
        writer.writerows(rows)
    contact_sheet(pairs, SHEET)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(rows)} sketches in {OUT} ({total / 1024:.0f} KiB); contact sheet {SHEET}")


def contact_sheet(pairs: list[tuple[np.ndarray, np.ndarray]], path: Path, scale: int = 2) -> None:
    """Two rows of (clean | hand drawn) pairs, upscaled ``scale`` times (nearest) to show the pixels."""
    from sketch2shape.utils.io import save_image
    from sketch2shape.viz import image_grid

    def up(img: np.ndarray) -> np.ndarray:
        return np.kron(img, np.ones((scale, scale), dtype=np.uint8))

    tiles = [up(img) for pair in pairs for img in pair]
    half = (len(tiles) + 3) // 4 * 2
    save_image(path, image_grid([tiles[:half], tiles[half:]], pad=6))


def make_examples(seed: int) -> None:
    cfg = data_config()
    chairs = test_chairs(cfg)
    seed_of = int(cfg.procedural_seed)
    lines = []
    for name, kind in EXAMPLE_KINDS:
        obj_id, index = next((o, i) for o, i in chairs if _cycled_choice(KINDS, seed_of, i, 4) == kind)
        camera = Camera(EXAMPLE_CAMERA["azimuth_deg"], EXAMPLE_CAMERA["elevation_deg"], float(cfg.camera.distance), float(cfg.camera.fov_deg), 256)
        clean = clean_sketch(cfg, index, camera, 2)
        drawn = hand_drawn_sketch(clean, np.random.default_rng(chair_seed(seed, index)), EXAMPLE_SETTINGS)
        save_png(EXAMPLES / f"{name}.png", drawn)
        lines.append(f"| `{name}.png` | {kind.replace('_', ' ')} | {obj_id} (test split of {DATA}) |")
        print(f"{name}: {obj_id}", flush=True)
    (EXAMPLES / "README.md").write_text(EXAMPLES_README.format(table="\n".join(lines), seed=seed))
    print(f"{len(lines)} examples in {EXAMPLES}")


EXAMPLES_README = """# Example sketches

Sketches to try `sketch2shape reconstruct` with, e.g.

    sketch2shape reconstruct examples/office_chair.png

It needs trained checkpoints: `sketch2shape demo` trains small ones where `reconstruct` looks by
default; pass `--deepsdf-ckpt` / `--siamese-ckpt` for others. `--out chair.obj` names the mesh, a
`_preview.png` turntable is written next to it.

| file | kind | chair |
|---|---|---|
{table}

Each is a chair of the test split of the built-in procedural dataset `procedural_chair_1024`
(version 2 generator; held out from training), seen from dataset view 13 (azimuth 30 degrees from
the front, elevation 35 degrees; the default `--view` of `sketch2shape reconstruct`), rendered as
a 256 x 256 synthetic sketch and redrawn by `sketch2shape.data.hand_drawn.hand_drawn_sketch`
(wobbly, over-drawn, broken strokes of varying pressure and a slight perspective error) so that
it looks drawn by hand. Made by `python benchmarks/make_hand_drawn_set.py --examples --seed {seed}`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    parser.add_argument("--examples", action="store_true", help="write examples/ instead of the test set")
    args = parser.parse_args()
    if args.examples:
        make_examples(args.seed)
    else:
        make_test_set(args.seed)


if __name__ == "__main__":
    main()
