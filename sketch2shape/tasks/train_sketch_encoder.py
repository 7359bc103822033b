"""Train the sketch encoder: a sketch -> the DeepSDF latent code of its shape.

sketch2shape train_sketch_encoder +experiment/train_sketch_encoder=procedural_chair_16 deepsdf_ckpt_path=...
sketch2shape train_sketch_encoder +data=shapenet_chair_sample deepsdf_ckpt_path=... trainer.max_epochs=20
sketch2shape train_sketch_encoder +experiment/train_sketch_encoder=release deepsdf_ckpt_path=... pairs_dir=...

Targets are the codes the DeepSDF checkpoint learned for its training shapes; inputs their
synthetic sketches from every view but ``model.loader.val_views`` (held out: validation, since
val-split shapes have no learned codes), or with ``pairs_dir`` the (sketch, code) pairs of
``make_sketch_pairs``. At the end, ``final_eval`` decodes the encoder's codes of the val shapes'
sketches and measures chamfer next to the mean code.

Writes into the run folder (<log_dir>/train_sketch_encoder/runs/<time>/): checkpoints/,
csv/metrics.csv, config.yaml, training_curve.png and, with final_eval, final_eval.csv (per shape),
final_eval_summary.csv and reconstructions.png.
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("train_sketch_encoder")


@hydra_entry("train_sketch_encoder")
def main(cfg) -> None:
    import lightning as L
    import torch
    from hydra.utils import instantiate

    from sketch2shape.data.sketch_code_dataset import SketchCodeDataModule, SketchPairsDataModule
    from sketch2shape.eval.sketch_encoder_eval import final_eval, save_encoder_training_curve
    from sketch2shape.models.checkpoints import load_deepsdf
    from sketch2shape.models.sketch_encoder import check_deepsdf_data, deepsdf_record, require_deepsdf_ckpt
    from sketch2shape.models.sketch_encoder_module import load_sketch_encoder
    from sketch2shape.models.training import build_trainer, finish_distributed, last_checkpoint, log_training_end
    from sketch2shape.utils.device import resolve_device
    from sketch2shape.utils.logs import quiet_lightning
    from sketch2shape.utils.training import save_config

    quiet_lightning()

    deepsdf_path = require_deepsdf_ckpt(cfg.get("deepsdf_ckpt_path"))  # fail before loading anything
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))
    L.seed_everything(cfg.seed, workers=True)
    save_config(cfg, cfg.paths.output_dir)
    deepsdf = load_deepsdf(deepsdf_path, torch.device("cpu"))
    check_deepsdf_data(deepsdf, cfg.data.name)
    record = deepsdf_record(deepsdf, deepsdf_path)
    module = instantiate(cfg.model, deepsdf=record, data_name=cfg.data.name, seed=cfg.seed)
    sdf_points = module.sdf_points  # SDF samples per sketch the loss needs (0: none)
    if cfg.get("pairs_dir"):  # pairs at scale (make_sketch_pairs): random views + decoded shapes
        datamodule = SketchPairsDataModule(cfg.data.data_dir, record["train_obj_ids"], cfg.pairs_dir, cfg.model.loader, sdf_points=sdf_points, seed=cfg.seed)
    else:
        datamodule = SketchCodeDataModule(cfg.data.data_dir, record["train_obj_ids"], cfg.model.loader, sdf_points=sdf_points, seed=cfg.seed)
    module.set_codes(deepsdf.latents.weight)
    module.attach_decoder(deepsdf.decoder)  # SDF loss term and unseen-shape validation; not checkpointed
    trainer = build_trainer(cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    finish_distributed()
    last = last_checkpoint(trainer, log)
    curve = save_encoder_training_curve(cfg.paths.output_dir)
    if curve is not None:
        log.info("training curve: %s", curve)
    if cfg.final_eval.enabled:
        device = resolve_device(cfg.device)
        encoder = load_sketch_encoder(last, device) if last else module.net
        final_eval(cfg.final_eval, cfg.paths.output_dir, encoder, deepsdf, cfg.data, device)
    log_training_end(trainer, log)  # the last line: epochs run of those planned, and whether the time cap stopped it


if __name__ == "__main__":
    main()
