"""The demo's report: a Markdown page with the measured numbers and the pictures of each stage."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

from sketch2shape.utils.io import write_text
from sketch2shape.utils.run_records import STAGE_RECORD, STOP_REASONS, describe_training, read_stage_record, read_training_summary


def _image(run_dir: Path, relative: str, caption: str) -> str:
    return f"![{caption}]({relative})\n\n*{caption}*\n" if (run_dir / relative).is_file() else ""


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def _when(iso: str | None) -> str:
    return iso.replace("T", " ")[:16] if iso else "time unknown"


def stage_table(run_dir: Path, stages: Sequence[str], reused: Collection[str] = ()) -> list[str]:
    """The report's stage table: each stage's wall time and when it finished, from its record
    (``<run_dir>/<stage>/.done``); a stage in ``reused`` ran in an earlier run of the demo and says so."""
    lines = ["| stage | seconds | finished | this run |", "|---|---|---|---|"]
    for name in stages:
        record = read_stage_record(run_dir / name / STAGE_RECORD)
        if record is None:
            lines.append(f"| {name} | - | not run | - |")
            continue
        lines.append(f"| {name} | {_seconds(record.get('seconds'))} | {_when(record.get('finished'))} | {'reused (ran before)' if name in reused else 'ran'} |")
    return lines


def training_lines(run_dir: Path, stages: Sequence[str]) -> list[str]:
    """The report's training section: per training stage, the epochs run of those planned and what
    stopped it (its ``training_summary.json``), with a warning for a training the time cap
    (``trainer.max_time``) stopped before its planned epochs: the numbers then depend on the machine's speed."""
    summaries = {name: read_training_summary(run_dir / name) for name in stages}
    summaries = {name: summary for name, summary in summaries.items() if summary is not None}
    if not summaries:
        return []
    lines = ["## Training", "", "| stage | epochs run | epochs planned | stopped by |", "|---|---|---|---|"]
    for name, summary in summaries.items():
        reason = STOP_REASONS.get(summary.get("stopped_by"), str(summary.get("stopped_by")))
        if summary.get("stopped_by") == "max_time":
            reason = f"**{reason}**"
        lines.append(f"| {name} | {summary.get('epochs')} | {summary.get('max_epochs')} | {reason} |")
    capped = [name for name, summary in summaries.items() if summary.get("stopped_by") == "max_time"]
    for name in capped:
        lines += ["", f"**{name} stopped at its time cap**: {describe_training(summaries[name])}. Its results, and those of the "
                  f"stages that use it, depend on how fast this machine ran; give it more time with "
                  f"`--set {name}:trainer.max_time=DD:HH:MM:SS` and `--rerun {name}`."]
    return [*lines, ""]


def write_demo_report(run_dir: Path, stages: Sequence[str], reused: Collection[str] = ()) -> Path:
    """Write ``<run_dir>/report.md`` (atomically) from what the stages left in ``run_dir``: the stage
    table (wall times from the stages' records, so a reused stage keeps the time of the run that made
    it; ``reused``: the stages this run of the demo reused), the training lengths, the reconstruction
    table, the pictures and the retrieval table. Returns its path."""
    run_dir = Path(run_dir)
    lines = ["# sketch2shape demo report", "", f"Run folder: `{run_dir}`", "", "## Stages", "", *stage_table(run_dir, stages, reused), ""]
    lines += training_lines(run_dir, stages)
    comparison = run_dir / "eval_sketch_to_shape" / "comparison.md"
    if comparison.is_file():
        table = comparison.read_text().strip().splitlines()[1:]  # its own title dropped
        lines += ["## Reconstruction quality", *table, ""]
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
