"""Train the sketch encoder: a sketch -> the DeepSDF latent code of its shape.

python scripts/train_sketch_encoder.py +experiment/train_sketch_encoder=procedural_chair_16 deepsdf_ckpt_path=...
python scripts/train_sketch_encoder.py +data=shapenet_chair_sample deepsdf_ckpt_path=... trainer.max_epochs=20
python scripts/train_sketch_encoder.py +experiment/train_sketch_encoder=release deepsdf_ckpt_path=... pairs_dir=...

Targets are the codes the DeepSDF checkpoint learned for its training shapes; inputs their
synthetic sketches from every view but ``model.loader.val_views`` (held out: validation, since
val-split shapes have no learned codes). At the end, ``final_eval`` decodes the encoder's codes of
the val shapes' sketches and measures chamfer next to the mean code.

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

    from sketch2shape.models.sketch_encoder import (
        check_deepsdf_data,
        deepsdf_record,
        require_deepsdf_ckpt,
    )

    deepsdf_path = require_deepsdf_ckpt(cfg.get("deepsdf_ckpt_path"))  # fail before loading anything
    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))

    from sketch2shape.data.sketch_code_dataset import SketchCodeDataModule
    from sketch2shape.models.sketch_encoder_module import (
        SketchEncoderModule,
        loss_settings,
    )
    from sketch2shape.optimize.reconstruct import load_deepsdf
    from sketch2shape.models.training import build_trainer
    from sketch2shape.utils.training import save_config

    L.seed_everything(cfg.seed, workers=True)
    save_config(cfg, cfg.paths.output_dir)
    deepsdf = load_deepsdf(deepsdf_path, torch.device("cpu"))
    check_deepsdf_data(deepsdf, cfg.data.name)
    record = deepsdf_record(deepsdf, deepsdf_path)
    loss = loss_settings(cfg.model.loss)
    sdf_points = int(loss["sdf_points"]) if float(loss["sdf_weight"]) > 0 else 0
    if cfg.get("pairs_dir"):  # pairs at scale (scripts/make_sketch_pairs.py): random views + decoded shapes
        from sketch2shape.data.sketch_code_dataset import SketchPairsDataModule

        datamodule = SketchPairsDataModule(cfg.data.data_dir, record["train_obj_ids"], cfg.pairs_dir, cfg.model.loader, sdf_points=sdf_points, seed=cfg.seed)
    else:
        datamodule = SketchCodeDataModule(cfg.data.data_dir, record["train_obj_ids"], cfg.model.loader, sdf_points=sdf_points, seed=cfg.seed)
    module = SketchEncoderModule(
        net=cfg.model.net, deepsdf=record, loss=loss, optimizer=cfg.model.optimizer, scheduler=cfg.model.scheduler,
        augment=cfg.model.augment, data_name=cfg.data.name, seed=cfg.seed,
    )
    module.set_codes(deepsdf.latents.weight)
    module.attach_decoder(deepsdf.decoder)  # SDF loss term and unseen-shape validation; not checkpointed
    trainer = build_trainer(cfg)
    trainer.fit(module, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    checkpoint = trainer.checkpoint_callback
    last = None
    if checkpoint is not None:
        last = checkpoint.last_model_path or checkpoint.best_model_path
        log.info("last checkpoint: %s", last)
        print(f"checkpoint: {last}")

    from sketch2shape.eval.sketch_encoder_eval import save_encoder_training_curve

    curve = save_encoder_training_curve(cfg.paths.output_dir)
    if curve is not None:
        log.info("training curve: %s", curve)
    if cfg.final_eval.enabled:
        final_eval(cfg, module, deepsdf, last)


def final_eval(cfg, module, deepsdf, ckpt_path) -> None:
    """Chamfer of the decoded codes of ``final_eval.split`` shapes' sketches, and of the mean code."""
    from pathlib import Path

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
    from sketch2shape.eval.sketch_encoder_eval import (
        evaluate_encoder_codes,
        summarize,
        write_table,
    )
    from sketch2shape.models.sketch_encoder_module import load_sketch_encoder
    from sketch2shape.optimize.reconstruct import save_reconstruction_pictures
    from sketch2shape.utils.device import resolve_device

    device = resolve_device(cfg.device)
    encoder = load_sketch_encoder(ckpt_path, device) if ckpt_path else module.net.eval().to(device)
    deepsdf = deepsdf.to(device)
    encoder.check_compatible(deepsdf, cfg.data.name)
    layout = DatasetLayout.from_config(cfg.data)
    obj_ids = obj_ids_of(read_metainfo(layout.metainfo), cfg.final_eval.split)
    if not obj_ids:
        log.warning("final_eval: no shapes in split %s of %s; skipped", cfg.final_eval.split, layout.metainfo)
        return
    table, recons = evaluate_encoder_codes(
        encoder, deepsdf, layout, obj_ids, list(cfg.final_eval.views),
        cfg.final_eval.mesh_resolution, cfg.final_eval.chamfer_points,
    )
    out = Path(cfg.paths.output_dir)
    write_table(out / "final_eval.csv", table)
    summary = summarize(table)
    write_table(out / "final_eval_summary.csv", summary)
    save_reconstruction_pictures(out, layout, recons)
    for row in summary.itertuples():
        log.info(
            "final_eval %s (%s, views %s): chamfer x1000 mean %.3f median %.3f, F-score %.3f over %d",
            row.method, cfg.final_eval.split, list(cfg.final_eval.views), row.chamfer_x1000_mean,
            row.chamfer_x1000_median, row.fscore_mean, row.count,
        )


if __name__ == "__main__":
    main()
