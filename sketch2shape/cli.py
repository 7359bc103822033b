"""The ``sketch2shape`` command: ``demo`` (the whole method on the built-in data)."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sketch2shape.utils.hydra import REPO_ROOT


@dataclass
class Stage:
    """One step of the demo: a project script run into its own folder, skipped once done."""

    name: str
    script: str
    args: list[str] = field(default_factory=list)

    def done_marker(self, run_dir: Path) -> Path:
        return run_dir / self.name / ".done"


def run_stage(stage: Stage, run_dir: Path, common: Sequence[str]) -> float:
    """Run a stage unless it finished before; returns the seconds it took (0 if reused)."""
    from sketch2shape.utils.io import write_text

    marker = stage.done_marker(run_dir)
    if marker.is_file():
        print(f"[demo] {stage.name}: done before, reusing {marker.parent}")
        return 0.0
    command = [sys.executable, str(REPO_ROOT / "scripts" / stage.script), *stage.args, *common, f"hydra.run.dir={run_dir / stage.name}"]
    print(f"[demo] {stage.name}: {' '.join(command[1:])}", flush=True)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=Path.cwd())
    if result.returncode != 0:
        raise SystemExit(f"[demo] stage {stage.name} failed (exit {result.returncode}); its log is in {run_dir / stage.name}")
    seconds = time.perf_counter() - start
    write_text(marker, f"{seconds:.1f}\n")
    return seconds


def demo_stages(data: str, run_dir: Path) -> list[Stage]:
    deepsdf_ckpt = run_dir / "train_deepsdf" / "checkpoints" / "last.ckpt"
    return [
        Stage("preprocess_data", "preprocess_data.py", [f"data={data}"]),
        Stage("train_deepsdf", "train_deepsdf.py", [f"data={data}", "+experiment/train_deepsdf=demo"]),
        Stage("optimize_deepsdf", "optimize_deepsdf.py", [f"data={data}", f"ckpt_path={deepsdf_ckpt}", "split=val", "+experiment/optimize_deepsdf=cpu"]),
    ]


def demo(args: argparse.Namespace) -> None:
    log_dir = Path(args.log_dir)
    run_dir = log_dir / "demo" / args.data
    common = [f"paths.data_dir={Path(args.data_dir).resolve()}", f"paths.log_dir={log_dir.resolve()}"]
    timings = {}
    for stage in demo_stages(args.data, run_dir):
        timings[stage.name] = run_stage(stage, run_dir, common)
    from sketch2shape.report import write_demo_report

    report = write_demo_report(run_dir, timings)
    print(f"[demo] report: {report}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sketch2shape", description="Turn a 2D sketch into a 3D shape.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="generate the built-in chairs, preprocess, train, reconstruct, write a report")
    p.add_argument("--data", default="procedural_chair_16", help="data config (default: procedural_chair_16)")
    p.add_argument("--data-dir", default="data", help="paths.data_dir (default: ./data)")
    p.add_argument("--log-dir", default="logs", help="paths.log_dir (default: ./logs); the demo writes to <log-dir>/demo/<data>")
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
