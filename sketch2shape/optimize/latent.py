"""One latent-optimization loop for every objective (SDF samples, normal maps, sketches).

The decoder is frozen; only the code ``z`` is optimized with Adam, with a Gaussian prior
``prior_weight * ||z||^2`` that keeps it where the decoder was trained, and a step learning-rate
decay (DeepSDF's inference: 800 steps, lr 5e-3, divided by 10 halfway).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from sketch2shape.models.shape_space import clamped_l1
from sketch2shape.utils.config import dataclass_kwargs
from sketch2shape.utils.progress import progress_bar

# Keys of an ``optim:`` node that :class:`SDFObjective` reads (optimize_deepsdf), not the loop.
SDF_OPTIM_KEYS = ("points_per_step", "clamp")

# An objective maps (latent (D,), step) to named loss terms; "loss" is the one optimized.
Objective = Callable[[torch.Tensor, int], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class LatentOptimSettings:
    steps: int = 800
    lr: float = 5e-3
    lr_decay: float = 0.1
    lr_decay_every: int = 400
    prior_weight: float = 1e-4
    # Return the code with the lowest total loss seen (the start included) instead of the last one:
    # for deterministic objectives such as a sketch's Siamese distance, where a step can overshoot.
    keep_best: bool = False

    @classmethod
    def from_config(cls, node, where: str = "optim", extra: tuple[str, ...] = ()) -> "LatentOptimSettings":
        """From an ``optim:`` config node (``where`` names it in errors). A key that is no field
        raises :class:`~sketch2shape.utils.config.ConfigError`, except those in ``extra``: keys of
        the same node another reader uses (:data:`SDF_OPTIM_KEYS`)."""
        return cls(**dataclass_kwargs(cls, node, where, extra))


@dataclass
class LatentResult:
    latent: torch.Tensor  # (D,) detached
    history: list[dict[str, float]] = field(default_factory=list)  # per step: loss terms, prior, lr


def optimize_latent(
    objective: Objective,
    init: torch.Tensor,
    settings: LatentOptimSettings = LatentOptimSettings(),
    progress: bool = False,
    description: str = "optimize latent",
) -> LatentResult:
    """Minimize ``objective(z)["loss"] + prior_weight * ||z||^2`` over ``z`` from ``init`` (D,)."""
    latent = init.detach().clone().requires_grad_(True)
    optimizer = torch.optim.Adam([latent], lr=settings.lr)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(1, settings.lr_decay_every), gamma=settings.lr_decay)
    history: list[dict[str, float]] = []
    best_total, best_latent = float("inf"), latent.detach().clone()
    steps = range(settings.steps)
    for step in progress_bar(steps, desc=description, leave=False) if progress else steps:
        optimizer.zero_grad(set_to_none=True)
        terms = objective(latent, step)
        prior = settings.prior_weight * latent.pow(2).sum()
        total = terms["loss"] + prior
        if settings.keep_best and float(total.detach()) < best_total:
            best_total, best_latent = float(total.detach()), latent.detach().clone()
        total.backward()
        optimizer.step()
        scheduler.step()
        record = {name: float(value.detach()) for name, value in terms.items()}
        record.update(prior=float(prior.detach()), total=float(total.detach()), lr=optimizer.param_groups[0]["lr"])
        history.append(record)
    return LatentResult(latent=best_latent if settings.keep_best and history else latent.detach(), history=history)


class SDFObjective:
    """DeepSDF's inference objective: clamped L1 on random subsets of a shape's SDF samples."""

    def __init__(self, decoder: torch.nn.Module, samples: torch.Tensor, points_per_step: int = 8000, clamp: float = 0.1, seed: int = 0) -> None:
        """
        Args:
            decoder: frozen DeepSDF decoder ``(latent, points) -> sdf``.
            samples: (N, 4) xyz + sdf on the decoder's device.
        """
        self.decoder = decoder
        self.samples = samples
        self.points_per_step = min(int(points_per_step), len(samples))
        self.clamp = clamp
        self.generator = torch.Generator(device="cpu").manual_seed(seed)

    def __call__(self, latent: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
        index = torch.randint(len(self.samples), (self.points_per_step,), generator=self.generator).to(self.samples.device)
        batch = self.samples[index]
        return {"loss": clamped_l1(self.decoder(latent, batch[:, :3]), batch[:, 3], self.clamp)}
