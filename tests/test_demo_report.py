"""The demo's stage records and report (the stages faked: no task runs), the training summary of a
time-capped training, and the log output of a tiny training task (each Lightning line once, no
library noise)."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import sketch2shape.cli as cli
from sketch2shape.report import write_demo_report
from sketch2shape.utils.run_records import TRAINING_SUMMARY, describe_training, read_stage_record, write_stage_record

SECONDS = {"preprocess_data": 3.0, "train_deepsdf": 360.0, "train_siamese": 41.0, "eval_siamese": 5.0, "eval_sketch_to_shape": 120.0}
CAPPED = {"epochs": 64, "max_epochs": 100, "first_epoch": 0, "steps": 640, "seconds": 360.0, "max_time_s": 360.0, "stopped_by": "max_time",
          "finished": "2026-12-01T03:00:00+00:00"}


class FakeStages:
    """Stands in for the stage processes: advances a fake clock by the stage's seconds, writes a
    file into its folder (and train_deepsdf's training summary: stopped by the time cap)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.ran: list[str] = []

    def perf_counter(self) -> float:
        return self.now

    def run(self, command, cwd=None):
        name = command[2].rsplit(".", 1)[1]
        folder = Path(next(arg for arg in command if arg.startswith("hydra.run.dir=")).split("=", 1)[1])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "output.txt").write_text(name)
        if name == "train_deepsdf":
            import json

            (folder / TRAINING_SUMMARY).write_text(json.dumps(CAPPED))
        self.now += SECONDS[name]
        self.ran.append(name)
        return subprocess.CompletedProcess(command, 0)


@pytest.fixture
def fake(monkeypatch) -> FakeStages:
    stages = FakeStages()
    monkeypatch.setattr(cli.subprocess, "run", stages.run)
    monkeypatch.setattr(cli, "time", stages)  # cli's clock only
    return stages


def demo(tmp_path: Path, *extra: str) -> str:
    cli.main(["demo", "--data", "procedural_chair_4", "--data-dir", str(tmp_path / "data"), "--log-dir", str(tmp_path / "logs"), *extra])
    return (tmp_path / "logs" / "demo" / "procedural_chair_4" / "report.md").read_text()


def stage_rows(report: str) -> dict[str, list[str]]:
    """The rows of the report's stage table: stage -> [seconds, finished, this run]."""
    section = report.split("## Stages", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return {cells[0].strip(): [c.strip() for c in cells[1:]] for cells in rows if cells[0].strip() in SECONDS and len(cells) == 4}


def test_a_second_demo_run_reuses_the_stages_and_keeps_their_recorded_times(tmp_path, fake, capsys):
    first = stage_rows(demo(tmp_path))
    assert fake.ran == list(SECONDS)
    assert {name: row[0] for name, row in first.items()} == {"preprocess_data": "3.0", "train_deepsdf": "360", "train_siamese": "41",
                                                            "eval_siamese": "5.0", "eval_sketch_to_shape": "120"}
    assert all(row[2] == "ran" for row in first.values())
    record = read_stage_record(tmp_path / "logs" / "demo" / "procedural_chair_4" / "train_deepsdf" / ".done")
    assert record["seconds"] == 360.0 and record["started"] and record["finished"]

    fake.ran.clear()
    report = demo(tmp_path)
    assert fake.ran == [] and capsys.readouterr().out.count("done before, reusing") == 5
    second = stage_rows(report)
    assert {name: row[:2] for name, row in second.items()} == {name: row[:2] for name, row in first.items()}  # times and finish times kept
    assert all(row[2] == "reused (ran before)" for row in second.values())
    # the training section: train_deepsdf was stopped by its time cap (the fake summary), and the report says so
    assert "| train_deepsdf | 64 | 100 | **stopped by the time cap** |" in report
    assert "**train_deepsdf stopped at its time cap**: 64 of 100 planned epochs in 360 s: stopped by the time cap (trainer.max_time: 0:06:00)" in report


def test_rerun_runs_a_stage_and_those_using_it_and_fresh_runs_all_keeping_the_dataset(tmp_path, fake, capsys):
    demo(tmp_path)
    run_dir = tmp_path / "logs" / "demo" / "procedural_chair_4"
    (run_dir / "eval_siamese" / "old.txt").write_text("from the first run")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "keep.txt").write_text("the dataset")
    capsys.readouterr()
    fake.ran.clear()
    report = demo(tmp_path, "--rerun", "train_siamese")
    assert fake.ran == ["train_siamese", "eval_siamese", "eval_sketch_to_shape"]
    out = capsys.readouterr().out
    assert "--rerun train_siamese" in out and f"removing the previous run of train_siamese, eval_siamese, eval_sketch_to_shape: {run_dir / 'train_siamese'}" in out
    assert not (run_dir / "eval_siamese" / "old.txt").exists() and (run_dir / "train_deepsdf" / "output.txt").is_file()
    assert [row[2] for row in stage_rows(report).values()] == ["reused (ran before)", "reused (ran before)", "ran", "ran", "ran"]

    fake.ran.clear()
    demo(tmp_path, "--fresh")
    assert fake.ran == list(SECONDS) and "--fresh (the dataset in" in capsys.readouterr().out
    assert (tmp_path / "data" / "keep.txt").read_text() == "the dataset"


def test_a_report_from_records_of_an_older_version_and_missing_stages(tmp_path):
    (tmp_path / "preprocess_data").mkdir()
    (tmp_path / "preprocess_data" / ".done").write_text("12.3\n")  # the marker before the records: the seconds only
    write_stage_record(tmp_path / "train_deepsdf" / ".done", 75.04, started="2026-12-01T02:00:00+00:00", finished="2026-12-01T02:01:15+00:00")
    rows = stage_rows(write_demo_report(tmp_path, list(SECONDS), reused=["preprocess_data"]).read_text())
    assert rows["preprocess_data"][0] == "12" and rows["preprocess_data"][2] == "reused (ran before)"
    assert rows["train_deepsdf"] == ["75", "2026-12-01 02:01", "ran"]
    assert rows["eval_siamese"] == ["-", "not run", "-"]
    assert not list(tmp_path.glob("**/*.tmp*"))  # written atomically: no temporary file left


def test_set_values_may_hold_colons():
    assert cli.stage_overrides("train_deepsdf", ["train_deepsdf:trainer.max_time=00:00:20:00", "x=a:b", "eval_siamese:k=1"]) == [
        "trainer.max_time=00:00:20:00", "++x=a:b"]


def tiny_fit(tmp_path: Path, **trainer_args):
    import lightning as L
    import torch

    from sketch2shape.models.callbacks import TrainingSummary

    class Tiny(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 1)

        def training_step(self, batch, index):
            time.sleep(0.02)
            return self.layer(batch[0]).pow(2).mean()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.01)

        def train_dataloader(self):
            return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(40, 2)), batch_size=4)

    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[TrainingSummary(tmp_path)], **trainer_args)
    trainer.fit(Tiny())
    return trainer


def test_a_training_the_time_cap_stops_is_reported_as_such(tmp_path, caplog):
    import json

    from sketch2shape.models.training import log_training_end

    trainer = tiny_fit(tmp_path, max_epochs=1000, max_time={"seconds": 1})  # about 0.2 s an epoch
    summary = json.loads((tmp_path / TRAINING_SUMMARY).read_text())
    assert summary["stopped_by"] == "max_time" and summary["max_epochs"] == 1000 and 1 <= summary["epochs"] < 1000
    assert summary["max_time_s"] == 1.0
    with caplog.at_level(logging.INFO):
        log_training_end(trainer)
    assert caplog.records[-1].levelno == logging.WARNING
    assert caplog.records[-1].getMessage().startswith(f"training: {summary['epochs']} of 1000 planned epochs in ")
    assert caplog.records[-1].getMessage().endswith(": stopped by the time cap (trainer.max_time: 0:00:01)")

    tiny_fit(tmp_path, max_epochs=2, max_time={"seconds": 100})
    summary = json.loads((tmp_path / TRAINING_SUMMARY).read_text())
    assert summary["stopped_by"] == "max_epochs" and summary["epochs"] == 2
    assert describe_training(summary).endswith("2 of 2 planned epochs in " + f"{summary['seconds']:.0f} s: all planned epochs ran")


def test_quiet_lightning_ignores_only_the_leafspec_warning_of_lightning():
    from sketch2shape.utils.logs import quiet_lightning

    message = "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_lightning()  # its filter is added again in front of "default"
        warnings.warn_explicit(message, FutureWarning, "_pytree.py", 21, module="lightning.pytorch.utilities._pytree")
        warnings.warn_explicit(message, FutureWarning, "mine.py", 1, module="mypackage.mine")  # the same message from elsewhere
        warnings.warn_explicit("something else", FutureWarning, "_pytree.py", 22, module="lightning.pytorch.utilities._pytree")
    assert [(str(w.message)[:20], w.filename) for w in caught] == [(message[:20], "mine.py"), ("something else", "_pytree.py")]


NOISE = ("INFO: ", "litlogger", "LeafSpec", "swigfaiss", "faiss.loader", "AVX512")


@pytest.mark.slow
def test_a_tiny_training_logs_each_lightning_line_once_without_noise(tmp_path):
    """train_siamese (it loads faiss through pytorch_metric_learning) on tiny preprocessed data."""
    from tests.test_demo import TINY_DATA

    common = ["data=procedural_chair_4", *TINY_DATA, f"paths.data_dir={tmp_path / 'data'}", f"paths.log_dir={tmp_path / 'logs'}"]
    pre = subprocess.run([sys.executable, "-m", "sketch2shape.tasks.preprocess_data", *common], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert pre.returncode == 0, pre.stderr[-3000:]
    out = subprocess.run([sys.executable, "-m", "sketch2shape.tasks.train_siamese", *common, "trainer.max_epochs=1", "model.net.image_size=32",
                          "model.net.embedding_dim=16", "model.net.encoder.widths=[8,16]", "model.net.encoder.blocks=[1,1]",
                          "model.loader.load_resolution=32", "model.loader.shapes_per_batch=2", "model.loader.views_per_shape=2"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    for line in ("Seed set to 42", "GPU available: False", "`Trainer.fit` stopped: `max_epochs=1` reached."):
        assert log.count(line) == 1, (line, log)
    assert [noise for noise in NOISE if noise in log] == [], log
    last = log.strip().splitlines()[-1]
    assert "[train_siamese][INFO] - training: 1 of 1 planned epochs in " in last and last.endswith(": all planned epochs ran")
