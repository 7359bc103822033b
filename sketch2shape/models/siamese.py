"""A learned distance between sketches and normal maps: two CNN branches, one embedding space.

Image conventions (the same as the preprocessing and the renderer, see ``sketch2shape.render``):

* sketches: float ``(B, 1, H, W)`` or ``(B, 3, H, W)`` in [0, 1], black (0) strokes on white (1);
* normal maps: float ``(B, 3, H, W)`` in [0, 1], camera-space normals encoded ``(n + 1) / 2``,
  white (1, 1, 1) background.

Any ``H, W`` is accepted: :meth:`SiameseNet.embed_sketch` / :meth:`SiameseNet.embed_normal`
resize to the network resolution themselves (area averaging when shrinking, which keeps thin
strokes as gray lines instead of dropping them), so callers pass 256x256 images directly. By
default the normal branch first turns the normal map into a soft line drawing
(:func:`normal_edges`), and both branches share one encoder.
Embeddings are L2-normalized ``(B, D)``; :meth:`SiameseNet.distance` is ``1 - cosine`` in [0, 2].

Everything in ``embed_normal`` is differentiable w.r.t. the input image: the sketch optimizer
backpropagates ``distance(sketch, rendered normal map)`` into a shape's latent code.

The encoders are swappable: ``SiameseNet(encoder={"_target_": "pkg.Class", ...})`` builds any
callable ``f(in_channels=C, **kwargs) -> nn.Module`` whose module maps ``(B, C, S, S)`` to
``(B, F)`` and has an ``out_features`` attribute (``F``). :class:`ResNetEncoder` is the default,
trained from scratch; :class:`TorchvisionEncoder` wraps a (pretrained) torchvision ResNet where
torchvision is installed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

NORMS = ("group", "batch")


def _norm(kind: str, channels: int, groups: int) -> nn.Module:
    if kind == "group":
        # GroupNorm: an embedding never depends on what else is in the batch, and train/eval mode
        # give the same output, which the sketch optimizer (batch of one) relies on.
        return nn.GroupNorm(min(groups, channels), channels)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"norm={kind!r} is not a normalization; accepted: {', '.join(NORMS)}")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18 style)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, norm: str, groups: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.norm1 = _norm(norm, out_channels, groups)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.norm2 = _norm(norm, out_channels, groups)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), _norm(norm, out_channels, groups)
            )

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.norm1(self.conv1(x)), inplace=True)
        out = self.norm2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class ResNetEncoder(nn.Module):
    """A compact ResNet: strided stem, one stage per width (each halves the resolution), pooling.

    ``(B, in_channels, S, S) -> (B, out_features)`` with ``out_features = widths[-1] * pool_size**2``.
    ``pool_size > 1`` keeps a coarse spatial layout (where the back / the legs are) instead of
    averaging it away, which helps telling apart shapes seen from the same view.
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] | list[int] = (32, 64, 128, 256),
        blocks: tuple[int, ...] | list[int] = (1, 1, 1, 1),
        stem_kernel: int = 5,
        norm: str = "group",
        groups: int = 8,
        pool_size: int = 1,
    ) -> None:
        super().__init__()
        widths, blocks = list(widths), list(blocks)
        if len(widths) != len(blocks) or not widths:
            raise ValueError(f"widths={widths} and blocks={blocks} must be non-empty lists of the same length")
        _norm(norm, widths[0], groups)  # validates `norm` before building anything
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], stem_kernel, 2, stem_kernel // 2, bias=False),
            _norm(norm, widths[0], groups),
            nn.ReLU(inplace=True),
        )
        stages, channels = [], widths[0]
        for index, (width, count) in enumerate(zip(widths, blocks)):
            layers = []
            for block in range(count):
                stride = 2 if index > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, width, stride, norm, groups))
                channels = width
            stages.append(nn.Sequential(*layers))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.AdaptiveAvgPool2d(pool_size)
        self.out_features = channels * pool_size * pool_size
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        for module in self.modules():
            # Zero the last norm of each residual branch: every block starts as the identity,
            # which makes training from scratch stable with small batches.
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.norm2.weight)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.stages(self.stem(x))).flatten(1)


class TorchvisionEncoder(nn.Module):
    """A torchvision ResNet trunk (optionally pretrained) as an encoder; needs ``torchvision``.

    Not installable beside this project's torch build here; provided so a user who has it can
    write ``encoder: {_target_: sketch2shape.models.siamese.TorchvisionEncoder, arch: resnet18,
    weights: IMAGENET1K_V1}`` in ``sketch2shape/conf/model/siamese.yaml``.
    """

    def __init__(self, in_channels: int = 3, arch: str = "resnet18", weights: str | None = None) -> None:
        super().__init__()
        try:
            import torchvision
        except ImportError as err:  # pragma: no cover - torchvision is not installed in CI
            raise ImportError(
                "encoder TorchvisionEncoder needs torchvision (pip install torchvision matching your torch); "
                "use sketch2shape.models.siamese.ResNetEncoder otherwise"
            ) from err
        net = getattr(torchvision.models, arch)(weights=weights)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, net.conv1.out_channels, 7, 2, 3, bias=False)
        self.out_features = net.fc.in_features
        net.fc = nn.Identity()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def _locate(target: str) -> Any:
    """The object a dotted ``_target_`` names (``package.module.Name``), imported with importlib
    (not Hydra's locator: loading a model for inference stays free of the config stack)."""
    import importlib

    module, _, name = str(target).rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as err:
        raise ValueError(
            f"encoder _target_={target!r} cannot be imported; e.g. sketch2shape.models.siamese.ResNetEncoder"
        ) from err


def build_encoder(spec: Mapping[str, Any], in_channels: int) -> nn.Module:
    """Instantiate ``spec`` (a ``_target_`` plus keyword arguments) for ``in_channels`` inputs."""
    spec = dict(spec)
    target = spec.pop("_target_", None)
    if target is None:
        raise ValueError(f"encoder spec {spec} has no _target_; e.g. sketch2shape.models.siamese.ResNetEncoder")
    encoder = _locate(str(target))(in_channels=in_channels, **spec)
    if not isinstance(getattr(encoder, "out_features", None), int):
        raise TypeError(f"encoder {target} must have an integer attribute out_features (its output width)")
    return encoder


def check_images(images: Tensor, what: str) -> None:
    """Raise unless ``images`` is a float batch ``(B, 1 or 3, H, W)``; ``what`` names it in the error."""
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"{what} images must be (B, 1 or 3, H, W), got shape {tuple(images.shape)}")
    if not images.is_floating_point():
        raise TypeError(f"{what} images must be float in [0, 1], got {images.dtype} (divide uint8 by 255)")


def resize_square(images: Tensor, size: int) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, C, size, size)``: area averaging when shrinking, bilinear otherwise."""
    target = (int(size), int(size))
    if tuple(images.shape[-2:]) != target:
        shrink = images.shape[-2] >= target[0] and images.shape[-1] >= target[1]
        images = F.interpolate(images, size=target, mode="area") if shrink else F.interpolate(
            images, size=target, mode="bilinear", align_corners=False, antialias=False
        )
    return images


def sketch_ink(images: Tensor, size: int) -> Tensor:
    """Sketches ``(B, 1|3, H, W)`` float in [0, 1], black ink on white -> ``(B, 1, size, size)`` with
    ink = 1 and paper = 0 (so zero padding looks like paper); any ``H, W`` (:func:`resize_square`).

    The sketch preprocessing of every network that reads sketches (Siamese, sketch encoder).
    """
    check_images(images, "sketch")
    ink = 1.0 - (images if images.shape[1] == 1 else images.mean(1, keepdim=True))
    return resize_square(ink, size)


DEFAULT_ENCODER = {"_target_": f"{__name__}.ResNetEncoder"}
NORMAL_INPUTS = ("edges", "rgb", "rgb_edges")


def normal_edges(images: Tensor, gain: float = 4.0) -> Tensor:
    """Soft line drawing ``(B, 1, H, W)`` in [0, 1) (1 = ink) of normal maps ``(B, 3, H, W)``.

    ``tanh(gain * |central difference|)`` over the encoded normals: silhouettes (normal vs white)
    and creases (normals turning) become 2-px lines like the synthetic sketches' strokes, smooth
    surfaces stay nearly blank. Smooth (no threshold), so gradients reach every pixel.
    """
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    dx = padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]
    dy = padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]
    magnitude = torch.sqrt((dx * dx + dy * dy).sum(1, keepdim=True) * 0.25 + 1e-8)
    return torch.tanh(gain * magnitude)


class SiameseNet(nn.Module):
    """Sketch and normal-map branches mapping into one L2-normalized embedding space.

    ``normal_input`` is what the normal branch sees: ``edges`` (default) a soft line drawing of
    the normal map (:func:`normal_edges`, 1 channel), ``rgb`` the encoded normals (3 channels),
    ``rgb_edges`` both (4 channels). With ``edges`` both branches see ink-on-paper images, so
    ``share_weights=True`` (one encoder and head for both) is a true Siamese network and even the
    untrained network compares drawings sensibly; this trains much faster from scratch than
    learning the normals-to-lines mapping. ``share_weights=False`` gives each branch its own weights.
    """

    def __init__(
        self,
        encoder: Mapping[str, Any] | None = None,
        embedding_dim: int = 128,
        image_size: int = 128,
        share_weights: bool = True,
        normal_input: str = "edges",
        edge_gain: float = 4.0,
    ) -> None:
        super().__init__()
        if normal_input not in NORMAL_INPUTS:
            raise ValueError(f"normal_input={normal_input!r}; accepted: {', '.join(NORMAL_INPUTS)}")
        encoder = dict(encoder or DEFAULT_ENCODER)
        self.image_size = int(image_size)
        self.embedding_dim = int(embedding_dim)
        self.share_weights = bool(share_weights)
        self.normal_input = normal_input
        self.edge_gain = float(edge_gain)
        self.normal_channels = {"edges": 1, "rgb": 3, "rgb_edges": 4}[normal_input]
        if self.share_weights and self.normal_channels == 4:
            raise ValueError("share_weights=True needs normal_input edges or rgb (rgb_edges has 4 channels, sketches 1)")
        self.sketch_channels = self.normal_channels if self.share_weights else 1
        self.normal_encoder = build_encoder(encoder, self.normal_channels)
        self.normal_head = nn.Linear(self.normal_encoder.out_features, self.embedding_dim)
        if self.share_weights:
            self.sketch_encoder, self.sketch_head = self.normal_encoder, self.normal_head
        else:
            self.sketch_encoder = build_encoder(encoder, 1)
            self.sketch_head = nn.Linear(self.sketch_encoder.out_features, self.embedding_dim)

    @staticmethod
    def _check(images: Tensor, what: str) -> None:
        check_images(images, what)

    def resize(self, images: Tensor) -> Tensor:
        """``(B, C, H, W)`` -> ``(B, C, S, S)``: area averaging when shrinking, bilinear otherwise."""
        return resize_square(images, self.image_size)

    def prepare_sketch(self, images: Tensor) -> Tensor:
        """Sketches -> network input ``(B, sketch_channels, S, S)``, ink = 1 and paper = 0 (:func:`sketch_ink`)."""
        ink = sketch_ink(images, self.image_size)
        return ink if self.sketch_channels == 1 else ink.repeat(1, self.sketch_channels, 1, 1)

    def prepare_normal(self, images: Tensor) -> Tensor:
        """Normal maps -> network input ``(B, normal_channels, S, S)``; background 0 (see ``normal_input``)."""
        self._check(images, "normal map")
        if images.shape[1] != 3:
            raise ValueError(f"normal maps must have 3 channels (B, 3, H, W), got shape {tuple(images.shape)}")
        parts = []
        if self.normal_input in ("edges", "rgb_edges"):
            parts.append(normal_edges(images, self.edge_gain))  # at full resolution: 2-px lines like strokes
        if self.normal_input in ("rgb", "rgb_edges"):
            parts.append(1.0 - images)
        return self.resize(torch.cat(parts, 1) if len(parts) > 1 else parts[0])

    def embed_sketch(self, images: Tensor) -> Tensor:
        """Sketches ``(B, 1|3, H, W)`` in [0, 1], black strokes on white -> ``(B, D)`` unit vectors."""
        features = self.sketch_encoder(self.prepare_sketch(images))
        return F.normalize(self.sketch_head(features), dim=-1)

    def embed_normal(self, images: Tensor) -> Tensor:
        """Normal maps ``(B, 3, H, W)`` in [0, 1], white background -> ``(B, D)`` unit vectors.

        Differentiable w.r.t. ``images``.
        """
        features = self.normal_encoder(self.prepare_normal(images))
        return F.normalize(self.normal_head(features), dim=-1)

    @staticmethod
    def distance(sketch_emb: Tensor, normal_emb: Tensor) -> Tensor:
        """``1 - cosine`` between unit embeddings ``(..., D)`` (broadcast) -> ``(...)`` in [0, 2]."""
        return 1.0 - (sketch_emb * normal_emb).sum(-1)

    @staticmethod
    def pairwise_distance(sketch_emb: Tensor, normal_emb: Tensor) -> Tensor:
        """All pairs: ``(N, D)`` x ``(M, D)`` -> ``(N, M)``, same distance as :meth:`distance`."""
        return 1.0 - sketch_emb @ normal_emb.T

    def forward(self, sketches: Tensor, normals: Tensor) -> Tensor:
        """``distance(embed_sketch(sketches), embed_normal(normals))`` per pair ``(B,)``."""
        return self.distance(self.embed_sketch(sketches), self.embed_normal(normals))


def untrained_net(net_kwargs: Mapping[str, Any], seed: int = 0) -> SiameseNet:
    """A :class:`SiameseNet` with ``net_kwargs`` and fresh seeded weights (the "untrained" baseline).

    Uses its own RNG stream, so building it does not change the global random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return SiameseNet(**dict(net_kwargs))
