"""A triplane auto-decoder: a shape's latent code is decoded once into three axis-aligned feature
planes, and a small MLP reads the signed distance of a point from the features at its three
projections.

    z (D,) --generator CNN--> planes (3, C, R, R) on the xy, xz and yz planes of [-1, 1]^3
    f(z, x) = tanh(MLP([F_xy(x_x, x_y), F_xz(x_x, x_z), F_yz(x_y, x_z), x]))

The factored feature field follows EG3D's tri-plane representation (Chan et al., "Efficient
Geometry-aware 3D Generative Adversarial Networks", CVPR 2022) and convolutional occupancy
networks (Peng et al., ECCV 2020); the code-to-planes generator makes it an auto-decoder in
DeepSDF's sense (Park et al., CVPR 2019): one code per training shape, learned jointly with the
network, and latent optimization for a new shape. Why it suits a CPU: the per-shape work (the
generator) is paid once per shape and step, and each point then costs four bilinear lookups per
plane and an MLP about ten times smaller than DeepSDF's, so a training step can supervise each
shape with thousands of SDF samples instead of hundreds, and thin parts (legs, slats) have a
feature cell of their own (2 / (R - 1) wide) instead of having to come out of one global MLP.

The interpolation is written with gathers (not ``grid_sample``), so the field is differentiable
twice in the points, as the sphere tracer's analytic normals need (``create_graph=True``).
Points outside [-1, 1]^3 read the planes' border (coordinates clamped).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

PLANE_AXES = ((0, 1), (0, 2), (1, 2))  # xy, xz, yz: (column axis, row axis) of each plane


def sample_planes(planes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear features of ``points`` from axis-aligned planes.

    Args:
        planes: (B, 3, C, R, R) features on a regular grid over [-1, 1]^2 per plane, grid corners
            at -1 and 1 (``align_corners=True``); plane k spans the axes :data:`PLANE_AXES` [k]
            (its last index runs along the first of them).
        points: (B, P, 3) in the normalized frame; coordinates are clamped to [-1, 1] (NaN to 0).
    Returns:
        (B, P, 3 * C): the three planes' features, concatenated in :data:`PLANE_AXES` order.
        Differentiable in ``planes`` and (any order) in ``points``.
    """
    batch, count, channels, res = planes.shape[0], points.shape[1], planes.shape[2], planes.shape[-1]
    table = planes.permute(0, 1, 3, 4, 2).reshape(-1, channels)  # (B * 3 * R * R, C)
    uv = torch.stack([points[..., list(axes)] for axes in PLANE_AXES], dim=1)  # (B, 3, P, 2)
    pix = (torch.nan_to_num(uv).clamp(-1.0, 1.0) + 1.0) * (0.5 * (res - 1))  # NaN reads the centre, not memory
    corner = pix.detach().floor().clamp(0, res - 2)
    frac = pix - corner  # (B, 3, P, 2) in [0, 1]
    corner = corner.long()
    base = (torch.arange(batch, device=points.device)[:, None, None] * 3 + torch.arange(3, device=points.device)[None, :, None]) * (res * res)
    index = base + corner[..., 1] * res + corner[..., 0]  # (B, 3, P): the (row, column) corner
    fu, fv = frac[..., 0:1], frac[..., 1:2]
    out = 0.0
    for drow, dcol, weight in ((0, 0, (1 - fu) * (1 - fv)), (0, 1, fu * (1 - fv)), (1, 0, (1 - fu) * fv), (1, 1, fu * fv)):
        values = table.index_select(0, (index + drow * res + dcol).reshape(-1)).reshape(batch, 3, count, channels)
        out = out + weight * values
    return out.permute(0, 2, 1, 3).reshape(batch, count, 3 * channels)


class PlaneGenerator(nn.Module):
    """A latent code (B, D) -> planes (B, 3, C, R, R): a linear layer to a ``base`` x ``base`` map,
    then (upsample x2, 3x3 conv, LeakyReLU) until ``resolution``, then a 1x1 conv to 3 C channels."""

    def __init__(self, latent_dim: int, channels: int, resolution: int, base: int = 8, width: int = 128) -> None:
        super().__init__()
        steps = int(round(math.log2(resolution / base)))
        if base * 2**steps != resolution or steps < 0:
            raise ValueError(f"resolution={resolution} must be base={base} times a power of two")
        self.channels, self.resolution, self.base, self.width = channels, resolution, base, width
        self.stem = nn.Linear(latent_dim, width * base * base)
        layers: list[nn.Module] = []
        dim = width
        for _ in range(steps):
            out = max(channels * 2, dim // 2 if dim > 64 else dim)
            layers += [nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.Conv2d(dim, out, 3, padding=1), nn.LeakyReLU(0.2)]
            dim = out
        self.body = nn.Sequential(*layers)
        self.head = nn.Conv2d(dim, 3 * channels, 1)

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.stem(latent), 0.2).reshape(-1, self.width, self.base, self.base)
        x = self.head(self.body(x))
        return x.reshape(-1, 3, self.channels, self.resolution, self.resolution)


class TriplaneDecoder(nn.Module):
    """``f(z, x) -> signed distance`` through feature planes decoded from ``z`` (module docstring).

    Same contract as :class:`~sketch2shape.models.deepsdf.DeepSDFDecoder`: ``forward(latent,
    points)``, ``forward_batched(codes, points)``, ``field(latent)`` and ``latent_dim``, so the
    auto-decoder module, latent optimization, meshing, traversal, the renderer and the sketch
    encoder's targets use either unchanged (``model=triplane``).
    """

    def __init__(
        self,
        latent_dim: int = 128,
        channels: int = 32,
        resolution: int = 32,
        base_resolution: int = 8,
        generator_width: int = 128,
        hidden_dim: int = 128,
        num_layers: int = 2,
        tanh_output: bool = True,
    ) -> None:
        """
        Args:
            latent_dim: size D of a shape code.
            channels: features C per plane.
            resolution: plane size R (grid points per side over [-1, 1]); ``base_resolution``
                times a power of two.
            generator_width: channels of the generator's first map.
            hidden_dim, num_layers: the point MLP (ReLU) on the 3 C features and the point.
        """
        super().__init__()
        self.latent_dim = int(latent_dim)
        self.generator = PlaneGenerator(latent_dim, channels, resolution, base_resolution, generator_width)
        layers, dim = [], 3 * channels + 3
        for _ in range(num_layers):
            layers += [nn.Linear(dim, hidden_dim), nn.ReLU(inplace=False)]
            dim = hidden_dim
        layers.append(nn.Linear(dim, 1))
        self.mlp = nn.Sequential(*layers)
        self.tanh_output = tanh_output

    def planes(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, D) codes -> (B, 3, C, R, R) feature planes."""
        return self.generator(codes)

    def read(self, planes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Signed distances (B, P) at ``points`` (B, P, 3) from ``planes`` (B, 3, C, R, R)."""
        features = sample_planes(planes, points)
        out = self.mlp(torch.cat([features, points], dim=-1)).squeeze(-1)
        return torch.tanh(out) if self.tanh_output else out

    def forward_batched(self, codes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Signed distances (B, P) of B shapes with codes (B, D) at their points (B, P, 3)."""
        return self.read(self.planes(codes), points)

    def forward(self, latent: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Signed distances (N,) at ``points`` (N, 3) for a code (D,) / (1, D) shared by all points,
        or one code per point (N, D) (grouped by distinct code, each decoded once)."""
        if latent.dim() == 1:
            latent = latent[None]
        if latent.shape[0] == 1:
            return self.forward_batched(latent, points[None])[0]
        # Group the rows by code (unique has no gradient: group on the values, decode the rows).
        codes, group = torch.unique(latent.detach(), dim=0, return_inverse=True)
        if len(codes) == 1:
            return self.forward_batched(latent[:1], points[None])[0]
        first = torch.full((len(codes),), len(group), dtype=torch.long, device=group.device).scatter_reduce(
            0, group, torch.arange(len(group), device=group.device), reduce="amin")
        planes = self.planes(latent[first])
        out = points.new_empty(len(points))
        for g in range(len(codes)):
            rows = (group == g).nonzero().squeeze(-1)
            out = out.index_put((rows,), self.read(planes[g : g + 1], points[rows][None])[0])
        return out

    def field(self, latent: torch.Tensor) -> "TriplaneField":
        """The SDF of one shape with its planes decoded once (:class:`TriplaneField`)."""
        return TriplaneField(self, latent)

    def flops_per_point(self) -> int:
        """Multiply-adds x 2 of the point MLP and the interpolation for one point (the generator's
        per-shape cost is not included)."""
        total = sum(2 * m.weight.shape[0] * m.weight.shape[1] for m in self.mlp if isinstance(m, nn.Linear))
        return total + 2 * 4 * 3 * self.generator.channels


class TriplaneField:
    """``points (N, 3) -> (N,)``: one shape's SDF under a :class:`TriplaneDecoder`, with the code
    decoded into planes once (the renderer and the mesher call it many times per code). Gradients
    reach the code through the planes, and the points (twice) through the interpolation weights.
    ``linearized`` is None (the renderer then differentiates the field itself)."""

    linearized = None

    def __init__(self, decoder: TriplaneDecoder, latent: torch.Tensor) -> None:
        latent = latent.reshape(-1)
        if latent.shape[0] != decoder.latent_dim:
            raise ValueError(f"latent of shape {tuple(latent.shape)}: a field needs one code of {decoder.latent_dim} values")
        self.decoder = decoder
        self.latent = latent
        self.planes = decoder.planes(latent[None].to(next(decoder.parameters()).dtype))

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distances (N,) at ``points`` (N, 3)."""
        return self.decoder.read(self.planes, points[None].to(self.planes.dtype))[0]
