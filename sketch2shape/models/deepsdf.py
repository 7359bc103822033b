"""The DeepSDF decoder (Park et al., CVPR 2019): f(z, x) -> signed distance.

An MLP over the concatenation ``[z, x]`` of a shape's latent code ``z`` (D,) and a query point
``x`` (3,) in the normalized frame (shape inside the unit sphere). The input is concatenated
again to the activations of the ``skip_layers`` (the paper re-injects it at layer 4), hidden
layers use weight normalization, ReLU and dropout, and the output passes through ``tanh`` because
the training loss only looks at distances clamped to a small band around the surface.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm as weight_norm_param


class DeepSDFDecoder(nn.Module):
    def __init__(
        self,
        latent_dim: int = 256,
        hidden_dim: int = 512,
        num_layers: int = 8,
        skip_layers: Sequence[int] = (4,),
        dropout: float = 0.2,
        weight_norm: bool = True,
        tanh_output: bool = True,
    ) -> None:
        """
        Args:
            latent_dim: size D of a shape code.
            hidden_dim: width of every hidden layer.
            num_layers: number of hidden layers (the output layer comes on top).
            skip_layers: indices (0-based, < num_layers) of hidden layers whose input is
                ``[previous activations, z, x]``; the previous layer is narrowed so that the
                width stays ``hidden_dim``, as in the paper.
        """
        super().__init__()
        if any(not 0 < i < num_layers for i in skip_layers):
            raise ValueError(f"skip_layers={list(skip_layers)} must lie in 1..{num_layers - 1}")
        self.latent_dim = latent_dim
        self.skip_layers = tuple(int(i) for i in skip_layers)
        in_dim = latent_dim + 3
        layers = []
        for i in range(num_layers):
            layer_in = in_dim if i == 0 else hidden_dim
            layer_out = hidden_dim - in_dim if i + 1 in self.skip_layers else hidden_dim
            linear = nn.Linear(layer_in, layer_out)
            layers.append(weight_norm_param(linear) if weight_norm else linear)
        self.hidden = nn.ModuleList(layers)
        self.output = nn.Linear(hidden_dim, 1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.tanh_output = tanh_output

    def forward(self, latent: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Signed distances.

        Args:
            latent: (N, D) one code per point, or (D,) / (1, D) shared by all points.
            points: (N, 3) query points.
        Returns:
            (N,) predicted signed distance (negative inside).
        """
        if latent.dim() == 1:
            latent = latent[None]
        if latent.shape[0] == 1 and points.shape[0] != 1:
            latent = latent.expand(points.shape[0], -1)
        inputs = torch.cat([latent, points], dim=-1)
        x = inputs
        for i, layer in enumerate(self.hidden):
            if i in self.skip_layers:
                x = torch.cat([x, inputs], dim=-1)
            x = self.dropout(torch.relu(layer(x)))
        out = self.output(x).squeeze(-1)
        return torch.tanh(out) if self.tanh_output else out

    def flops_per_point(self) -> int:
        """Multiply-adds x 2 of one forward pass for one point (for throughput reports)."""
        total = 0
        for module in [*self.hidden, self.output]:
            weight = module.weight
            total += 2 * weight.shape[0] * weight.shape[1]
        return total
