"""The demo's report: a Markdown page with the measured numbers and the pictures of each stage."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from sketch2shape.utils.io import write_text


def _chamfer_row(name: str, metrics_csv: Path) -> str | None:
    if not metrics_csv.is_file():
        return None
    table = pd.read_csv(metrics_csv)
    column = next(c for c in table.columns if c.endswith("/chamfer"))
    shapes = table[table["obj_id"] != "mean_metric"]
    fscore = shapes[column.replace("chamfer", "fscore")].mean() if column.replace("chamfer", "fscore") in shapes else float("nan")
    return f"| {name} | {len(shapes)} | {shapes[column].mean() * 1000:.3f} | {shapes[column].median() * 1000:.3f} | {fscore:.3f} |"


def _image(run_dir: Path, relative: str, caption: str) -> str:
    return f"![{caption}]({relative})\n\n*{caption}*\n" if (run_dir / relative).is_file() else ""


def write_demo_report(run_dir: Path, timings: dict[str, float]) -> Path:
    run_dir = Path(run_dir)
    lines = ["# sketch2shape demo report", "", f"Run folder: `{run_dir}`", "", "## Stages", "", "| stage | seconds (0 = reused) |", "|---|---|"]
    lines += [f"| {name} | {sec:.0f} |" for name, sec in timings.items()]
    lines += ["", "## Reconstruction quality (chamfer x1000, lower is better; F-score at 0.02)", "",
              "| method | shapes | mean | median | F-score |", "|---|---|---|---|---|"]
    rows = [
        ("mean code (no input)", run_dir / "mean_code" / "metrics.csv"),
        ("retrieval: nearest training shape to the sketch", run_dir / "retrieval" / "metrics.csv"),
        ("sketch optimization (from retrieval)", run_dir / "optimize_sketch" / "metrics.csv"),
        ("DeepSDF fit to the SDF samples (upper bound)", run_dir / "optimize_deepsdf" / "metrics.csv"),
    ]
    lines += [row for name, path in rows if (row := _chamfer_row(name, path))]
    lines += ["", "## Pictures", ""]
    lines.append(_image(run_dir, "train_deepsdf/loss_curve.png", "DeepSDF training loss"))
    lines.append(_image(run_dir, "train_deepsdf/reconstructions.png", "training shapes decoded from their learned codes"))
    lines.append(_image(run_dir, "optimize_deepsdf/reconstructions.png", "val shapes: ground truth (top) and reconstruction from SDF samples"))
    lines.append(_image(run_dir, "optimize_sketch/reconstructions.png", "val shapes: ground truth (top) and reconstruction from one sketch"))
    for view in sorted((run_dir / "optimize_sketch" / "views").glob("*[0-9].png"))[:4]:
        lines.append(_image(run_dir, f"optimize_sketch/views/{view.name}", f"{view.stem}: sketch, start (retrieval), result, truth"))
    lines.append(_image(run_dir, "eval_siamese/gallery.png", "sketch retrieval: query sketch and the 5 nearest normal maps"))
    siamese_metrics = run_dir / "eval_siamese" / "metrics_table.txt"
    if siamese_metrics.is_file():
        lines += ["## Sketch retrieval (val sketches against train + val normal maps)", "", "```", siamese_metrics.read_text().strip(), "```", ""]
    path = run_dir / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path
