"""Renders of learned DeepSDF codes against the preprocessed normal maps of their shapes.

For every training shape of a checkpoint and every dataset view (or those given), renders the
shape's learned code with the sphere tracer from the dataset camera and compares it with the
preprocessed normal map, area-downsampled to --resolution like ``optimize_normals`` does: mask
IoU and mean angle between normals where both masks cover (sketch2shape/eval/render_fidelity.py).
Prints one row per shape (mean / min IoU, mean / max angle over its views), the overall mean and
the worst view.

    python benchmarks/render_fidelity.py --ckpt logs/train_deepsdf/runs/<time>/checkpoints/last.ckpt [--data-dir data] [--resolution 128] [--supersample 2]

--data-dir is paths.data_dir (default ``$SKETCH2SHAPE_ROOT/data``, else ``./data``); the dataset is
the folder named after the checkpoint's data (a dataset folder itself is accepted too).
--supersample 2 renders at twice the resolution and downsamples the render like the maps
(4x the time): for 256 px maps at --resolution 128 the two then go through identical pooling,
and what remains is the DeepSDF fit, not the sampling.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.eval.render_fidelity import ViewFidelity, fidelity_frame, render_fidelity, summarize_fidelity
from sketch2shape.models.checkpoints import load_deepsdf
from sketch2shape.optimize.normals import dataset_cameras


def dataset_of(data_dir: Path, data_name: str | None) -> DatasetLayout:
    """The checkpoint's dataset under ``data_dir`` (or ``data_dir`` itself if it is a dataset)."""
    if data_name and (data_dir / data_name / "cameras.json").is_file():
        return DatasetLayout(data_dir / data_name)
    if (data_dir / "cameras.json").is_file():
        return DatasetLayout(data_dir)
    raise FileNotFoundError(f"no cameras.json in {data_dir / str(data_name)} nor in {data_dir}: pass --data-dir (paths.data_dir of the checkpoint's data {data_name!r})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ckpt", required=True, help="a trained DeepSDF checkpoint")
    parser.add_argument("--data-dir", default=str(Path(os.environ.get("SKETCH2SHAPE_ROOT", ".")) / "data"), help="paths.data_dir (default: $SKETCH2SHAPE_ROOT/data or ./data)")
    parser.add_argument("--resolution", type=int, default=128, help="rendering resolution (pixels per side)")
    parser.add_argument("--supersample", type=int, default=1, help="render at k x resolution and downsample like the maps")
    parser.add_argument("--views", type=int, nargs="+", default=None, help="view indices (default: all of cameras.json)")
    parser.add_argument("--obj-ids", nargs="+", default=None, help="training shapes (default: all of the checkpoint)")
    parser.add_argument("--csv", default=None, help="also write one row per (shape, view) to this file")
    args = parser.parse_args()

    model = load_deepsdf(args.ckpt, torch.device("cpu"))
    layout = dataset_of(Path(args.data_dir), model.hparams.get("data_name"))
    views = args.views if args.views is not None else list(range(len(dataset_cameras(layout))))
    obj_ids = args.obj_ids or list(model.train_obj_ids)
    print(f"{layout.root}: {len(obj_ids)} shapes x {len(views)} views at {args.resolution} px (supersample {args.supersample})", flush=True)

    start = time.perf_counter()

    def progress(row: ViewFidelity) -> None:
        if row.view == views[-1]:
            print(f"  {row.obj_id} done ({time.perf_counter() - start:.0f} s)", flush=True)

    rows = render_fidelity(model, layout, obj_ids, views, args.resolution, supersample=args.supersample, progress=progress)
    seconds = time.perf_counter() - start
    frame = fidelity_frame(rows)
    if args.csv:
        frame.to_csv(args.csv, index=False)

    summary = summarize_fidelity(rows)
    header = f"{'shape':<14} {'IoU mean':>8} {'IoU min':>8} {'angle mean':>10} {'angle max':>9}"
    print("\n" + header + "\n" + "-" * len(header))
    for obj_id, r in summary.iterrows():
        print(f"{obj_id:<14} {r.iou_mean:>8.3f} {r.iou_min:>8.3f} {r.angle_mean:>10.2f} {r.angle_max:>9.2f}")
    print("-" * len(header))
    print(f"{'all views':<14} {frame.iou.mean():>8.3f} {frame.iou.min():>8.3f} {frame.angle_deg.mean():>10.2f} {frame.angle_deg.max():>9.2f}")
    worst = frame.loc[frame.iou.idxmin()]
    passing = ((summary.iou_mean >= 0.9) & (summary.angle_mean <= 15.0)).sum()
    print(f"\nshapes with mean IoU >= 0.9 and mean angle <= 15 deg: {passing} / {len(summary)}")
    print(f"worst view: {worst.obj_id} view {worst.view} (IoU {worst.iou:.3f}, angle {worst.angle_deg:.2f})")
    print(f"{len(rows)} renders in {seconds:.0f} s ({seconds / len(rows):.2f} s each)")


if __name__ == "__main__":
    main()
