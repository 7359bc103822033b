"""Is a second drawing of the same chair worth drawing? Two views against one, on the same shapes.

For unseen chairs (the real test split of ``--real-data`` and the procedural test split of
``--data``) the product's own synthetic sketches are drawn from a front three-quarter view (``A``:
azimuth 30, elevation 35, the view most people draw) and from the side (``B``: azimuth 90,
elevation 5). Each chair is answered, with the method's defaults (view estimated, code search on,
no refinement), as:

* ``A``: the three-quarter drawing alone;
* ``B``: the side drawing alone;
* ``A + B (view given)``: ``reconstruct A.png --also B.png@90,5``: the second drawing's view is
  stated (``also=[(B, camera)]``);
* ``A + B (view estimated)``: ``reconstruct A.png --also B.png``: the second view is estimated too.

Scored by chamfer x1000 against the true surface samples (lower is better), paired on the same
chairs: the mean, the median, and how many chairs the two-view answer improved over ``A`` alone.
Writes ``results.csv``, ``summary.md`` and ``examples.png`` (A | B | answer to A | answer to A + B |
the true chair) into ``--out``.

python benchmarks/two_views.py --data-dir <data> --model chairs --limit 24
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

REPO = Path(__file__).resolve().parents[1]
VIEW_A = (30.0, 35.0)
VIEW_B = (90.0, 5.0)
METHODS = ("A", "B", "A + B (view given)", "A + B (view estimated)")
STATE: dict = {}


def build_items(args) -> list[dict]:
    """Per chair: both sketches (uint8, normalized), the truth points, the set's name and the mesh."""
    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
    from sketch2shape.data.preprocess.mesh import load_mesh
    from sketch2shape.data.sketch_pairs import mesh_sketch
    from sketch2shape.data.user_sketch import Framing, normalize_sketch
    from sketch2shape.render.camera import Camera
    from sketch2shape.render.mesh_raycast import MeshRaycaster
    from sketch2shape.render.sketch import SketchSettings

    settings = SketchSettings(stroke_width=1)
    items = []
    for name, data in (("real_test", args.real_data), ("procedural", args.data)):
        layout = DatasetLayout(Path(args.data_dir) / data)
        if not layout.metainfo.is_file():
            print(f"[benchmark] {layout.root} is not preprocessed: the {name} set is skipped", file=sys.stderr)
            continue
        for obj_id in obj_ids_of(read_metainfo(layout.metainfo), "test")[: args.limit]:
            files = layout.shape(obj_id)
            if not files.surface_samples.is_file():
                continue
            mesh = load_mesh(files.normalized_mesh)
            raycaster = MeshRaycaster(mesh)
            sketches = {}
            for key, (azimuth, elevation) in (("A", VIEW_A), ("B", VIEW_B)):
                image = mesh_sketch(raycaster, Camera(azimuth_deg=azimuth, elevation_deg=elevation, resolution=128), settings)
                sketches[key] = normalize_sketch(image, Framing(), name=f"{name} {obj_id} {key}")
            items.append({"set": name, "obj_id": obj_id, "sketches": sketches, "truth": np.load(files.surface_samples).astype(np.float32), "mesh": mesh})
    return items


def answers(method, item: dict) -> dict:
    """The four answers (meshes) of one chair."""
    from sketch2shape.render.camera import Camera

    a, b = item["sketches"]["A"], item["sketches"]["B"]
    side = Camera(azimuth_deg=VIEW_B[0], elevation_deg=VIEW_B[1], resolution=128)
    return {
        "A": method(a, refine=False).start.mesh,
        "B": method(b, refine=False).start.mesh,
        "A + B (view given)": method(a, refine=False, also=[(b, side)]).start.mesh,
        "A + B (view estimated)": method(a, refine=False, also=[(b, None)]).start.mesh,
    }


def score_item(item: dict) -> list[dict]:
    from sketch2shape.metrics.chamfer import surface_metrics

    out, t = [], time.perf_counter()
    for name, mesh in answers(STATE["method"], item).items():
        metrics = surface_metrics(mesh, item["truth"])
        out.append({"set": item["set"], "obj_id": item["obj_id"], "method": name, "chamfer_x1000": metrics.chamfer * 1000, "fscore": metrics.fscore})
    for row in out:
        row["seconds_all_four"] = time.perf_counter() - t
    return out


def summarize(table: pd.DataFrame) -> str:
    """One markdown table: per set and method, mean / median chamfer x1000 and the chairs improved
    over ``A`` alone (paired)."""
    lines = ["| set | method | chamfer x1000 mean / median | better than A alone | F-score |", "|---|---|---|---|---|"]
    for name, part in table.groupby("set", sort=False):
        wide = part.pivot(index="obj_id", columns="method", values="chamfer_x1000")
        for method in METHODS:
            if method not in wide:
                continue
            values = wide[method]
            better = "-" if method == "A" else f"{int((values < wide['A']).sum())} of {len(values)}"
            fscore = part[part["method"] == method]["fscore"].mean()
            lines.append(f"| {name} | {method} | {values.mean():.2f} / {values.median():.2f} | {better} | {fscore:.3f} |")
    return "\n".join(lines)


def shown(sketch: np.ndarray, size: int = 160) -> np.ndarray:
    """A uint8 sketch ``(H, W)`` as a ``(size, size, 3)`` RGB image for the figure."""
    small = torch.nn.functional.interpolate(torch.from_numpy(sketch).float()[None, None], size=(size, size), mode="area")[0, 0]
    return np.repeat(small.numpy().astype(np.uint8)[..., None], 3, 2)


def save_figure(items: list[dict], method, out_dir: Path, count: int = 4) -> Path | None:
    """``examples.png``: A | B | answer to A | answer to A + B (view given) | the true chair, for a
    few chairs of each set, each mesh seen from A's view."""
    from sketch2shape.render.camera import Camera
    from sketch2shape.viz import render_mesh, save_labeled_grid

    camera = Camera(azimuth_deg=VIEW_A[0], elevation_deg=VIEW_A[1], resolution=160)
    rows, labels = [], []
    for name in ("real_test", "procedural"):
        for item in [i for i in items if i["set"] == name][:count]:
            meshes = answers(method, item)
            sketches = [shown(item["sketches"][k]) for k in ("A", "B")]
            rows.append([*sketches, render_mesh(meshes["A"], camera), render_mesh(meshes["A + B (view given)"], camera), render_mesh(item["mesh"], camera)])
            labels.append(f"{name} {item['obj_id'][:8]}")
    if not rows:
        return None
    path = out_dir / "examples.png"
    save_labeled_grid(path, rows, labels, ["drawing A", "drawing B (side)", "answer to A", "answer to A + B", "true chair"])
    return path


def init_worker() -> None:
    torch.set_num_threads(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--data", default="procedural_chair_1024", help="the procedural set (its test split)")
    parser.add_argument("--real-data", default="shapenet_chair_all", help="the real set (its test split)")
    parser.add_argument("--model", default=None, help="the pretrained model by name (default: the package's default)")
    parser.add_argument("--limit", type=int, default=24, help="chairs per set")
    parser.add_argument("--mesh", type=int, default=96, help="marching cubes grid of every scored mesh")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "two_views"))
    args = parser.parse_args()

    from sketch2shape.optimize.sketch_to_shape import SketchToShape
    from sketch2shape.utils.progress import progress_bar

    torch.set_num_threads(1)
    began = time.perf_counter()
    method = SketchToShape.pretrained(args.model, "cpu", mesh={"resolution": args.mesh})
    STATE["method"] = method
    items = build_items(args)
    if not items:
        raise SystemExit(f"error: no preprocessed test chairs under {args.data_dir} ({args.real_data}, {args.data})")
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    with multiprocessing.get_context("fork").Pool(args.workers, initializer=init_worker) as pool:
        for out in progress_bar(pool.imap(score_item, items), total=len(items), desc="two views"):
            rows += out
            pd.DataFrame(rows).to_csv(out_dir / "results.csv", index=False)
    table = pd.DataFrame(rows)
    command = f"python benchmarks/two_views.py --data-dir <data> --model {args.model or 'default'} --limit {args.limit} --workers {args.workers}"
    text = (
        f"# Two drawings against one (model `{args.model or 'default'}`)\n\n"
        + summarize(table)
        + f"\n\nA: azimuth {VIEW_A[0]:.0f}, elevation {VIEW_A[1]:.0f}; B: azimuth {VIEW_B[0]:.0f}, elevation {VIEW_B[1]:.0f}. "
        + f"{table['obj_id'].nunique()} chairs, {time.perf_counter() - began:.0f} s on {args.workers} processes. `{command}`\n"
    )
    (out_dir / "summary.md").write_text(text)
    print(text)
    figure = save_figure(items, method, out_dir)
    if figure is not None:
        print(f"[benchmark] figure: {figure}")


if __name__ == "__main__":
    main()
