"""``optimize_deepsdf``: latent codes from SDF samples (the README's five modes)."""

from __future__ import annotations

from sketch2shape.data.sdf_dataset import load_sdf_samples
from sketch2shape.optimize.latent import SDFObjective
from sketch2shape.optimize.reconstruct import ReconstructionRun, as_bool


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
    run = ReconstructionRun.from_config(cfg)
    model, optim = run.model, cfg.optim
    init_fn = start_latent_fn(model, as_bool(cfg.prior_idx, "prior_idx"), run.split, cfg.data.name)

    def objective_fn(obj_id: str) -> SDFObjective:
        samples = load_sdf_samples(run.layout, obj_id).to(run.device)
        return SDFObjective(model.decoder, samples, optim.points_per_step, optim.clamp, seed=cfg.seed)

    table, _ = run.run(init_fn, objective_fn if as_bool(cfg.train, "train") else None)
    return run.summary(table)
