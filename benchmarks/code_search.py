"""Does choosing among candidate codes by line chamfer against the drawing give better 3D shapes?

For every sketch of ``benchmarks/sketch_to_shape.py``'s sets (procedural test chairs from 3 views,
the hand-drawn-style set, the real test split, the 18 ShapeNet v2 chairs), every candidate of
:class:`~sketch2shape.optimize.sketch_to_shape.CodeSearch` (the encoder's code, the mirrored
drawing's, the nearest training codes, blends towards them) is meshed at the search's resolution,
scored by line chamfer from its best views (as the method scores it) and by chamfer x1000 against
the true shape (which the method never sees). ``candidates.csv`` holds one row per (sketch,
candidate); the summary replays selection rules over it, paired on the same sketches:

* ``encoder``: the encoder's code alone (the first answer);
* ``oracle``: the candidate with the lowest 3D chamfer (the ceiling of any rule);
* ``lines: <subset>``: the candidate with the lowest line chamfer among a subset of candidates;
  ``no more pieces``: not one in more pieces than the encoder's shape; ``margin m``: another
  candidate only when its line chamfer is below ``(1 - m)`` x the encoder's (the method's rule is
  ``all``, no more pieces, margin 0.1).

The 3D chamfer here is of the search-resolution meshes (``--resolution``), the same for all rows.

python benchmarks/code_search.py --data-dir <data> --limit 16 --real-limit 16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

SUBSETS = {
    "encoder + mirror": ("encoder", "mirrored drawing"),
    "encoder + 6 neighbours": ("encoder", "neighbour"),
    "encoder + mirror + 6 neighbours": ("encoder", "mirrored drawing", "neighbour"),
    "all (+ blends 0.5)": ("encoder", "mirrored drawing", "neighbour", "blend"),
}


def in_subset(source: str, kinds: tuple[str, ...]) -> bool:
    return any(source == k or source.startswith(k + " ") for k in kinds)


def score_candidates(method, item: dict, resolution: int) -> list[dict]:
    """One row per candidate of ``item``'s sketch: its line chamfer (best of its views) and 3D chamfer."""
    from sketch2shape.metrics.chamfer import surface_metrics
    from sketch2shape.metrics.lines import line_chamfer
    from sketch2shape.optimize.meshing import mesh_latent
    from sketch2shape.optimize.sketch_to_shape import filled_outline, mesh_pieces, view_scores
    from sketch2shape.render.mesh_raycast import MeshRaycaster, answer_lines

    sketch = item["sketch"]
    settings = method.search
    coarse = type(method.mesh_settings)(**{**method.mesh_settings.__dict__, "resolution": resolution})
    outline = filled_outline(sketch)
    rows = []
    for source, code in method.candidates(method.encode(sketch), sketch):
        with torch.no_grad():
            mesh = mesh_latent(method.deepsdf, code, coarse)
        row = {"set": item["set"], "obj_id": item["obj_id"], "view": item["view"], "source": source}
        if len(mesh.faces) == 0:
            rows.append({**row, "line_chamfer": float("inf"), "chamfer_x1000": float("inf")})
            continue
        raycaster = MeshRaycaster(mesh)
        views = [c for c, _ in view_scores(raycaster, outline, method.view_search)[: settings.views]]
        lines = min(line_chamfer(sketch < 128, answer_lines(mesh, v.with_resolution(sketch.shape[0]), settings.crease_angle_deg)) for v in views)
        rows.append({**row, "line_chamfer": lines, "chamfer_x1000": surface_metrics(mesh, item["truth"]).chamfer * 1000, "pieces": mesh_pieces(mesh)[0]})
    return rows


def replay(table: pd.DataFrame, margins: tuple[float, ...] = (0.05, 0.1, 0.15)) -> pd.DataFrame:
    """Mean / median 3D chamfer per set of each selection rule (module docstring), on the same sketches."""
    out = []
    for (name, obj_id, view), group in table.groupby(["set", "obj_id", "view"]):
        encoder = group[group["source"] == "encoder"]
        if encoder.empty or not np.isfinite(encoder["chamfer_x1000"].iloc[0]):
            continue
        picks = {"encoder": float(encoder["chamfer_x1000"].iloc[0]), "oracle": float(group["chamfer_x1000"].min())}
        for label, kinds in SUBSETS.items():
            chosen = group[group["source"].map(lambda s, kinds=kinds: in_subset(s, kinds))]
            picks[f"lines: {label}"] = float(chosen.loc[chosen["line_chamfer"].idxmin(), "chamfer_x1000"])
            whole = chosen[chosen["pieces"] <= int(encoder["pieces"].iloc[0])]  # no more pieces than the encoder's shape
            picks[f"lines, no more pieces: {label}"] = float(whole.loc[whole["line_chamfer"].idxmin(), "chamfer_x1000"])
            others = whole[whole["source"] != "encoder"]
            for margin in margins:  # the method's rule (CodeSearch.margin): another candidate only when clearly better
                better = not others.empty and others["line_chamfer"].min() < (1.0 - margin) * float(encoder["line_chamfer"].iloc[0])
                pick = others.loc[others["line_chamfer"].idxmin(), "chamfer_x1000"] if better else encoder["chamfer_x1000"].iloc[0]
                picks[f"lines, no more pieces, margin {margin:g}: {label}"] = float(pick)
        out += [{"set": name, "rule": rule, "chamfer_x1000": value} for rule, value in picks.items()]
    frame = pd.DataFrame(out)
    summary = frame.groupby(["set", "rule"], sort=False)["chamfer_x1000"].agg(["mean", "median", "size"]).reset_index()
    base = summary[summary["rule"] == "encoder"].set_index("set")["mean"]
    summary["vs encoder"] = summary.apply(lambda r: f"{100 * (r['mean'] / base[r['set']] - 1):+.1f}%", axis=1)
    return summary


def main() -> None:
    import sketch_to_shape as s2s

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--data", default="procedural_chair_1024")
    parser.add_argument("--model", default=None, help="the pretrained model by name (default: the package's default)")
    parser.add_argument("--deepsdf-ckpt", default=None)
    parser.add_argument("--encoder-ckpt", default=None)
    parser.add_argument("--real-data", default="shapenet_chair_all")
    parser.add_argument("--real-limit", type=int, default=16)
    parser.add_argument("--real-chairs", default=str(REPO.parent / "shared" / "data" / "shapenet_sample" / "03001627"))
    parser.add_argument("--limit", type=int, default=16, help="procedural test chairs (and hand-drawn ones among them)")
    parser.add_argument("--resolution", type=int, default=48, help="marching cubes grid of every candidate")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "code_search"))
    args = parser.parse_args()

    from sketch2shape.optimize.meshing import MeshSettings
    from sketch2shape.optimize.sketch_to_shape import sketch_to_shape_from_files
    from sketch2shape.pretrained import pretrained_model
    from sketch2shape.utils.progress import progress_bar

    torch.set_num_threads(args.threads)
    began = time.perf_counter()
    files = pretrained_model(args.model).files()
    method = sketch_to_shape_from_files(args.deepsdf_ckpt or files["deepsdf"], args.encoder_ckpt or files["sketch_encoder"], "cpu",
                                        mesh=MeshSettings(resolution=args.resolution))
    items = s2s.interleaved(s2s.build_items(args))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    try:
        for item in progress_bar(items, desc="code search"):
            rows += score_candidates(method, item, args.resolution)
            pd.DataFrame(rows).to_csv(out / "candidates.csv", index=False)
    except KeyboardInterrupt:
        print(f"[benchmark] stopped; summarizing the {len({(r['set'], r['obj_id'], r['view']) for r in rows})} sketches scored", file=sys.stderr)
    summary = replay(pd.DataFrame(rows))
    lines = ["| set | rule | mean | median | n | vs encoder |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['set']} | {r['rule']} | {r['mean']:.2f} | {r['median']:.2f} | {int(r['size'])} | {r['vs encoder']} |" for _, r in summary.iterrows()]
    text = "\n".join(lines) + f"\n\n{time.perf_counter() - began:.0f} s. `{s2s.portable_command(sys.argv, args)}`\n"
    (out / "summary.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
