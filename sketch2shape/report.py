"""The demo's report: a Markdown page with the measured numbers and the pictures of each stage."""

from __future__ import annotations

from pathlib import Path

from sketch2shape.utils.io import write_text


def _image(run_dir: Path, relative: str, caption: str) -> str:
    return f"![{caption}]({relative})\n\n*{caption}*\n" if (run_dir / relative).is_file() else ""


def write_demo_report(run_dir: Path, timings: dict[str, float]) -> Path:
    run_dir = Path(run_dir)
    lines = ["# sketch2shape demo report", "", f"Run folder: `{run_dir}`", "", "## Stages", "", "| stage | seconds (0 = reused) |", "|---|---|"]
    lines += [f"| {name} | {sec:.0f} |" for name, sec in timings.items()]
    comparison = run_dir / "eval_sketch_to_shape" / "comparison.md"
    if comparison.is_file():
        table = comparison.read_text().strip().splitlines()[1:]  # its own title dropped
        lines += ["", "## Reconstruction quality", *table, ""]
    lines += ["## Pictures", ""]
    lines.append(_image(run_dir, "eval_sketch_to_shape/comparison.png", "val shapes: the sketch, the truth and every method's shape"))
    lines.append(_image(run_dir, "train_deepsdf/loss_curve.png", "DeepSDF training loss"))
    lines.append(_image(run_dir, "train_deepsdf/reconstructions.png", "training shapes decoded from their learned codes"))
    lines.append(_image(run_dir, "eval_siamese/gallery.png", "sketch retrieval: query sketch and the 5 nearest normal maps"))
    siamese_metrics = run_dir / "eval_siamese" / "metrics_table.txt"
    if siamese_metrics.is_file():
        lines += ["## Sketch retrieval (val sketches against train + val normal maps)", "", "```", siamese_metrics.read_text().strip(), "```", ""]
    path = run_dir / "report.md"
    write_text(path, "\n".join(lines) + "\n")
    return path
