"""Sketch -> shape with the release models: one table, one run, the same shapes for every method.

Sets (chamfer x1000 against each shape's surface samples, 30000 points, meshes at ``--mesh``^3, 96 by default):

* ``procedural``: the test chairs of ``procedural_chair_1024`` (never seen in training), sketched
  from 3 views: preprocessing view 13 (azimuth 30, elevation 35), view 4 (azimuth 120, elevation 15)
  and azimuth -40, elevation 25 (off the 24 preprocessing views);
* ``hand_drawn``: the committed hand-drawn-style sketches of the same chairs
  (``benchmarks/data/hand_drawn``, a stroke model unlike the training augmentations);
* ``real_test``: the test split of the real ShapeNet chairs (``--real-data``, default
  ``shapenet_chair_all``: 256 chairs no release model trained on; the first ``--real-limit``),
  sketched from the same 3 views as ``procedural``, scored against their surface samples
  (skipped with a message where that dataset is not preprocessed);
* ``real``: the 18 real ShapeNet v2 chairs of ``../shared/data`` sketched from view 13 and from the
  off-grid view (skipped with a message where that folder is absent; v1 copies of some of them are
  among ``shapenet_chair_all``'s chairs, so a model trained on it may have seen them).

Diversity (``diversity.md``): per set, the mean pairwise chamfer among the encoder's answers over
the mean pairwise chamfer among the true shapes, per view, averaged over the views (1: as varied as
the chairs; a generic chair scores low).

Methods: ``mean`` (the mean training code), ``retrieval`` (the training chair whose sketch is
nearest in the encoder's feature space, over 12 random views per training chair), ``encoder``
(one forward pass), ``encoder+search`` (the method's default answer: the code search's winner among
candidate codes scored by line chamfer against the drawing, :class:`CodeSearch`), ``encoder+refine`` (:class:`SketchToShape` with ``--steps`` refinement steps,
30 by default though the method's default is 0, the view estimated, the refined shape kept by
``RefineSettings.rejection``; ``benchmarks/refine_keep_rule.py`` compares first and refined paired) and, on ``--sdf-fit`` shapes, ``sdf_fit`` (the code
fitted to the shape's own SDF samples: the upper bound of the shape space).

python benchmarks/sketch_to_shape.py --data-dir data                      # the default release model
python benchmarks/sketch_to_shape.py --data-dir data --model chairs --real-limit 256 --refine-every 0 --model-card
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
VIEWS = {"v13": (30.0, 35.0), "v4": (120.0, 15.0), "off_grid": (-40.0, 25.0)}
METHODS = ("mean", "retrieval", "encoder", "encoder+search", "encoder+refine", "sdf_fit")
STATE: dict = {}


def truth_points_of_mesh(mesh, count: int = 30000, seed: int = 0) -> np.ndarray:
    from sketch2shape.metrics.chamfer import sample_mesh_points

    return sample_mesh_points(mesh, count, seed).astype(np.float32)


def build_items(args) -> list[dict]:
    """Every (set, shape, view) to score, with its sketch (uint8, normalized) and truth points."""
    from PIL import Image

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
    from sketch2shape.data.preprocess.mesh import load_mesh, normalize_mesh
    from sketch2shape.data.sketch_pairs import mesh_sketch
    from sketch2shape.data.user_sketch import Framing, normalize_sketch
    from sketch2shape.render.camera import Camera
    from sketch2shape.render.mesh_raycast import MeshRaycaster
    from sketch2shape.render.sketch import SketchSettings

    layout = DatasetLayout(Path(args.data_dir) / args.data)
    test_ids = obj_ids_of(read_metainfo(layout.metainfo), "test")[: args.limit]
    settings = SketchSettings(stroke_width=1)
    items = []
    for obj_id in test_ids:
        files = layout.shape(obj_id)
        mesh = load_mesh(files.normalized_mesh)
        raycaster = MeshRaycaster(mesh)
        truth = np.load(files.surface_samples).astype(np.float32)
        for view, (azimuth, elevation) in VIEWS.items():
            sketch = mesh_sketch(raycaster, Camera(azimuth_deg=azimuth, elevation_deg=elevation, resolution=128), settings)
            items.append({"set": "procedural", "obj_id": obj_id, "view": view, "data": args.data, "sketch": normalize_sketch(sketch, Framing(), name=f"procedural {obj_id} {view}"), "truth": truth})
    hand = REPO / "benchmarks" / "data" / "hand_drawn"
    for row in pd.read_csv(hand / "views.csv").itertuples():
        if row.obj_id not in test_ids:
            continue
        gray = np.asarray(Image.open(hand / f"{row.obj_id}.png").convert("L"))
        truth = np.load(layout.shape(row.obj_id).surface_samples).astype(np.float32)
        items.append({"set": "hand_drawn", "obj_id": row.obj_id, "view": f"{row.azimuth_deg:.0f},{row.elevation_deg:.0f}",
                      "sketch": normalize_sketch(gray, Framing(), name=f"hand_drawn/{row.obj_id}.png"), "truth": truth})
    real_layout = DatasetLayout(Path(args.data_dir) / args.real_data)
    if real_layout.metainfo.is_file() and args.real_limit > 0:
        for obj_id in obj_ids_of(read_metainfo(real_layout.metainfo), "test")[: args.real_limit]:
            files = real_layout.shape(obj_id)
            if not files.surface_samples.is_file():
                continue
            raycaster = MeshRaycaster(load_mesh(files.normalized_mesh))
            truth = np.load(files.surface_samples).astype(np.float32)
            for view, (azimuth, elevation) in VIEWS.items():
                sketch = mesh_sketch(raycaster, Camera(azimuth_deg=azimuth, elevation_deg=elevation, resolution=128), settings)
                items.append({"set": "real_test", "obj_id": obj_id, "view": view, "data": args.real_data,
                              "sketch": normalize_sketch(sketch, Framing(), name=f"real_test {obj_id} {view}"), "truth": truth})
    else:
        print(f"[benchmark] {real_layout.root} not preprocessed: the real_test set is skipped", file=sys.stderr)
    real = Path(args.real_chairs)
    if real.is_dir():
        for path in sorted(real.glob("*/models/model_normalized.obj"))[: args.limit]:
            mesh, _ = normalize_mesh(load_mesh(path))
            raycaster = MeshRaycaster(mesh)
            truth = truth_points_of_mesh(mesh)
            for view in ("v13", "off_grid"):
                azimuth, elevation = VIEWS[view]
                sketch = mesh_sketch(raycaster, Camera(azimuth_deg=azimuth, elevation_deg=elevation, resolution=128), settings)
                items.append({"set": "real", "obj_id": path.parts[-3][:12], "view": view, "sketch": normalize_sketch(sketch, Framing(), name=f"real {path.parts[-3]} {view}"),
                              "truth": truth})
    else:
        print(f"[benchmark] {real} not found: the real-chair set is skipped", file=sys.stderr)
    return items


def interleaved(items: list[dict]) -> list[dict]:
    """The items with their sets interleaved (first of each set, second of each set, ...), so that
    a run stopped early covers every set."""
    by_set: dict[str, list[dict]] = {}
    for item in items:
        by_set.setdefault(item["set"], []).append(item)
    return [group[i] for i in range(max((len(g) for g in by_set.values()), default=0)) for group in by_set.values() if i < len(group)]


def retrieval_index(encoder, pairs_dir: Path, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoder features ``(N, F)`` (L2-normalized) of the training chairs' pair sketches and their code rows ``(N,)``."""
    from sketch2shape.data.sketch_pairs import SketchPairs

    pairs = SketchPairs(pairs_dir, "train", 0.0)
    keep = (pairs.code_index >= 0).nonzero().squeeze(1)
    feats = []
    with torch.no_grad():
        for start in range(0, len(keep), batch):
            index = keep[start : start + batch]
            images = pairs.sketches[index][:, None].float() / 255.0
            feats.append(torch.nn.functional.normalize(encoder.features(images), dim=1))
    return torch.cat(feats), pairs.code_index[keep]


def sdf_fit(deepsdf, samples: np.ndarray, start: torch.Tensor, steps: int = 150, points: int = 4000) -> torch.Tensor:
    from sketch2shape.optimize.latent import LatentOptimSettings, SDFObjective, optimize_latent

    objective = SDFObjective(deepsdf.decoder, torch.from_numpy(samples), points_per_step=points)
    return optimize_latent(objective, start, LatentOptimSettings(steps=steps, lr=5e-3, lr_decay=0.1, lr_decay_every=int(0.7 * steps), prior_weight=1e-4)).latent


def score_item(item: dict) -> list[dict]:
    from sketch2shape.metrics.chamfer import surface_metrics

    method, features, rows, args = STATE["method"], STATE["features"], STATE["rows"], STATE["args"]
    deepsdf, encoder = method.deepsdf, method.encoder
    out = []

    def record(name: str, mesh, seconds: float, **extra) -> None:
        metrics = surface_metrics(mesh, item["truth"])
        out.append({"set": item["set"], "obj_id": item["obj_id"], "view": item["view"], "method": name,
                    "chamfer_x1000": metrics.chamfer * 1000, "fscore": metrics.fscore, "seconds": seconds, **extra})

    refine = item.get("refine", False)
    result = method(item["sketch"], refine=refine)
    record("encoder", result.first.mesh, result.first.seconds, iou=result.first.iou)
    out[-1]["points"] = answer_points(result.first.mesh)
    if method.search.enabled:
        searched = result.start  # the code search's answer (the encoder's when it kept it)
        record("encoder+search", searched.mesh, result.first.seconds + (result.searched.seconds if result.searched is not None else 0.0),
               iou=searched.iou, source=searched.source)
        out[-1]["points"] = answer_points(searched.mesh)
    if refine and result.refined is not None:
        record("encoder+refine", result.best.mesh, result.first.seconds + result.refined.seconds, iou=result.best.iou, chosen=result.chosen)
    if features is not None:
        with torch.no_grad():
            query = torch.nn.functional.normalize(encoder.features(torch.from_numpy(item["sketch"]).float()[None, None] / 255.0), dim=1)
        row = int(rows[int((features @ query[0]).argmax())])
        t = time.perf_counter()
        cache = STATE.setdefault("retrieved", {})
        if row not in cache:
            cache[row] = method.mesh(deepsdf.latents.weight[row])
        record("retrieval", cache[row], time.perf_counter() - t)
    if item.get("sdf_fit"):
        samples = np.load(Path(args.data_dir) / item["data"] / "shapes" / item["obj_id"] / "sdf_samples.npy")
        t = time.perf_counter()
        latent = sdf_fit(deepsdf, samples, deepsdf.mean_latent().clone())
        record("sdf_fit", method.mesh(latent), time.perf_counter() - t)
    return out


def answer_points(mesh, count: int = 1024) -> np.ndarray | None:
    """``(count, 3)`` surface points of an answer (for diversity), None for an empty mesh."""
    from sketch2shape.metrics.chamfer import sample_mesh_points

    return sample_mesh_points(mesh, count, 0).astype(np.float32) if len(mesh.faces) else None


def mean_pairwise_chamfer(clouds: list[np.ndarray]) -> float:
    """Mean chamfer distance (:func:`~sketch2shape.metrics.chamfer.chamfer_distance`) over all pairs."""
    from sketch2shape.metrics.chamfer import chamfer_distance

    values = [chamfer_distance(clouds[i], clouds[j]) for i in range(len(clouds)) for j in range(i + 1, len(clouds))]
    return float(np.mean(values)) if values else 0.0


def diversity(rows: list[dict], items: list[dict], method: str = "encoder", points: int = 1024) -> dict[str, float]:
    """Per set: mean pairwise chamfer among ``method``'s answers / among the true shapes, per view
    (the shapes whose answer has a surface), averaged over the views."""
    truth = {(i["set"], i["obj_id"], i["view"]): i["truth"] for i in items}
    rng = np.random.default_rng(0)
    by_group: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    for r in rows:
        if r["method"] == method and r.get("points") is not None:
            t = truth[(r["set"], r["obj_id"], r["view"])]
            by_group.setdefault((r["set"], r["view"]), []).append((r["points"], t[rng.choice(len(t), points, replace=False)]))
    ratios: dict[str, list[float]] = {}
    for (name, _), pairs in by_group.items():
        if len(pairs) >= 2:
            ratios.setdefault(name, []).append(mean_pairwise_chamfer([a for a, _ in pairs]) / mean_pairwise_chamfer([t for _, t in pairs]))
    return {name: float(np.mean(values)) for name, values in ratios.items()}


def init_worker() -> None:
    torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--data", default="procedural_chair_1024")
    parser.add_argument("--pairs-dir", default=None, help="the release pairs (default: <data-dir>/<data>_sketch_pairs or the release run's)")
    parser.add_argument("--deepsdf-ckpt", default=None, help="default: the package's pretrained model")
    parser.add_argument("--encoder-ckpt", default=None)
    parser.add_argument("--model", default=None, help="the pretrained model by name (default: the package's default); ignored with --deepsdf-ckpt")
    parser.add_argument("--real-data", default="shapenet_chair_all", help="the real-chair dataset whose test split is the real_test set")
    parser.add_argument("--real-limit", type=int, default=64, help="real_test chairs (the split has 256; 0: none)")
    parser.add_argument("--real-chairs", default=str(REPO.parent / "shared" / "data" / "shapenet_sample" / "03001627"))
    parser.add_argument("--limit", type=int, default=64, help="shapes per set")
    parser.add_argument("--refine-every", type=int, default=3, help="refine one in N sketches of each set (all: 1; none: 0)")
    parser.add_argument("--sdf-fit", type=int, default=8, help="procedural and real_test shapes (each) that get the SDF-fit upper bound")
    parser.add_argument("--mesh", type=int, default=96, help="marching cubes grid of every scored mesh")
    parser.add_argument("--mesh-level", type=float, default=None, help="SDF level meshed for the answers (default: the method's, ANSWER_MESH)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "sketch_to_shape"))
    parser.add_argument("--model-card", action="store_true", help="write the table into the package's model card")
    args = parser.parse_args()

    from sketch2shape.optimize.sketch_to_shape import ANSWER_MESH, RefineSettings, sketch_to_shape_from_files
    from sketch2shape.pretrained import pretrained_model

    torch.set_num_threads(1)
    began = time.perf_counter()
    files = pretrained_model(args.model).files()
    answer_mesh = dataclasses.replace(ANSWER_MESH, resolution=args.mesh, **({} if args.mesh_level is None else {"level": args.mesh_level}))
    method = sketch_to_shape_from_files(args.deepsdf_ckpt or files["deepsdf"], args.encoder_ckpt or files["sketch_encoder"], "cpu",
                                        refine=RefineSettings(steps=args.steps), mesh=answer_mesh)
    pairs_dir = Path(args.pairs_dir or Path(args.data_dir) / f"{args.data}_sketch_pairs")
    try:
        features, rows = retrieval_index(method.encoder, pairs_dir)
    except FileNotFoundError as err:
        print(f"[benchmark] no retrieval row: {err}", file=sys.stderr)
        features, rows = None, None
    items = build_items(args)
    counters: dict[str, int] = {}
    for item in items:
        k = counters.get(item["set"], 0)
        counters[item["set"]] = k + 1
        item["refine"] = args.refine_every > 0 and k % args.refine_every == 0
    fitted: dict[str, set] = {"procedural": set(), "real_test": set()}
    for item in items:
        seen = fitted.get(item["set"])
        if seen is not None and item["obj_id"] not in seen and len(seen) < args.sdf_fit:
            seen.add(item["obj_id"])
            item["sdf_fit"] = True
    STATE.update(method=method, features=features, rows=rows, args=args)
    rows_out: list[dict] = []
    mean_mesh = method.mesh(method.deepsdf.mean_latent())
    from sketch2shape.metrics.chamfer import surface_metrics

    for item in items:
        metrics = surface_metrics(mean_mesh, item["truth"])
        rows_out.append({"set": item["set"], "obj_id": item["obj_id"], "view": item["view"], "method": "mean", "chamfer_x1000": metrics.chamfer * 1000, "fscore": metrics.fscore, "seconds": 0.0})
    from sketch2shape.utils.progress import progress_bar

    # Sets interleaved, so that a run stopped early (Ctrl-C: the summary covers what finished) has
    # every set; rows are appended to results.csv as they come.
    order = interleaved(items)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = 0
    pool = multiprocessing.get_context("fork").Pool(args.workers, initializer=init_worker)
    try:
        for out in progress_bar(pool.imap(score_item, order), total=len(order), desc="sketch to shape"):
            rows_out += out
            done += 1
            pd.DataFrame(rows_out).drop(columns=["points"], errors="ignore").to_csv(out_dir / "results.csv", index=False)
        pool.close()
    except KeyboardInterrupt:
        print(f"[benchmark] stopped after {done} of {len(order)} sketches; summarizing those", file=sys.stderr)
        pool.terminate()
    pool.join()
    scored = {(r["set"], r["obj_id"], r["view"]) for r in rows_out if r["method"] == "encoder"}
    spread = {name: diversity(rows_out, items, name) for name in ("encoder", "encoder+search")}
    table = pd.DataFrame([r for r in rows_out if (r["set"], r["obj_id"], r["view"]) in scored]).drop(columns=["points"], errors="ignore")
    table.to_csv(out_dir / "results.csv", index=False)
    summary = summarize(table)
    shapes = table[table["method"] == "encoder"].groupby("set")["obj_id"].nunique().to_dict()
    spread_text = "; ".join(f"{name}: " + ", ".join(f"{part} {value:.2f}" for part, value in values.items()) for name, values in spread.items() if values)
    counts = ", ".join(f"{k}: {v} shapes" for k, v in shapes.items())
    text = (markdown(summary) + "\n\nAnswer diversity (mean pairwise chamfer among the answers / among the true shapes): " + spread_text
            + f"\n\n{done} of {len(order)} sketches ({counts}), {time.perf_counter() - began:.0f} s on {args.workers} processes. `{portable_command(sys.argv, args)}`\n")
    (out_dir / "summary.md").write_text(text)
    print(text)
    if args.model_card:
        card = pretrained_model(args.model).folder / "model_card.md"
        head = card.read_text().split("(written by `python benchmarks/sketch_to_shape.py --model-card`)")[0]
        card.write_text(head + "(written by `python benchmarks/sketch_to_shape.py --model-card`)\n\nChamfer x1000 (mean / median, lower is better):\n\n" + text)
    save_figure(items, method, out_dir)


def portable_command(argv: list[str], args: argparse.Namespace) -> str:
    """The command line as the summary and the model card record it: the data folder as ``<data>``,
    ``--out`` left out and other folders under ``$SKETCH2SHAPE_ROOT`` or ``~`` written so
    (:func:`sketch2shape.utils.run_records.portable_command`), so no path of the machine it ran on
    is written into the repository."""
    from sketch2shape.utils.run_records import portable_command as without_machine_folders

    data_dir = str(Path(args.data_dir))  # as typed, without a trailing slash
    words, skip = [], False
    for word in argv:
        if skip:
            skip = False
            continue
        if word == "--out":
            skip = True
            continue
        if word.startswith("--out="):
            continue
        if word == data_dir or word.startswith(data_dir + "/"):
            word = "<data>" + word[len(data_dir):]
        words.append(word)
    return "python " + without_machine_folders(words)


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    finite = table.replace([np.inf], np.nan)
    grouped = finite.groupby(["set", "method"]).agg(mean=("chamfer_x1000", "mean"), median=("chamfer_x1000", "median"),
                                                     fscore=("fscore", "mean"), n=("chamfer_x1000", "size"),
                                                     failed=("chamfer_x1000", lambda v: int(v.isna().sum())))
    return grouped.reset_index()


def markdown(summary: pd.DataFrame) -> str:
    sets = [s for s in ("procedural", "hand_drawn", "real_test", "real") if s in set(summary["set"])]
    lines = ["| method | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for method in METHODS:
        cells = []
        for name in sets:
            row = summary[(summary["set"] == name) & (summary["method"] == method)]
            cells.append("-" if row.empty else f"{row['mean'].iloc[0]:.2f} / {row['median'].iloc[0]:.2f} (n={int(row['n'].iloc[0])})")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def save_figure(items: list[dict], method, out_dir: Path, count: int = 6) -> None:
    """``examples.png``: sketch | encoder's shape | refined shape, for a few sketches of each set."""
    from sketch2shape.render.camera import Camera
    from sketch2shape.utils.io import save_image
    from sketch2shape.viz import image_grid, render_mesh

    rows = []
    picked = ([i for i in items if i["set"] == "hand_drawn"][: count // 2] + [i for i in items if i["set"] == "real"][: count // 2]
              + [i for i in items if i["set"] == "real_test" and i["view"] == "v13"][:count])
    for item in picked:
        result = method(item["sketch"], refine=True)
        camera = result.camera.with_resolution(160)
        side = Camera(azimuth_deg=result.camera.azimuth_deg + 60, elevation_deg=20, resolution=160)
        sketch = np.repeat(np.asarray(torch.nn.functional.interpolate(torch.from_numpy(item["sketch"]).float()[None, None], size=(160, 160), mode="area")[0, 0].numpy(), np.uint8)[..., None], 3, 2)
        best = result.best.mesh
        rows.append([sketch, render_mesh(result.first.mesh, camera), render_mesh(best, camera), render_mesh(best, side)])
    if rows:
        save_image(out_dir / "examples.png", image_grid(rows))
        print(json.dumps({"figure": str(out_dir / "examples.png")}))


if __name__ == "__main__":
    main()
