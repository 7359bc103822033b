"""Preprocessing throughput: shapes per minute and the share of time per step.

Runs the default preprocessing (data/base.yaml settings) on the real ShapeNet chairs in
../shared/data/shapenet_sample (or --source) into a temporary folder, and prints a table.

    python benchmarks/preprocess.py [--workers 2] [--source DIR] [--limit N]
    python benchmarks/preprocess.py --data procedural_chair_1024 --procedural 64   # the release settings

With ``--procedural N`` it generates the first N chairs of the data config's procedural generator
instead of copying ShapeNet meshes (target for the release settings: >= 60 shapes per minute).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.preprocess.pipeline import summarize
from sketch2shape.data.preprocess.runner import plan_from_config, run_preprocess
from sketch2shape.data.shapenet import copy_shapenet, find_source_meshes
from sketch2shape.render.camera import cameras_from_config
from sketch2shape.utils.hydra import compose

DEFAULT_SOURCE = Path(__file__).resolve().parents[2] / "shared" / "data" / "shapenet_sample" / "03001627"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--limit", type=int, default=None, help="only the first N shapes")
    parser.add_argument("--data", default="shapenet_chair_sample", help="data config for the settings")
    parser.add_argument("--procedural", type=int, default=0, help="generate this many procedural chairs instead of copying --source")
    args = parser.parse_args()

    count = args.procedural or (len(find_source_meshes(args.source)) if args.limit is None else args.limit)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = compose("preprocess_data", [f"data={args.data}", f"paths.root_dir={tmp}"])
        layout = DatasetLayout.from_config(cfg.data)
        if args.procedural:
            from sketch2shape.data.create import generate_procedural_dataset
            from sketch2shape.data.metainfo import read_metainfo

            generate_procedural_dataset(layout, {"train": count}, int(cfg.data.procedural_seed), 0, int(cfg.data.procedural_version))
            ids = read_metainfo(layout.metainfo)["obj_id"].tolist()
        else:
            report = copy_shapenet(args.source, layout, {"train": count}, seed=0)
            ids = report.metainfo["obj_id"].tolist()
        plan = plan_from_config(cfg.data, cameras_from_config(cfg.data.camera, cfg.data.views), seed=0)
        start = time.perf_counter()
        results = run_preprocess(plan, ids, workers=args.workers)
        wall = time.perf_counter() - start
    summary = summarize(results)
    total = sum(summary.seconds_per_step.values())
    source = f"procedural ({args.data})" if args.procedural else args.source
    print(f"\nsource: {source}  shapes: {len(ids)}  workers: {args.workers}  failed: {len(summary.failed)}")
    print(f"{'step':<10} {'s/shape':>8} {'share':>7}")
    for step, sec in summary.seconds_per_step.items():
        print(f"{step:<10} {sec / len(ids):>8.2f} {sec / total:>7.1%}")
    print(f"{'wall':<10} {wall / len(ids):>8.2f}   -> {60.0 * len(ids) / wall:.1f} shapes/min (target >= {60 if args.procedural else 20})")


if __name__ == "__main__":
    main()
