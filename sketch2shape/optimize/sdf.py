"""``optimize_deepsdf``: latent codes from SDF samples (the README's five modes)."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import read_metainfo
from sketch2shape.data.sdf_dataset import load_sdf_samples
from sketch2shape.optimize.latent import LatentOptimSettings, SDFObjective
from sketch2shape.optimize.reconstruct import (
    MeshSettings,
    as_bool,
    describe,
    load_deepsdf,
    run_reconstructions,
    save_reconstruction_pictures,
    select_shapes,
)
from sketch2shape.utils.device import resolve_device
from sketch2shape.utils.training import save_config

log = logging.getLogger(__name__)


def start_latent_fn(model, prior_idx: bool, split: str, data_name: str):
    """The start code of each shape: its learned code (prior_idx, train split) or the mean code."""
    if prior_idx:
        if split != "train":
            raise ValueError(f"prior_idx=True uses learned codes, which only train shapes have; got split={split!r}")
        trained_on = model.hparams.get("data_name")
        if trained_on and trained_on != data_name:
            raise ValueError(f"prior_idx=True: the checkpoint was trained on data={trained_on}, not data={data_name}")
        return lambda obj_id: model.latent_of(obj_id).clone()
    mean = model.mean_latent()
    return lambda obj_id: mean.clone()


def optimize_deepsdf(cfg) -> str:
    L.seed_everything(cfg.seed)
    device = resolve_device(cfg.device)
    out_dir = Path(cfg.paths.output_dir)
    save_config(cfg, out_dir)
    layout = DatasetLayout.from_config(cfg.data)
    split, obj_ids = select_shapes(read_metainfo(layout.metainfo), cfg.split, cfg.obj_ids, layout.metainfo)
    model = load_deepsdf(cfg.ckpt_path, device)
    train = as_bool(cfg.train, "train")
    init_fn = start_latent_fn(model, as_bool(cfg.prior_idx, "prior_idx"), split, cfg.data.name)
    optim = cfg.optim

    def objective_fn(obj_id: str) -> SDFObjective:
        samples = load_sdf_samples(layout, obj_id).to(device)
        return SDFObjective(model.decoder, samples, optim.points_per_step, optim.clamp, seed=cfg.seed)

    table, recons = run_reconstructions(
        model, layout, split, obj_ids, init_fn, objective_fn if train else None,
        LatentOptimSettings.from_config(optim), MeshSettings.from_config(cfg.mesh), out_dir,
        save_meshes=as_bool(cfg.save_mesh, "save_mesh"), **cfg.metrics,
    )
    save_reconstruction_pictures(out_dir, layout, recons)
    return f"{describe(table, split)}; metrics in {out_dir / 'metrics.csv'}"
