"""How long a user waits for a shape, on this machine's CPU: the command line and the app.

Per pretrained model (``--models``) and example sketch (``examples/*.png``), seconds:

* ``CLI coarse`` / ``CLI first`` / ``CLI exit``: ``sketch2shape reconstruct SKETCH --out ...`` run
  as a new process (imports and model loading included): when the coarse 64^3 shape is written,
  when the full first shape (the encoder's, 128^3) is written (both as the command prints them,
  timed from the moment its module loads), and when the process exits, the code search's answer
  written (timed from the launch, by this script);
* ``app coarse`` / ``app first`` / ``app answer``: the same with the models held in memory, as the
  app's worker runs it (``SketchToShape.__call__``): from the request (a normalized sketch) to the
  coarse shape, to the first shape, and to the answer after the code search;
* ``import``: seconds to import the method (``python -c "import sketch2shape.optimize.sketch_to_shape"``).

``--threads`` sets torch's threads in both (the app's default is 1). Medians over the sketches
(max in brackets). Targets (issue 23): app coarse or first <= 0.5 s, CLI first shape <= 3 s,
answer <= 10 s.

python benchmarks/latency.py --models procedural chairs --threads 2
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli_seconds(sketch: Path, model: str, threads: int) -> dict[str, float]:
    """One ``reconstruct`` process: the coarse and first shapes as it reports them, and its exit."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "sketch2shape", "reconstruct", str(sketch), "--out", str(Path(folder) / "shape.obj"),
                              "--model", model, "--threads", str(threads)], capture_output=True, text=True, timeout=600)
        total = time.perf_counter() - start
    if out.returncode not in (0, 3):
        raise RuntimeError(f"reconstruct {sketch} failed: {out.stderr[-1000:]}")
    times = {name: float(value) for name, value in re.findall(r"\[reconstruct\] (coarse|first) shape .*?(\d+\.\d+) s after launch", out.stdout)}
    return {"CLI coarse": times.get("coarse", float("nan")), "CLI first": times.get("first", float("nan")), "CLI exit": total}


def app_seconds(method, sketch) -> dict[str, float]:
    """One request to an in-memory method (as the app's worker): coarse, first, answer."""
    marks: dict[str, float] = {}
    start = time.perf_counter()
    method(sketch, refine=False, on_preview=lambda code, mesh: marks.setdefault("app coarse", time.perf_counter() - start),
           on_first=lambda result: marks.setdefault("app first", time.perf_counter() - start))
    marks["app answer"] = time.perf_counter() - start
    return marks


def import_seconds() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import sketch2shape.optimize.sketch_to_shape"], check=True, timeout=300)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", nargs="*", default=None, help="sketch files (default: examples/*.png)")
    parser.add_argument("--models", nargs="+", default=["procedural"], help="pretrained model names")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from sketch2shape.data.user_sketch import Framing, normalize_sketch, read_sketch_file
    from sketch2shape.optimize.sketch_to_shape import SketchToShape

    torch.set_num_threads(args.threads)
    paths = [Path(p) for p in args.examples] if args.examples else sorted((REPO / "examples").glob("*.png"))
    columns = ["import", "CLI coarse", "CLI first", "CLI exit", "app coarse", "app first", "app answer"]
    rows = []
    for model in args.models:
        method = SketchToShape.pretrained(model, device="cpu")
        values: dict[str, list[float]] = {c: [] for c in columns}
        for path in paths:
            values["import"].append(import_seconds())
            for key, value in cli_seconds(path, model, args.threads).items():
                values[key].append(value)
            sketch = normalize_sketch(read_sketch_file(path), Framing())
            method(sketch, refine=False, search=False)  # warm: the first call pays one-off costs
            for key, value in app_seconds(method, sketch).items():
                values[key].append(value)
        rows.append((model, values))
    print(f"\n{len(paths)} sketches, {args.threads} torch threads, {os.cpu_count()} CPU cores; median seconds (max)\n")
    print("| model | " + " | ".join(columns) + " |")
    print("|---|" + "---|" * len(columns))
    for model, values in rows:
        cell = lambda v: f"{statistics.median(v):.2f} ({max(v):.2f})" if v else "-"  # noqa: E731
        print(f"| {model} | " + " | ".join(cell(values[c]) for c in columns) + " |")


if __name__ == "__main__":
    main()
