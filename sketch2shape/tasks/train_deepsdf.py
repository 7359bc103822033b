"""Train a DeepSDF auto-decoder on a dataset's SDF samples.

sketch2shape train_deepsdf +data=procedural_chair_16
sketch2shape train_deepsdf +experiment/train_deepsdf=shapenet_chair_16
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("train_deepsdf")


@hydra_entry("train_deepsdf")
def main(cfg) -> None:
    import lightning as L
    from hydra.utils import instantiate

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.sdf_dataset import SDFDataModule
    from sketch2shape.models.callbacks import DeepSDFReport
    from sketch2shape.models.training import build_trainer, finish_distributed, log_training_end
    from sketch2shape.utils.logs import quiet_lightning
    from sketch2shape.utils.training import save_config

    quiet_lightning()

    L.seed_everything(cfg.seed, workers=True)
    datamodule = SDFDataModule(cfg.data.data_dir, **cfg.datamodule)
    model = instantiate(cfg.model, num_shapes=datamodule.num_shapes, train_obj_ids=datamodule.train_ids, data_name=cfg.data.name, _convert_="all")
    report = DeepSDFReport(cfg.paths.output_dir, DatasetLayout.from_config(cfg.data), **cfg.report)
    trainer = build_trainer(cfg, callbacks=[report])
    if trainer.is_global_zero:
        save_config(cfg, cfg.paths.output_dir)
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.ckpt_path)
    finish_distributed()
    if trainer.is_global_zero and trainer.checkpoint_callback is not None:
        log.info("checkpoint: %s", trainer.checkpoint_callback.last_model_path)
    log_training_end(trainer, log)  # the last line: epochs run of those planned, and whether the time cap stopped it


if __name__ == "__main__":
    main()
