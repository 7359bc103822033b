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
from torch.nn import functional as F
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

    def forward_batched(self, codes: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
        """Signed distances (B, P) of B shapes with codes (B, D) at their points (B, P, 3): the
        shape-space interface the auto-decoder trains through (each code repeated per point)."""
        batch, count = points.shape[:2]
        latent = codes[:, None, :].expand(-1, count, -1).reshape(-1, codes.shape[-1])
        return self(latent, points.reshape(-1, 3)).reshape(batch, count)

    def field(self, latent: torch.Tensor) -> "LatentField":
        """The SDF of one shape, ``x -> forward(latent, x)``, with the code folded into biases
        (:class:`LatentField`): what a renderer or a mesher calls many times per latent code.

        Args:
            latent: (D,) or (1, D) one shape's code; gradients flow back to it (and to the
                weights, where they require them) through the field's evaluations.
        """
        return LatentField(self, latent)

    def flops_per_point(self) -> int:
        """Multiply-adds x 2 of one forward pass for one point (for throughput reports)."""
        total = 0
        for module in [*self.hidden, self.output]:
            weight = module.weight
            total += 2 * weight.shape[0] * weight.shape[1]
        return total


class LatentField:
    """``points (N, 3) -> (N,)`` signed distances of one shape: :class:`DeepSDFDecoder` with its
    latent code ``z`` folded in.

    The decoder's first layer and its skip layers see ``[..., z, x]``; their weight splits as
    ``W = [W_h, W_z, W_x]``, and ``W [h, z, x] + b = W_h h + W_x x + (W_z z + b)``. The bracket is
    the same for every point of one shape, so it is computed once here, with the weights (weight
    normalization applied once, not at every call), and each evaluation multiplies only the point
    and the hidden activations: about 10 % fewer multiply-adds with the shipped decoder, no
    (N, D) copy of the code per call, and no weight normalization per call (sphere tracing
    evaluates one code some 60 times per render). Values equal ``decoder(z, x)`` up to float
    rounding; gradients reach ``z`` through the folded biases (autograd sums them over the
    points) and the points' gradients (normals, double backward) are the decoder's.

    Build it from the code of the current optimization step (``decoder.field(latent)``) and drop
    it after the step: it holds that step's weights and autograd graph. Dropout is applied as in
    ``forward`` (the decoder's train/eval mode at call time).
    """

    def __init__(self, decoder: DeepSDFDecoder, latent: torch.Tensor) -> None:
        latent = latent.reshape(-1)
        if latent.shape[0] != decoder.latent_dim:
            raise ValueError(f"latent of shape {tuple(latent.shape)}: a field needs one code of {decoder.latent_dim} values")
        dim = decoder.latent_dim
        self.decoder = decoder
        self.layers: list[tuple[torch.Tensor, torch.Tensor, int]] = []  # (weight on [h, x], folded bias, width of h)
        self.code_weights: dict[int, torch.Tensor] = {}  # layer -> W_z (out, D): d folded bias / d code
        self.latent = latent
        for i, layer in enumerate(decoder.hidden):
            weight, bias = layer.weight, layer.bias  # a weight-normalized weight is computed here, once
            hidden = weight.shape[1] - dim - 3 if (i == 0 or i in decoder.skip_layers) else weight.shape[1]
            if hidden == weight.shape[1]:
                self.layers.append((weight, bias, hidden))
                continue
            folded = torch.addmv(bias, weight[:, hidden : hidden + dim], latent.to(weight.dtype))
            self.layers.append((torch.cat([weight[:, :hidden], weight[:, hidden + dim :]], dim=1), folded, hidden))
            self.code_weights[i] = weight[:, hidden : hidden + dim]
        self.output = (decoder.output.weight, decoder.output.bias)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        """Signed distances (N,) at ``points`` (N, 3), as ``decoder(latent, points)``."""
        return self._forward(points)

    def _dropout(self) -> nn.Module | None:
        """The decoder's dropout where it acts (training mode, a rate above 0), else None."""
        return self.decoder.dropout if self.decoder.training and not isinstance(self.decoder.dropout, nn.Identity) else None

    def _forward(self, points: torch.Tensor, biases: dict[int, torch.Tensor] | None = None) -> torch.Tensor:
        """The MLP on ``points`` (N, 3); ``biases``: layer -> a bias that replaces the folded one
        there (``linearized``'s per-point (N, out) leaves)."""
        dropout = self._dropout()
        in_place = not torch.is_grad_enabled()  # (marching) no graph that would need the activations
        x = points
        for i, (weight, bias, hidden) in enumerate(self.layers):
            if i > 0 and hidden != weight.shape[1]:
                x = torch.cat([x, points], dim=-1)
            x = F.linear(x, weight) + biases[i] if biases and i in biases else F.linear(x, weight, bias)
            x = x.relu_() if in_place else torch.relu(x)
            if dropout is not None:
                x = dropout(x)
        out = F.linear(x, *self.output).squeeze(-1)
        return torch.tanh(out) if self.decoder.tanh_output else out

    def linearized(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Signed distances (N,) at ``points`` (N, 3) and their gradients ``grad_x f`` (N, 3), from
        one forward and one backward pass, or None where that does not apply (weights that require
        gradients, or dropout in training mode: then evaluate with gradients as usual).

        The distances carry the code's gradient exactly, as a linear map: the same backward pass
        that gives ``grad_x f`` gives, per point, the gradients of the folded biases, whose
        product with ``W_z`` is the Jacobian ``J = d f / d z`` (N, D); the returned values are
        ``f + J (z - z)`` (equal to ``f``, gradient ``J``). A renderer that needs both the normals
        at its hit points and the hits' gradient to the code (implicit differentiation) thus
        runs the decoder backward over the hits once instead of twice. The points' values carry
        no gradient to ``points``.
        """
        if any(p.requires_grad for p in self.decoder.parameters()) or self._dropout() is not None:
            return None
        n = len(points)
        with torch.enable_grad():  # frozen weights: the graph runs to the points and the per-point biases only
            x0 = points.detach().requires_grad_(True)
            per_point = {i: self.layers[i][1].detach().expand(n, -1).clone().requires_grad_(True) for i in self.code_weights}
            out = self._forward(x0, per_point)
            grads = torch.autograd.grad(out.sum(), [x0, *per_point.values()])
        jacobian = sum(g @ self.code_weights[i].detach() for i, g in zip(per_point, grads[1:]))  # (N, D)
        latent = self.latent.to(jacobian.dtype)
        value = out.detach() + (jacobian * (latent - latent.detach())).sum(-1) if latent.requires_grad else out.detach()
        return value, grads[0]


def sdf_field(decoder, latent: torch.Tensor):
    """``points (N, 3) -> (N,)``: the SDF of the shape with code ``latent`` (D,) under ``decoder``.

    ``decoder.field(latent)`` (:class:`LatentField`, the code folded in once) where the decoder has
    one, else ``lambda points: decoder(latent, points)`` (any ``(latent, points) -> sdf`` module,
    e.g. the analytic decoders of the tests). Build it once per latent code, e.g. per
    optimization step, and pass it to the renderer or the mesher.
    """
    field = getattr(decoder, "field", None)
    return field(latent) if callable(field) else (lambda points: decoder(latent, points))
