"""First vs refined shape of :class:`SketchToShape` on the same sketches, paired, to choose and
check the rule that decides which one is kept.

For every sketch the method runs once with refinement; both answers are scored against the truth
(chamfer x1000, 30000 surface points, meshes at ``--mesh``^3, 128 like ``reconstruct`` and the app)
and described by what the keep-rule may use (no truth): silhouette IoU with the sketch from the
estimated view, significant connected components (> 1% of the faces) and the largest component's
share of the faces. ``run`` writes one row per sketch (``<out>/<tag>.csv``) and the codes
(``<tag>_latents.npz``); ``rules`` scores candidate keep-rules on such tables (paired: first,
refined, kept).

Subsets (chairs by their index among the 64 procedural test chairs and the 18 real chairs, so dev
and held-out share no chair):

* ``dev``: procedural test chairs 0-11 (views v13 and off_grid), hand-drawn sketches of test
  chairs 0-11, real chairs 0-5 (v13 and off_grid): 48 sketches;
* ``holdout``: procedural test chairs 12-23, hand-drawn 12-23, real chairs 6-11: 48 sketches.

python benchmarks/refine_keep_rule.py run --data-dir data --subset dev --tag dev
python benchmarks/refine_keep_rule.py run --data-dir data --subset holdout --tag holdout

(``--data-dir``: the folder ``sketch2shape train-release --data-dir data`` preprocessed
procedural_chair_1024 into.)
python benchmarks/refine_keep_rule.py rules benchmarks/results/refine_keep_rule/dev.csv
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]


def recorded_command(argv: list[str]) -> str:
    """The command line as run, with absolute paths written relative to the working folder, so
    that results files name no machine's folders."""
    return " ".join(os.path.relpath(a) if os.path.isabs(a) else a for a in argv)

sys.path.insert(0, str(REPO / "benchmarks"))
SUBSETS = {"dev": {"procedural": (0, 12), "hand_drawn": (0, 12), "real": (0, 6)},
           "holdout": {"procedural": (12, 24), "hand_drawn": (12, 24), "real": (6, 12)}}
PROCEDURAL_VIEWS = ("v13", "off_grid")
STATE: dict = {}


def build_items(args) -> list[dict]:
    """The subset's sketches (uint8, normalized) with their truth points."""
    from PIL import Image
    from sketch_to_shape import VIEWS, truth_points_of_mesh

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
    from sketch2shape.data.preprocess.mesh import load_mesh, normalize_mesh
    from sketch2shape.data.sketch_pairs import mesh_sketch
    from sketch2shape.data.user_sketch import Framing, normalize_sketch
    from sketch2shape.render.camera import Camera
    from sketch2shape.render.mesh_raycast import MeshRaycaster
    from sketch2shape.render.sketch import SketchSettings

    subset = SUBSETS[args.subset]
    layout = DatasetLayout(Path(args.data_dir) / args.data)
    test_ids = obj_ids_of(read_metainfo(layout.metainfo), "test")
    settings = SketchSettings(stroke_width=1)
    items = []

    def sketch_of(raycaster, view):
        azimuth, elevation = VIEWS[view]
        return normalize_sketch(mesh_sketch(raycaster, Camera(azimuth_deg=azimuth, elevation_deg=elevation, resolution=128), settings), Framing())

    for obj_id in test_ids[slice(*subset["procedural"])]:
        files = layout.shape(obj_id)
        raycaster = MeshRaycaster(load_mesh(files.normalized_mesh))
        truth = np.load(files.surface_samples).astype(np.float32)
        for view in PROCEDURAL_VIEWS:
            items.append({"set": "procedural", "obj_id": obj_id, "view": view, "sketch": sketch_of(raycaster, view), "truth": truth})
    hand = REPO / "benchmarks" / "data" / "hand_drawn"
    views = pd.read_csv(hand / "views.csv").set_index("obj_id")
    for obj_id in test_ids[slice(*subset["hand_drawn"])]:
        row = views.loc[obj_id]
        gray = np.asarray(Image.open(hand / f"{obj_id}.png").convert("L"))
        items.append({"set": "hand_drawn", "obj_id": obj_id, "view": f"{row.azimuth_deg:.0f},{row.elevation_deg:.0f}",
                      "sketch": normalize_sketch(gray, Framing()), "truth": np.load(layout.shape(obj_id).surface_samples).astype(np.float32)})
    real = Path(args.real_chairs)
    if real.is_dir():
        for path in sorted(real.glob("*/models/model_normalized.obj"))[slice(*subset["real"])]:
            mesh, _ = normalize_mesh(load_mesh(path))
            raycaster = MeshRaycaster(mesh)
            truth = truth_points_of_mesh(mesh)
            for view in PROCEDURAL_VIEWS:
                items.append({"set": "real", "obj_id": path.parts[-3][:12], "view": view, "sketch": sketch_of(raycaster, view), "truth": truth})
    else:
        print(f"[refine_keep_rule] {real} not found: the real-chair set is skipped", file=sys.stderr)
    return items


def score_item(item: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    from sketch2shape.metrics.chamfer import surface_metrics
    from sketch2shape.optimize.sketch_to_shape import mesh_pieces

    method = STATE["method"]
    t = time.perf_counter()
    result = method(item["sketch"], refine=True)
    row = {"set": item["set"], "obj_id": item["obj_id"], "view": item["view"], "azimuth": result.camera.azimuth_deg,
           "elevation": result.camera.elevation_deg, "chosen_now": result.chosen}
    answers = {"first": result.first, "refined": result.refined}
    for name, answer in answers.items():
        metrics = surface_metrics(answer.mesh, item["truth"])
        count, largest = mesh_pieces(answer.mesh)
        row.update({f"{name}_chamfer_x1000": metrics.chamfer * 1000, f"{name}_fscore": metrics.fscore, f"{name}_iou": answer.iou,
                    f"{name}_components": count, f"{name}_largest_share": largest, f"{name}_faces": len(answer.mesh.faces),
                    f"{name}_area": float(answer.mesh.area)})
    scale = float(method.encoder.code_scale)
    row["code_shift"] = float((result.refined.latent - result.first.latent).norm() / scale)
    row["seconds"] = time.perf_counter() - t
    return row, result.first.latent.numpy(), result.refined.latent.numpy()


def init_worker() -> None:
    torch.set_num_threads(1)


def run(args) -> None:
    from sketch_to_shape import interleaved

    from sketch2shape.models.checkpoints import PRETRAINED
    from sketch2shape.optimize.reconstruct import MeshSettings
    from sketch2shape.optimize.sketch import SketchLoss
    from sketch2shape.optimize.sketch_to_shape import RefineSettings, sketch_to_shape_from_files

    torch.set_num_threads(1)
    default = RefineSettings()
    refine = RefineSettings(steps=args.steps, lr=args.lr if args.lr is not None else default.lr,
                            loss=SketchLoss(silhouette_weight=default.loss.silhouette_weight, distance_weight=0.0,
                                            anchor_weight=args.anchor_weight if args.anchor_weight is not None else default.loss.anchor_weight))
    method = sketch_to_shape_from_files(PRETRAINED["deepsdf"], PRETRAINED["sketch_encoder"], "cpu", refine=refine, mesh=MeshSettings(resolution=args.mesh))
    STATE["method"] = method
    items = interleaved(build_items(args)[:: args.stride])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, latents = [], {}
    if args.resume and (out / f"{args.tag}.csv").is_file():  # rows of an earlier, stopped run (their codes are not kept)
        rows = pd.read_csv(out / f"{args.tag}.csv").to_dict("records")
        done = {(r["set"], r["obj_id"], r["view"]) for r in rows}
        items = [i for i in items if (i["set"], i["obj_id"], i["view"]) not in done]
    began = time.perf_counter()
    pool = multiprocessing.get_context("fork").Pool(args.workers, initializer=init_worker)
    for k, (row, first, refined) in enumerate(pool.imap(score_item, items)):
        rows.append(row)
        latents[f"{row['set']}/{row['obj_id']}/{row['view']}/first"] = first
        latents[f"{row['set']}/{row['obj_id']}/{row['view']}/refined"] = refined
        pd.DataFrame(rows).to_csv(out / f"{args.tag}.csv", index=False)
        print(f"[{k + 1}/{len(items)}] {row['set']} {row['obj_id']} {row['view']}: chamfer {row['first_chamfer_x1000']:.2f} -> {row['refined_chamfer_x1000']:.2f}, "
              f"IoU {row['first_iou']:.2f} -> {row['refined_iou']:.2f}, components {row['first_components']} -> {row['refined_components']}", flush=True)
    pool.close()
    pool.join()
    np.savez_compressed(out / f"{args.tag}_latents.npz", **latents)
    (out / f"{args.tag}.cmd").write_text(f"{recorded_command(sys.argv)}\nsettings: {refine}, mesh {args.mesh}; {time.perf_counter() - began:.0f} s on {args.workers} processes\n")


# ------------------------------------------------------------------------------------------ rules


def rule_iou(t: pd.DataFrame, margin: float = 0.0) -> pd.Series:
    """Today's rule: refined kept when its IoU is higher (by more than ``margin``)."""
    return t["refined_iou"] > t["first_iou"] + margin


def rule_pieces(t: pd.DataFrame, margin: float = 0.0, share_drop: float = 0.01) -> pd.Series:
    """IoU higher, and no more significant components than the first shape, and the largest
    component's share not lower by more than ``share_drop`` (:meth:`RefineSettings.rejection`)."""
    return (rule_iou(t, margin) & (t["refined_components"] <= t["first_components"])
            & (t["refined_largest_share"] >= t["first_largest_share"] - share_drop))


def candidate_rules() -> dict:
    rules = {"never (first only)": lambda t: pd.Series(False, index=t.index), "always refined": lambda t: pd.Series(True, index=t.index)}
    for m in (0.0, 0.02, 0.05, 0.1):
        rules[f"IoU gain > {m}"] = lambda t, m=m: rule_iou(t, m)
        rules[f"IoU gain > {m}, components <= first, main share not lower (1% slack)"] = lambda t, m=m: rule_pieces(t, m)
        rules[f"IoU gain > {m}, components <= first"] = lambda t, m=m: rule_pieces(t, m, 1.0)
        rules[f"IoU gain > {m}, single component"] = lambda t, m=m: rule_iou(t, m) & (t["refined_components"] == 1)
    return rules


def paired(t: pd.DataFrame, keep: pd.Series) -> dict:
    kept = np.where(keep, t["refined_chamfer_x1000"], t["first_chamfer_x1000"])
    diff = kept - t["first_chamfer_x1000"]
    return {"n": len(t), "first mean": t["first_chamfer_x1000"].mean(), "first median": t["first_chamfer_x1000"].median(),
            "refined mean": t["refined_chamfer_x1000"].mean(), "refined median": t["refined_chamfer_x1000"].median(),
            "kept mean": kept.mean(), "kept median": np.median(kept), "kept-first mean": diff.mean(),
            "kept worse": int((diff > 1e-9).sum()), "kept better": int((diff < -1e-9).sum()), "refined kept": int(keep.sum())}


#: The rules of the markdown table: none, the old one, the chosen one (RefineSettings' defaults).
REPORTED = ("never (first only)", "IoU gain > 0.0", "IoU gain > 0.05, components <= first, main share not lower (1% slack)")


def markdown(t: pd.DataFrame) -> str:
    """Paired chamfer x1000 (mean / median) of first, refined and kept, by set, for :data:`REPORTED`."""
    lines = ["| rule | set | n | first | refined | kept | kept - first (mean) | refined kept | kept worse / better |", "|---|---|---|---|---|---|---|---|---|"]
    rules_ = candidate_rules()
    for name in REPORTED:
        keep = rules_[name](t)
        for s, group in [("all", t), *t.groupby("set")]:
            r = paired(group, keep[group.index])
            lines.append(f"| {name} | {s} | {r['n']} | {r['first mean']:.2f} / {r['first median']:.2f} | {r['refined mean']:.2f} / {r['refined median']:.2f} | "
                         f"{r['kept mean']:.2f} / {r['kept median']:.2f} | {r['kept-first mean']:+.2f} | {r['refined kept']} | {r['kept worse']} / {r['kept better']} |")
    return "\n".join(lines)


def pieces_line(t: pd.DataFrame) -> str:
    return (f"{len(t)} sketches; pieces (components > 1% of faces) first/refined: mean {t['first_components'].mean():.2f}/{t['refined_components'].mean():.2f}, "
            f"shapes in more than one piece {int((t['first_components'] > 1).sum())}/{int((t['refined_components'] > 1).sum())}, "
            f"refined in more pieces than first: {int((t['refined_components'] > t['first_components']).sum())}, in fewer: "
            f"{int((t['refined_components'] < t['first_components']).sum())}; IoU first/refined mean {t['first_iou'].mean():.2f}/{t['refined_iou'].mean():.2f}; "
            f"Spearman(IoU gain, chamfer refined/first) {(t['refined_iou'] - t['first_iou']).corr(t['refined_chamfer_x1000'] / t['first_chamfer_x1000'], method='spearman'):.2f}")


def rules(args) -> None:
    t = pd.concat([pd.read_csv(p) for p in args.tables], ignore_index=True)
    print(pieces_line(t))
    if args.markdown:
        print(markdown(t))
        return
    table = []
    for name, rule in candidate_rules().items():
        keep = rule(t)
        table.append({"rule": name, **paired(t, keep)})
        for s, group in t.groupby("set"):
            table.append({"rule": f"  {s}", **paired(group, keep[group.index])})
    pd.set_option("display.width", 250)
    pd.set_option("display.max_rows", 500)
    print(pd.DataFrame(table).round(2).to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--data-dir", default="data")
    r.add_argument("--data", default="procedural_chair_1024")
    r.add_argument("--real-chairs", default=str(REPO.parent / "shared" / "data" / "shapenet_sample" / "03001627"))
    r.add_argument("--subset", choices=sorted(SUBSETS), default="dev")
    r.add_argument("--mesh", type=int, default=128)
    r.add_argument("--steps", type=int, default=30, help="refinement steps (30: the former default of RefineSettings, now 0)")
    r.add_argument("--lr", type=float, default=None)
    r.add_argument("--anchor-weight", type=float, default=None)
    r.add_argument("--stride", type=int, default=1, help="score every N-th sketch of the subset only")
    r.add_argument("--workers", type=int, default=2)
    r.add_argument("--resume", action="store_true", help="keep the rows of <tag>.csv and score only the sketches it lacks")
    r.add_argument("--tag", default="dev")
    r.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "refine_keep_rule"))
    k = sub.add_parser("rules")
    k.add_argument("tables", nargs="+")
    k.add_argument("--markdown", action="store_true", help="only the reported rules, as a markdown table")
    args = parser.parse_args()
    run(args) if args.command == "run" else rules(args)


if __name__ == "__main__":
    main()
