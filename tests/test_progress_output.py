"""Progress output written to a file or a pipe stays small: sparse tqdm redraws, and a line per
epoch at most every 30 s instead of Lightning's bar; a terminal still gets live bars."""

from __future__ import annotations

import io
import logging
import time

import lightning as L
import pytest
from tqdm import tqdm

from sketch2shape.models.callbacks import EpochProgress
from sketch2shape.utils.hydra import compose
from sketch2shape.utils.progress import QUIET_INTERVAL, progress_bar
from tests.models.test_epoch_history import Tiny, loader


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_into_a_file_redraws_rarely_and_a_bar_in_a_terminal_live():
    def run(make, stream, leave=True) -> str:
        for _ in make(range(40), file=stream, leave=leave):
            time.sleep(0.01)  # 0.4 s: tqdm's own default redraws about every 0.1 s
        return stream.getvalue()

    plain = run(tqdm, io.StringIO())
    quiet = run(progress_bar, io.StringIO())
    assert plain.count("\r") >= 4 and quiet.count("\r") <= 2, (plain, quiet)  # the start and the end only
    assert "40/40" in quiet
    assert run(progress_bar, io.StringIO(), leave=False) == ""  # a short transient bar: nothing at all
    assert run(progress_bar, Terminal()).count("\r") >= 4  # a terminal: live as before
    assert progress_bar(file=io.StringIO()).mininterval == QUIET_INTERVAL == 30.0


def test_build_trainer_replaces_the_bar_by_epoch_lines_when_stdout_is_not_a_terminal(tmp_path, monkeypatch):
    from sketch2shape.models.training import build_trainer

    cfg = compose("train_deepsdf", ["device=cpu", f"paths.output_dir={tmp_path}", "logger=csv"])
    monkeypatch.setattr("sys.stdout", io.StringIO())
    trainer = build_trainer(cfg)
    assert trainer.progress_bar_callback is None and any(isinstance(c, EpochProgress) for c in trainer.callbacks)
    monkeypatch.setattr("sys.stdout", Terminal())
    trainer = build_trainer(cfg)
    assert trainer.progress_bar_callback is not None and not any(isinstance(c, EpochProgress) for c in trainer.callbacks)


@pytest.mark.parametrize("interval, expected", [(3600.0, [1, 6]), (0.0, [1, 2, 3, 4, 5, 6])])
def test_epoch_lines_are_the_first_the_last_and_one_per_interval(interval, expected, tmp_path, caplog):
    trainer = L.Trainer(max_epochs=6, logger=False, callbacks=[EpochProgress(interval)], enable_progress_bar=False, enable_checkpointing=False,
                        enable_model_summary=False, default_root_dir=tmp_path, accelerator="cpu", num_sanity_val_steps=0)
    with caplog.at_level(logging.INFO, logger="sketch2shape.models.callbacks"):
        trainer.fit(Tiny(), train_dataloaders=loader(), val_dataloaders=loader())
    lines = [r.getMessage() for r in caplog.records if r.name == "sketch2shape.models.callbacks"]
    assert [int(line.split()[1].split("/")[0]) for line in lines] == expected, lines
    assert lines[-1].startswith("epoch 6/6: ") and lines[-1].endswith(" s)")
