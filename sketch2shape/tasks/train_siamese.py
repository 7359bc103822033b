"""Train the Siamese sketch / normal-map network; validation Recall@k and hit@k every epoch.

sketch2shape train_siamese +data=procedural_chair_16
sketch2shape train_siamese +experiment=train_siamese/procedural_chair_16 trainer.max_epochs=2

Writes into the run folder (<log_dir>/train_siamese/runs/<time>/): checkpoints/, csv/metrics.csv,
config.yaml and training_curve.png.
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("train_siamese")


@hydra_entry("train_siamese")
def main(cfg) -> None:
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from sketch2shape.data.siamese_dataset import SiameseDataModule
    from sketch2shape.models.siamese_plots import save_training_curve
    from sketch2shape.models.training import build_trainer, finish_distributed, last_checkpoint, log_training_end
    from sketch2shape.utils.logs import quiet_lightning
    from sketch2shape.utils.training import save_config

    quiet_lightning()

    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    L.seed_everything(cfg.seed, workers=True)
    save_config(cfg, cfg.paths.output_dir)
    datamodule = SiameseDataModule(cfg.data.data_dir, cfg.model.loader)
    module = instantiate(cfg.model, data_name=cfg.data.name)
    trainer = build_trainer(cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    finish_distributed()
    last_checkpoint(trainer, log)
    curve = save_training_curve(cfg.paths.output_dir)
    if curve is not None:
        log.info("training curve: %s", curve)
    log_training_end(trainer, log)  # the last line: epochs run of those planned, and whether the time cap stopped it


if __name__ == "__main__":
    main()
