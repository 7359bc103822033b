"""What the product does with drawings by people, which have no 3D truth: one table, one contact sheet.

For each human drawing (``../shared/data/human_sketches/qmul_chair_v1``, 200 by default) the
method's default answer (:class:`SketchToShape`, the encoder's shape and the estimated view, as
``sketch2shape reconstruct`` gives it) is scored by :mod:`sketch2shape.eval.drawing_agreement`:
the 2D line chamfer between the drawing's strokes and the answer's contour and crease lines from
the method's view, the silhouette IoU, pieces, left-right symmetry, whether the method flagged it
as a poor match, and the seconds it took.

The same is done for synthetic sketches of known chairs (``--synthetic-data``, its val split,
sketched by the preprocessing's own renderer from view 13 and from an off-grid view) to
**calibrate** the 2D figure, two ways:

* across sketches: Spearman correlation between the answer's line chamfer and its 3D chamfer to
  the true shape;
* within a sketch: the true chair and ``--candidates - 1`` other val chairs are drawn from the
  sketch's true view, and the line chamfer ranks them; the table gives how often the true chair
  ranks first and the mean Spearman correlation between the line chamfer and the candidates'
  3D chamfer to the truth (1: the 2D figure orders answers exactly as the 3D one).

**Diversity**: the mean pairwise chamfer x1000 among the answers of different drawings, over the
same among ``--reference-data``'s training chairs (1: answers as varied as real chairs).

    python benchmarks/human_drawings.py [--limit 200] [--deepsdf F --encoder F] [--out-dir benchmarks/results/human_drawings]

Writes ``summary.md`` (the table and the command), ``drawings.csv`` (one row per drawing) and
``contact_sheet.png`` (drawing | answer from the method's view | from the side; flagged answers
framed in red) into ``--out-dir``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SYNTHETIC_VIEWS = {"v13": (30.0, 35.0), "off_grid": (-40.0, 25.0)}
SIDE = (90.0, 10.0)


STATE: dict = {}  # the method, for the worker processes (forked after it is loaded)
SEARCH_RULES = {"off": False, "mirror": {"neighbours": 0, "mirror": True}}
"""``--search``: the method's code search (``default``), none (``off``: the encoder's shape), or
the encoder's code against the mirrored drawing's only (``mirror``)."""


def load_method(args):
    from sketch2shape.optimize.sketch_to_shape import sketch_to_shape_from_files
    from sketch2shape.pretrained import pretrained_model

    files = pretrained_model(args.model).files()
    config = {"search": SEARCH_RULES[args.search]} if args.search != "default" else {}
    if args.mesh_level is not None:
        config["mesh"] = {"level": args.mesh_level}
    return sketch_to_shape_from_files(args.deepsdf or files["deepsdf"], args.encoder or files["sketch_encoder"], device="cpu", config=config)


def answer(method, sketch: np.ndarray) -> tuple[dict, object]:
    """Score the method's default answer to a normalized sketch."""
    from sketch2shape.eval.drawing_agreement import agreement

    start = time.perf_counter()
    result = method(sketch)
    seconds = time.perf_counter() - start
    best = result.best
    score = agreement(sketch, best.mesh, result.camera)
    row = {"line_chamfer": score.line_chamfer, "unexplained": score.unexplained, "iou": best.iou, "pieces": score.pieces, "symmetry": score.symmetry,
           "flagged": bool(result.poor_match), "seconds": seconds, "azimuth": result.camera.azimuth_deg, "elevation": result.camera.elevation_deg}
    return row, result


def surface_points(mesh, count: int = 2000) -> np.ndarray:
    from sketch2shape.metrics.chamfer import sample_mesh_points

    return sample_mesh_points(mesh, count, 0).astype(np.float32) if len(mesh.faces) else np.zeros((0, 3), np.float32)


def mean_pairwise_chamfer(clouds: list[np.ndarray]) -> float:
    from sketch2shape.metrics.chamfer import chamfer_distance

    clouds = [c for c in clouds if len(c)]
    values = [chamfer_distance(clouds[i], clouds[j]) for i in range(len(clouds)) for j in range(i + 1, len(clouds))]
    return float(np.mean(values) * 1000) if values else float("nan")


def answer_drawing(path: Path) -> tuple[dict, dict | None]:
    """One drawing (in a worker): its row, and what the contact sheet and the diversity need."""
    import torch

    from sketch2shape.data.user_sketch import Framing, SketchInputError, normalize_sketch, read_sketch_file

    torch.set_num_threads(1)
    try:
        sketch = normalize_sketch(read_sketch_file(path), Framing(), name=str(path))
    except SketchInputError as err:
        return {"drawing": path.name, "error": str(err)}, None
    row, result = answer(STATE["method"], sketch)
    return {"drawing": path.name, **row}, {"drawing": path.name, "sketch": sketch, "result": result, "points": surface_points(result.best.mesh)}


def human_rows(method, folder: Path, limit: int, workers: int = 1) -> tuple[list[dict], list[dict]]:
    import multiprocessing

    from sketch2shape.utils.progress import progress_bar

    paths = sorted(folder.glob("*.png"), key=lambda p: (len(p.stem), p.stem))[:limit]
    STATE["method"] = method
    rows, shown = [], []
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for row, item in progress_bar(pool.imap(answer_drawing, paths), total=len(paths), desc="human drawings", unit="drawing"):
            rows.append(row)
            if item is not None:
                shown.append(item)
    return rows, shown


def synthetic_rows(method, data_dir: Path, limit: int, candidates: int) -> list[dict]:
    """Answers to synthetic sketches of val chairs, with their 3D chamfer, and the within-sketch ranking test."""
    from scipy.stats import spearmanr

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
    from sketch2shape.data.preprocess.mesh import load_mesh
    from sketch2shape.data.sketch_pairs import mesh_sketch
    from sketch2shape.data.user_sketch import Framing, normalize_sketch
    from sketch2shape.eval.drawing_agreement import answer_lines, line_chamfer
    from sketch2shape.metrics.chamfer import chamfer_distance
    from sketch2shape.render.camera import Camera
    from sketch2shape.render.mesh_raycast import MeshRaycaster
    from sketch2shape.render.sketch import SketchSettings
    from sketch2shape.utils.progress import progress_bar

    layout = DatasetLayout(data_dir)
    ids = [i for i in obj_ids_of(read_metainfo(layout.metainfo), "val") if layout.shape(i).surface_samples.is_file()][:limit]
    meshes = {i: load_mesh(layout.shape(i).normalized_mesh) for i in ids}
    truths = {i: np.load(layout.shape(i).surface_samples)[::10].astype(np.float32) for i in ids}
    rng = np.random.default_rng(0)
    rows = []
    for k, obj_id in enumerate(progress_bar(ids, desc="synthetic sketches", unit="chair")):
        for view, (azimuth, elevation) in SYNTHETIC_VIEWS.items():
            camera = Camera(azimuth_deg=azimuth, elevation_deg=elevation, resolution=128)
            raw = mesh_sketch(MeshRaycaster(meshes[obj_id]), camera, SketchSettings(stroke_width=1))
            sketch = normalize_sketch(raw, Framing(), name=f"{obj_id} {view}")
            row, result = answer(method, sketch)
            row["chamfer_3d"] = chamfer_distance(surface_points(result.best.mesh, 3000), truths[obj_id]) * 1000 if len(result.best.mesh.faces) else float("inf")
            others = [i for i in rng.permutation(ids) if i != obj_id][: candidates - 1]
            pool = [obj_id, *others]
            lines2d = [line_chamfer(raw < 128, answer_lines(meshes[i], camera)) for i in pool]
            lines3d = [0.0] + [chamfer_distance(truths[i], truths[obj_id]) * 1000 for i in others]
            row["true_ranked_first"] = bool(np.argmin(lines2d) == 0)
            row["rank_spearman"] = float(spearmanr(lines2d, lines3d).statistic)
            rows.append({"obj_id": obj_id, "view": view, **row})
    return rows


def contact_sheet(path: Path, shown: list[dict], per_row: int = 4, size: int = 128) -> None:
    """drawing | answer from the method's view | from the side, ``per_row`` drawings a row; flagged answers framed red."""
    from PIL import Image, ImageDraw

    from sketch2shape.render.camera import Camera
    from sketch2shape.utils.io import atomic_path
    from sketch2shape.viz import as_rgb, render_mesh

    cell = size + 4
    rows = -(-len(shown) // per_row)
    sheet = Image.new("RGB", (per_row * 3 * cell + per_row * 8, rows * (cell + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for n, item in enumerate(shown):
        r, c = divmod(n, per_row)
        x, y = c * (3 * cell + 8), r * (cell + 14)
        result = item["result"]
        view = result.camera.with_resolution(size)
        side = Camera(azimuth_deg=SIDE[0], elevation_deg=SIDE[1], resolution=size)
        images = [as_rgb(np.asarray(Image.fromarray(item["sketch"]).resize((size, size)))), render_mesh(result.best.mesh, view), render_mesh(result.best.mesh, side)]
        for k, image in enumerate(images):
            sheet.paste(Image.fromarray(image), (x + k * cell, y))
        if result.poor_match:
            draw.rectangle([x + cell - 1, y - 1, x + 3 * cell - 3, y + size], outline=(220, 0, 0), width=3)
        draw.text((x + 2, y + size + 1), f"{item['drawing']}  {'FLAGGED' if result.poor_match else ''}", fill=(0, 0, 0))
    with atomic_path(path) as tmp:
        sheet.save(tmp, format="PNG")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drawings", type=Path, default=SHARED / "human_sketches" / "qmul_chair_v1")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--synthetic-data", type=Path, default=None, help="preprocessed dataset folder (default <root>/data/shapenet_chair_all)")
    parser.add_argument("--synthetic-limit", type=int, default=32, help="val chairs sketched (x2 views)")
    parser.add_argument("--candidates", type=int, default=6)
    parser.add_argument("--reference-data", type=Path, default=None, help="dataset whose train chairs set the diversity scale (default: --synthetic-data)")
    parser.add_argument("--model", default=None, help="the pretrained model by name (default: the package's default)")
    parser.add_argument("--workers", type=int, default=2, help="processes answering drawings (1 torch thread each)")
    parser.add_argument("--mesh-level", type=float, default=None, help="MeshSettings.level of the answers (default: the method's)")
    parser.add_argument("--search", choices=["default", *SEARCH_RULES], default="default", help="the code search: the method's, off, or the mirrored drawing only")
    parser.add_argument("--deepsdf", type=Path, default=None)
    parser.add_argument("--encoder", type=Path, default=None)
    parser.add_argument("--sheet", type=int, default=48, help="drawings on the contact sheet")
    parser.add_argument("--out-dir", type=Path, default=REPO / "benchmarks" / "results" / "human_drawings")
    args = parser.parse_args()
    import os

    import torch

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.metainfo import obj_ids_of, read_metainfo

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    root = Path(os.environ.get("SKETCH2SHAPE_ROOT", "."))
    synthetic = args.synthetic_data or root / "data" / "shapenet_chair_all"
    reference = args.reference_data or synthetic
    if not args.drawings.is_dir():
        raise SystemExit(f"error: {args.drawings} does not exist (the human drawings of ../shared/data)")
    if not (reference / "metainfo.csv").is_file():
        raise SystemExit(f"error: {reference} has no metainfo.csv: give --reference-data, a preprocessed dataset whose training chairs set the diversity scale")
    method = load_method(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    human, shown = human_rows(method, args.drawings, args.limit, args.workers)
    pd.DataFrame(human).to_csv(args.out_dir / "drawings.csv", index=False)
    synth = synthetic_rows(method, synthetic, args.synthetic_limit, args.candidates) if (synthetic / "metainfo.csv").is_file() else []
    if synth:
        pd.DataFrame(synth).to_csv(args.out_dir / "synthetic.csv", index=False)
    elif args.synthetic_limit > 0:
        print(f"[benchmark] {synthetic} has no metainfo.csv: no calibration", file=sys.stderr)
    ref_layout = DatasetLayout(reference)
    ref_ids = [i for i in obj_ids_of(read_metainfo(ref_layout.metainfo), "train") if ref_layout.shape(i).surface_samples.is_file()][: len(shown)]
    ref_clouds = [np.load(ref_layout.shape(i).surface_samples)[:: 15].astype(np.float32) for i in ref_ids]
    diversity = mean_pairwise_chamfer([s["points"] for s in shown]) / mean_pairwise_chamfer(ref_clouds)

    h = pd.DataFrame([r for r in human if "error" not in r])
    s = pd.DataFrame(synth)
    lines = ["# Human drawings: agreement with the drawing, structure, flags", "",
             f"`python benchmarks/human_drawings.py {' '.join(sys.argv[1:])}` ({len(human)} drawings of `{args.drawings.name}`, "
             f"{len(h)} answered; synthetic: {len(s)} sketches of `{synthetic.name}` val chairs).", "",
             "| set | sketches | line chamfer (frame units) | unexplained strokes (p90) | silhouette IoU | one piece | flagged | symmetry x1000 | seen from behind | s per answer |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, t in (("human", h), ("synthetic", s)):
        if len(t):
            behind = (((t["azimuth"] + 180.0) % 360.0 - 180.0).abs() >= 135.0).mean()
            lines.append(f"| {name} | {len(t)} | {t['line_chamfer'].replace(np.inf, np.nan).mean():.4f} | {t['unexplained'].replace(np.inf, np.nan).mean():.4f} | {t['iou'].mean():.3f} | "
                         f"{(t['pieces'] == 1).mean():.0%} | {t['flagged'].mean():.0%} | {t['symmetry'].replace(np.inf, np.nan).mean():.2f} | {behind:.0%} | "
                         f"{t['seconds'].mean():.2f} |")
    if len(s) and len(h):
        ratio = h["line_chamfer"].replace(np.inf, np.nan).mean() / s["line_chamfer"].replace(np.inf, np.nan).mean()
        from scipy.stats import spearmanr

        across = spearmanr(s["line_chamfer"], s["chamfer_3d"]).statistic
        lines += ["", f"- Line chamfer, human / synthetic: **{ratio:.2f}x**.",
                  f"- Calibration across synthetic sketches: Spearman(line chamfer, 3D chamfer of the answer) = {across:.2f}; "
                  f"3D chamfer x1000 of those answers: mean {s['chamfer_3d'].replace(np.inf, np.nan).mean():.2f}.",
                  f"- Calibration within a sketch ({args.candidates} candidate chairs drawn from the true view): the true chair ranks first in "
                  f"{s['true_ranked_first'].mean():.0%}; mean Spearman(line chamfer, 3D chamfer to the truth) = {s['rank_spearman'].mean():.2f}."]
    lines += [f"- Diversity: mean pairwise chamfer among {len(shown)} answers / among {len(ref_clouds)} training chairs of `{reference.name}` = **{diversity:.2f}**."]
    text = "\n".join(lines) + "\n"
    (args.out_dir / "summary.md").write_text(text)
    contact_sheet(args.out_dir / "contact_sheet.png", shown[: args.sheet])
    print(text)


if __name__ == "__main__":
    main()
