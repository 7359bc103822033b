"""The per-epoch history survives a resume and does not depend on the logger."""

import lightning as L
import pandas as pd
import torch
from torch.utils.data import DataLoader, TensorDataset

from sketch2shape.models.callbacks import EPOCH_METRICS, EpochHistory


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = (self.layer(x) - y).pow(2).mean()
        self.log("train/loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val/loss", (self.layer(x) - y).pow(2).mean())

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def loader():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 2, generator=g)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def fit(out_dir, epochs, ckpt_path=None, logger=False):
    history = EpochHistory(out_dir)
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=out_dir / "checkpoints", save_last=True)
    trainer = L.Trainer(
        max_epochs=epochs, logger=logger, callbacks=[history, checkpoint], enable_progress_bar=False,
        enable_model_summary=False, default_root_dir=out_dir, accelerator="cpu", num_sanity_val_steps=0,
    )
    trainer.fit(Tiny(), train_dataloaders=loader(), val_dataloaders=loader(), ckpt_path=ckpt_path)
    return pd.read_csv(out_dir / EPOCH_METRICS)


def test_history_covers_the_epochs_before_a_resume(tmp_path):
    first = fit(tmp_path / "run1", epochs=2)
    assert first["epoch"].tolist() == [0, 1] and first["train/loss"].notna().all() and first["val/loss"].notna().all()
    # resumed into a new run folder, with a TensorBoard logger instead of none
    tensorboard = L.pytorch.loggers.TensorBoardLogger(tmp_path / "run2", name="tb")
    resumed = fit(tmp_path / "run2", epochs=4, ckpt_path=tmp_path / "run1" / "checkpoints" / "last.ckpt", logger=tensorboard)
    assert resumed["epoch"].tolist() == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(resumed.iloc[:2].reset_index(drop=True), first)
    assert resumed["train/loss"].iloc[3] < resumed["train/loss"].iloc[0]
    # the resumed run's checkpoint carries the whole history on
    state = torch.load(tmp_path / "run2" / "checkpoints" / "last.ckpt", weights_only=False)["callbacks"]["EpochHistory"]
    assert [row["epoch"] for row in state["rows"]] == [0, 1, 2, 3]
