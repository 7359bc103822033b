"""Sketch augmentations that mimic how people draw, on batches of torch images.

Images are float ``(B, C, H, W)`` in [0, 1]: sketches black (0) ink on white (1), normal maps
encoded ``(n + 1) / 2`` on white. Two kinds of changes:

* paired (:func:`paired_affine`, :func:`paired_flip`): the same rotation / scale / shift / mirror
  for a sketch and the normal map of its view, so pixel alignment between them is preserved;
* sketch only (:func:`stroke_thickness`, :func:`break_strokes`, :func:`drop_strokes`,
  :func:`jitter`, and a small :func:`random_affine`): thicker or thinner lines, gaps, missing
  strokes, wobbly lines and a slightly misplaced drawing.

All randomness comes from torch's global RNG (or an explicit ``generator``), so
``lightning.seed_everything`` makes a run reproducible. The batch is augmented in the training
process, not in loader workers: one vectorized call per batch is cheaper than per-image work
on a 2-core machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from sketch2shape.utils.config import check_keys, dataclass_kwargs, field_names, plain


def _uniform(shape: tuple[int, ...], low: float, high: float, generator: torch.Generator | None) -> Tensor:
    return torch.rand(shape, generator=generator) * (high - low) + low


def _chosen(batch: int, prob: float, generator: torch.Generator | None) -> Tensor:
    """(B,) bool: which samples get an augmentation applied with probability ``prob``."""
    return torch.rand(batch, generator=generator) < prob


def _warp_on_white(images: Tensor, grid: Tensor, mode: str = "bilinear") -> Tensor:
    # grid_sample pads with zeros: warp ink/foreground (1 - x) so what enters from outside is white.
    return 1.0 - F.grid_sample(1.0 - images, grid.to(images), mode=mode, padding_mode="zeros", align_corners=False)


def affine_thetas(
    batch: int,
    rotate_deg: float,
    scale: tuple[float, float],
    shift: float,
    prob: float,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """``(B, 2, 3)`` random similarity transforms for ``F.affine_grid`` and ``(B,)`` which are applied.

    ``shift`` is a fraction of the image size; rotation about the image center; identity where
    not chosen.
    """
    angle = torch.deg2rad(_uniform((batch,), -rotate_deg, rotate_deg, generator))
    factor = _uniform((batch,), float(scale[0]), float(scale[1]), generator)
    offset = _uniform((batch, 2), -2.0 * shift, 2.0 * shift, generator)  # grid units span 2 per image
    keep = ~_chosen(batch, prob, generator)
    angle[keep], factor[keep], offset[keep] = 0.0, 1.0, 0.0
    cos, sin = torch.cos(angle) / factor, torch.sin(angle) / factor  # the grid maps output -> input
    thetas = torch.stack([torch.stack([cos, -sin, offset[:, 0]], -1), torch.stack([sin, cos, offset[:, 1]], -1)], 1)
    return thetas, ~keep


def apply_affine(images: Tensor, thetas: Tensor, chosen: Tensor | None = None) -> Tensor:
    """Warp the ``chosen`` images (all if None); the others are returned bit-identical."""
    rows = torch.ones(len(images), dtype=torch.bool) if chosen is None else chosen
    if not rows.any():
        return images
    rows = rows.to(images.device)
    picked = images[rows]
    grid = F.affine_grid(thetas[rows.cpu()].to(images), list(picked.shape), align_corners=False)
    out = images.clone()
    out[rows] = _warp_on_white(picked, grid)
    return out


def random_affine(
    images: Tensor, rotate_deg: float, scale: tuple[float, float], shift: float, prob: float, generator=None
) -> Tensor:
    return apply_affine(images, *affine_thetas(images.shape[0], rotate_deg, scale, shift, prob, generator))


def paired_affine(
    sketches: Tensor, normals: Tensor, rotate_deg: float, scale, shift: float, prob: float, generator=None
) -> tuple[Tensor, Tensor]:
    """The same random similarity transform for each sketch and its normal map (stay aligned).

    Normal vectors are not rotated with the image: an in-plane rotation of a few degrees changes
    the encoded colors by less than the renderer's own shading differences.
    """
    thetas, chosen = affine_thetas(sketches.shape[0], rotate_deg, scale, shift, prob, generator)
    return apply_affine(sketches, thetas, chosen), apply_affine(normals, thetas, chosen)


def paired_flip(sketches: Tensor, normals: Tensor, prob: float, generator=None) -> tuple[Tensor, Tensor]:
    """Mirror chosen pairs left-right; the normal maps' x component (red) is negated to match."""
    chosen = _chosen(sketches.shape[0], prob, generator).to(sketches.device)
    if not chosen.any():
        return sketches, normals
    flipped = normals.flip(-1)
    foreground = (flipped < 1.0 - 1e-3).any(1, keepdim=True)
    red = torch.where(foreground, 1.0 - flipped[:, :1], flipped[:, :1])  # (n+1)/2 of -n_x is 1 - (n_x+1)/2
    flipped = torch.cat([red, flipped[:, 1:]], 1)
    pick = chosen[:, None, None, None]
    return torch.where(pick, sketches.flip(-1), sketches), torch.where(pick, flipped, normals)


def stroke_thickness(sketches: Tensor, max_radius: int, prob: float, min_radius: int = -1, generator=None) -> Tensor:
    """Thicker (dilate ink by 1..max_radius px) or, with ``min_radius=-1``, thinner (2x2 erosion) strokes.

    Thinning uses a 2x2 window, not 3x3: the synthetic strokes are only 2 px wide at 256 px and a
    3x3 erosion would delete them. Set ``min_radius=0`` at low load resolutions, where strokes are
    1 px and any erosion removes them.
    """
    if min_radius not in (-1, 0):
        raise ValueError(f"augment.thickness.min_radius={min_radius}; accepted: -1 (allow thinning), 0")
    batch = sketches.shape[0]
    chosen = _chosen(batch, prob, generator)
    radius = torch.randint(min_radius, max_radius + 1, (batch,), generator=generator)
    radius[~chosen] = 0
    ink = 1.0 - sketches
    out = ink.clone()
    for r in radius.unique().tolist():
        rows = (radius == r).to(ink.device)
        if r == 0:
            continue
        if r > 0:
            changed = F.max_pool2d(ink[rows], 2 * r + 1, stride=1, padding=r)
        else:
            changed = -F.max_pool2d(F.pad(-ink[rows], (0, 1, 0, 1), value=0.0), 2, stride=1)
        out[rows] = changed
    return 1.0 - out


def _blocky_noise(batch: int, size: tuple[int, int], cell: int, generator) -> Tensor:
    h, w = max(1, math.ceil(size[0] / cell)), max(1, math.ceil(size[1] / cell))
    noise = torch.rand((batch, 1, h, w), generator=generator)
    return F.interpolate(noise, scale_factor=cell, mode="nearest")[..., : size[0], : size[1]]


def break_strokes(sketches: Tensor, cell: int, fraction: tuple[float, float], prob: float, generator=None) -> Tensor:
    """Erase ink in random ``cell``-sized squares covering ``fraction`` of the image: broken lines."""
    batch = sketches.shape[0]
    drop = _uniform((batch, 1, 1, 1), float(fraction[0]), float(fraction[1]), generator)
    drop[~_chosen(batch, prob, generator)] = 0.0
    erase = _blocky_noise(batch, tuple(sketches.shape[-2:]), cell, generator) < drop
    return torch.where(erase.to(sketches.device), torch.ones_like(sketches), sketches)


def drop_strokes(sketches: Tensor, max_boxes: int, size: tuple[float, float], prob: float, generator=None) -> Tensor:
    """Erase everything in up to ``max_boxes`` rectangles (sides a ``size`` fraction): missing strokes."""
    batch, _, height, width = sketches.shape
    ys = torch.arange(height, dtype=torch.float32)[None, :, None] / height
    xs = torch.arange(width, dtype=torch.float32)[None, None, :] / width
    erase = torch.zeros((batch, height, width), dtype=torch.bool)
    chosen = _chosen(batch, prob, generator)
    counts = torch.randint(1, max(1, max_boxes) + 1, (batch,), generator=generator)
    for box in range(max(1, max_boxes)):
        sides = _uniform((batch, 2), float(size[0]), float(size[1]), generator)
        corner = torch.rand((batch, 2), generator=generator) * (1.0 - sides)
        active = chosen & (counts > box)
        inside = (
            (ys >= corner[:, 0, None, None]) & (ys < (corner[:, 0] + sides[:, 0])[:, None, None])
            & (xs >= corner[:, 1, None, None]) & (xs < (corner[:, 1] + sides[:, 1])[:, None, None])
        )
        erase |= inside & active[:, None, None]
    return torch.where(erase[:, None].to(sketches.device), torch.ones_like(sketches), sketches)


def jitter(sketches: Tensor, magnitude: float, grid: int, prob: float, generator=None) -> Tensor:
    """Warp by a smooth random displacement field (``magnitude`` as a fraction of the image): wobbly lines."""
    batch, _, height, width = sketches.shape
    chosen = _chosen(batch, prob, generator)
    coarse = torch.randn((batch, 2, grid, grid), generator=generator) * magnitude * 2.0  # grid units span 2
    count = int(chosen.sum())
    if count == 0:
        return sketches
    field = F.interpolate(coarse[chosen], size=(height, width), mode="bicubic", align_corners=True).permute(0, 2, 3, 1)
    identity = F.affine_grid(torch.eye(2, 3).expand(count, 2, 3), [count, 1, height, width], align_corners=False)
    rows = chosen.to(sketches.device)
    out = sketches.clone()
    out[rows] = _warp_on_white(sketches[rows], identity + field)
    return out


@dataclass
class AugmentSettings:
    """Probabilities and ranges of every augmentation (``augment:`` in ``sketch2shape/conf/model/siamese.yaml``)."""

    enabled: bool = True
    paired_affine: dict = field(default_factory=lambda: {"prob": 0.7, "rotate_deg": 8.0, "scale": [0.9, 1.1], "shift": 0.05})
    paired_flip: dict = field(default_factory=lambda: {"prob": 0.5})
    sketch_affine: dict = field(default_factory=lambda: {"prob": 0.5, "rotate_deg": 3.0, "scale": [0.96, 1.04], "shift": 0.02})
    thickness: dict = field(default_factory=lambda: {"prob": 0.6, "min_radius": -1, "max_radius": 2})
    breaks: dict = field(default_factory=lambda: {"prob": 0.5, "cell": 8, "fraction": [0.05, 0.25]})
    missing: dict = field(default_factory=lambda: {"prob": 0.3, "max_boxes": 2, "size": [0.1, 0.25]})
    jitter: dict = field(default_factory=lambda: {"prob": 0.5, "magnitude": 0.006, "grid": 6})

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None, where: str = "model.augment") -> AugmentSettings:
        """From an ``augment:`` node, each augmentation's mapping merged over its defaults; an
        unknown key, also inside an augmentation, raises :class:`~sketch2shape.utils.config.ConfigError`."""
        node = dataclass_kwargs(cls, node, where)
        defaults = cls()
        merged = {}
        for name in field_names(cls):
            default = getattr(defaults, name)
            value = node.get(name, default)
            if isinstance(default, dict):
                value = dict(plain(value) or {})
                check_keys(value, default, f"{where}.{name}")
                value = {**default, **value}
            merged[name] = value
        return cls(**merged)


class PairAugment:
    """Augment a training batch of aligned (sketch, normal map) pairs, see the module docstring."""

    def __init__(self, settings: AugmentSettings | Mapping[str, Any] | None = None) -> None:
        self.settings = settings if isinstance(settings, AugmentSettings) else AugmentSettings.from_config(settings)

    def __call__(self, sketches: Tensor, normals: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``sketches (B, 1, H, W)``, ``normals (B, 3, H, W)`` float in [0, 1] -> the same shapes."""
        s = self.settings
        if not s.enabled:
            return sketches, normals
        sketches, normals = paired_flip(sketches, normals, generator=generator, **s.paired_flip)
        sketches, normals = paired_affine(sketches, normals, generator=generator, **s.paired_affine)
        sketches = stroke_thickness(sketches, generator=generator, **s.thickness)
        sketches = break_strokes(sketches, generator=generator, **s.breaks)
        sketches = drop_strokes(sketches, generator=generator, **s.missing)
        sketches = jitter(sketches, generator=generator, **s.jitter)
        sketches = random_affine(sketches, generator=generator, **s.sketch_affine)
        return sketches.clamp(0.0, 1.0), normals.clamp(0.0, 1.0)  # interpolation can overshoot slightly


class SketchAugment:
    """The augmentations of :class:`PairAugment` for sketches without normal maps (sketch encoder).

    Exactly the same steps, order and random draws: the paired ones (mirror, similarity
    transform) move the sketch alone, since nothing has to stay aligned with it.
    """

    def __init__(self, settings: AugmentSettings | Mapping[str, Any] | None = None) -> None:
        self.pairs = PairAugment(settings)

    @property
    def settings(self) -> AugmentSettings:
        return self.pairs.settings

    def __call__(self, sketches: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """``sketches (B, 1, H, W)`` float in [0, 1] -> the same shape."""
        # A 1x1 white placeholder for the normal maps: the paired steps warp it at no cost.
        placeholder = sketches.new_ones((sketches.shape[0], 3, 1, 1))
        return self.pairs(sketches, placeholder, generator)[0]
