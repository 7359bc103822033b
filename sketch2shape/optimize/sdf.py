"""``optimize_deepsdf``: latent codes from SDF samples (the README's five modes)."""

from __future__ import annotations

import torch

from sketch2shape.data.sdf_dataset import load_sdf_samples
from sketch2shape.models.shape_space import ShapeSpace, clamped_l1
from sketch2shape.optimize.latent import SDF_OPTIM_KEYS, LatentOptimSettings, SDFObjective
from sketch2shape.optimize.reconstruct import LatentMethod, ReconstructionRun
from sketch2shape.utils.config import as_bool

# auto: the mean code on the train split (the README's mode 2 measures optimization from the mean
# code), the nearest training code on val/test shapes.
INIT_MODES = ("auto", "mean", "nearest")


@torch.no_grad()
def nearest_training_code(model: ShapeSpace, samples: torch.Tensor, points: int = 8000, clamp: float = 0.1, seed: int = 0, exclude: str | None = None,
                          chunk: int = 32) -> str:
    """The training shape whose learned code best explains a shape's SDF samples.

    Every learned code is scored by the clamped L1 of the decoder on the same seeded subset of
    ``points`` of ``samples`` (N, 4); the lowest wins. ``exclude`` leaves one training shape out
    (its own code, when the shape is a training shape).

    Why: with few training shapes the mean code lies between very different chairs, and gradient
    descent from it stalls in a blend; starting from the closest learned shape it only has to move
    a short way (on the procedural val chairs: chamfer x1000 mean 10.1 -> 3.2, see the README).

    The codes are scored ``chunk`` at a time (``decoder.forward_batched``: a triplane decoder
    decodes a chunk's planes in one pass), without gradients (the decorator): one code at a time took about 4
    minutes per shape against 4,443 triplane codes on 2 busy CPU cores.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    subset = samples[torch.randperm(len(samples), generator=generator)[: min(points, len(samples))].to(samples.device)]
    rows = [row for row, obj_id in enumerate(model.train_obj_ids) if obj_id != exclude]
    if not rows:
        raise ValueError("init=nearest needs at least one training code other than the shape itself")
    codes = model.latents.weight.detach()
    losses = []
    for start in range(0, len(rows), chunk):
        batch = codes[rows[start : start + chunk]]  # (B, D)
        pred = model.decoder.forward_batched(batch, subset[None, :, :3].expand(len(batch), -1, -1))  # (B, P)
        losses.append(clamped_l1(pred, subset[None, :, 3], clamp, dim=1))
    return model.train_obj_ids[rows[int(torch.cat(losses).argmin())]]


def start_latent_fn(model, prior_idx: bool, split: str, data_name: str, init: str = "mean", samples_of=None, init_points: int = 8000, seed: int = 0):
    """The start code of each shape: its learned code (prior_idx), the mean code, or the nearest training code."""
    if init not in INIT_MODES:
        raise ValueError(f"init={init!r}; accepted: {', '.join(INIT_MODES)}")
    if prior_idx:
        if split != "train":
            raise ValueError(f"prior_idx=True uses learned codes, which only train shapes have; got split={split!r}")
        trained_on = model.hparams.get("data_name")
        if trained_on and trained_on != data_name:
            raise ValueError(f"prior_idx=True: the checkpoint was trained on data={trained_on}, not data={data_name}")
        return lambda obj_id: model.latent_of(obj_id).clone()
    if init == "nearest" or (init == "auto" and split != "train"):
        if samples_of is None:
            raise ValueError("init=nearest needs the shapes' SDF samples")

        def nearest(obj_id: str) -> torch.Tensor:
            chosen = nearest_training_code(model, samples_of(obj_id), init_points, model.hparams.get("clamp", 0.1), seed, exclude=obj_id)
            return model.latent_of(chosen).clone()

        return nearest
    mean = model.mean_latent()
    return lambda obj_id: mean.clone()


def sdf_method(name: str, init: str, init_points: int, optim_node, *, run: ReconstructionRun, prior_idx: bool = False, split: str = "val",
               seed: int = 0, optimize: bool = True, where: str = "") -> LatentMethod:
    """ShapeSpace's inference as ``optimize_deepsdf`` and the comparison's ``deepsdf`` method run it:
    :class:`SDFObjective` on the shape's SDF samples (``optim_node``: the
    :class:`LatentOptimSettings` plus ``points_per_step`` and ``clamp``) from the start code of
    :func:`start_latent_fn` (``init``: auto | mean | nearest; ``prior_idx``: the shape's own learned
    code). Raises :class:`~sketch2shape.utils.config.ConfigError` / ``ValueError`` naming ``where``."""
    prefix = f"{where}." if where else ""
    optim = LatentOptimSettings.from_config(optim_node, f"{prefix}optim", SDF_OPTIM_KEYS)
    model = run.model

    def samples_of(obj_id: str) -> torch.Tensor:
        return load_sdf_samples(run.layout, obj_id).to(run.device)

    start = start_latent_fn(model, prior_idx, split, run.cfg.data.name, init, samples_of, int(init_points), int(seed))

    def objective(obj_id: str) -> SDFObjective:
        return SDFObjective(model.decoder, samples_of(obj_id), int(optim_node["points_per_step"]), float(optim_node.get("clamp", 0.1)), seed=int(seed))

    return LatentMethod(name, start, objective if optimize else None, optim)


def optimize_deepsdf(cfg) -> str:
    """The ``optimize_deepsdf`` task (the README's five modes): :func:`sdf_method` on every selected shape."""
    run = ReconstructionRun.from_config(cfg, optim_extra=SDF_OPTIM_KEYS)
    init = str(cfg.get("init", "auto"))
    method = sdf_method("optimize_deepsdf", init, int(cfg.get("init_points", 8000)), cfg.optim, run=run, prior_idx=as_bool(cfg.prior_idx, "prior_idx"),
                        split=run.split, seed=int(cfg.seed), optimize=as_bool(cfg.train, "train"))
    table, _ = run.run(method)
    return run.summary(table, f" (init={init})")
