"""The sketch encoder: a sketch image -> a DeepSDF latent code, in one forward pass.

It regresses the codes a DeepSDF checkpoint learned for its training shapes from those shapes'
synthetic sketches (all views, augmented like the Siamese training). Its output is a start code
for sketch optimization (``init=encoder``) or, decoded directly, a method of its own.

Input, as everywhere in this project (see ``sketch2shape.models.siamese``): float ``(B, 1, H, W)``
(or ``(B, 3, H, W)``, averaged to gray) in [0, 1], black (0) strokes on white (1), any ``H, W``;
the network inverts and resizes it itself exactly like the Siamese sketch branch
(:func:`sketch2shape.models.siamese.sketch_ink`, area averaging when shrinking).
Output: ``(B, D)`` codes, ``D`` the DeepSDF checkpoint's ``latent_dim``.

::

    from sketch2shape.models.sketch_encoder_module import load_sketch_encoder

    encoder = load_sketch_encoder("logs/train_sketch_encoder/runs/<time>/checkpoints/last.ckpt", "cpu")
    encoder.check_compatible(deepsdf, data_name="procedural_chair_16")  # same DeepSDF codes, same data
    codes = encoder.encode_sketch(sketches)  # (B, 1, H, W) in [0, 1] -> (B, D)

The training codes travel with the encoder (buffer ``codes``, rows in the order of
``deepsdf["train_obj_ids"]``), so neither loading nor encoding needs the DeepSDF checkpoint;
``deepsdf`` records which checkpoint they came from (path, file hash, hash of the code table,
``data_name``, ``latent_dim``) for :meth:`SketchEncoderNet.check_compatible`.

Two output heads (``output``):

* ``direct``: ``z = mean + scale * mlp(features)``, any point of the latent space;
* ``blend``: ``z = softmax(mlp(features) / temperature) @ codes``, a convex combination of the
  training codes (a soft nearest training shape: stays where the decoder was trained).

Both start at the mean training code (the last layer is zero-initialized).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from sketch2shape.models.siamese import build_encoder, sketch_ink

OUTPUTS = ("direct", "blend")
FRAMINGS = ("none", "ink_box")


def frame_ink(ink: Tensor, fill: float = 0.85, threshold: float = 0.2) -> Tensor:
    """Each ink image re-framed on its strokes: the bounding square of the ink, centred, filling
    ``fill`` of the frame (bilinear resampling, zero = paper outside).

    ``ink``: ``(B, 1, S, S)`` float, ink 1 on paper 0 (as :func:`sketch_ink` returns). Returns the
    same shape. Images with no pixel above ``threshold`` are returned unchanged. This makes a
    network's input independent of where on the page and how large a sketch was drawn (a user's
    drawing, a training sketch rendered from any camera distance), keeping its aspect ratio.
    """
    batch, _, height, width = ink.shape
    mask = ink[:, 0] > threshold  # (B, S, S)
    rows, cols = mask.any(2), mask.any(1)  # (B, S)
    empty = ~rows.any(1)
    index_y = torch.arange(height, device=ink.device).expand(batch, -1)
    index_x = torch.arange(width, device=ink.device).expand(batch, -1)
    y0 = torch.where(rows, index_y, height).amin(1).float()
    y1 = torch.where(rows, index_y, -1).amax(1).float()
    x0 = torch.where(cols, index_x, width).amin(1).float()
    x1 = torch.where(cols, index_x, -1).amax(1).float()
    # centres and half-size in normalized coordinates (align_corners=False: pixel i at (2i+1)/S - 1)
    cx = (x0 + x1 + 1.0) / width - 1.0
    cy = (y0 + y1 + 1.0) / height - 1.0
    half = torch.maximum((x1 - x0 + 1.0) / width, (y1 - y0 + 1.0) / height) / fill
    half = torch.where(empty, torch.ones_like(half), half.clamp_min(1e-3))
    cx, cy = torch.where(empty, torch.zeros_like(cx), cx), torch.where(empty, torch.zeros_like(cy), cy)
    theta = torch.zeros(batch, 2, 3, device=ink.device, dtype=ink.dtype)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = half, cx, half, cy
    grid = torch.nn.functional.affine_grid(theta, list(ink.shape), align_corners=False)
    return torch.nn.functional.grid_sample(ink, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

DEFAULT_ENCODER = {
    "_target_": "sketch2shape.models.siamese.ResNetEncoder",
    "widths": [32, 64, 128, 256],
    "blocks": [1, 1, 1, 1],
    "pool_size": 2,
}


def latents_fingerprint(codes: Tensor) -> str:
    """sha256 of a code table ``(K, D)`` as contiguous float32 bytes (device independent)."""
    array = np.ascontiguousarray(codes.detach().to("cpu", torch.float32).numpy())
    return hashlib.sha256(array.tobytes()).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def deepsdf_record(model: Any, ckpt_path: str | Path | None = None) -> dict[str, Any]:
    """What a sketch encoder stores about the DeepSDF checkpoint whose codes it regresses.

    ``model`` is a :class:`sketch2shape.models.deepsdf_module.DeepSDF`. Returns plain values:
    ``ckpt_path`` (absolute), ``ckpt_sha256``, ``latents_sha256`` (of the code table),
    ``data_name``, ``latent_dim``, ``num_codes``, ``train_obj_ids``.
    """
    codes = model.latents.weight
    return {
        "ckpt_path": str(Path(ckpt_path).resolve()) if ckpt_path else None,
        "ckpt_sha256": file_sha256(ckpt_path) if ckpt_path else None,
        "latents_sha256": latents_fingerprint(codes),
        "data_name": model.hparams.get("data_name"),
        "latent_dim": int(codes.shape[1]),
        "num_codes": int(codes.shape[0]),
        "train_obj_ids": [str(i) for i in model.train_obj_ids],
    }


def require_deepsdf_ckpt(value: str | Path | None) -> Path:
    """The ``deepsdf_ckpt_path`` config value as an existing file, or a clear error."""
    if not value:
        raise ValueError(
            "deepsdf_ckpt_path is required: the DeepSDF checkpoint whose training codes the sketch encoder learns, "
            "e.g. deepsdf_ckpt_path=logs/train_deepsdf/runs/<time>/checkpoints/last.ckpt (train one with scripts/train_deepsdf.py)"
        )
    path = Path(str(value))
    if not path.is_file():
        raise FileNotFoundError(f"deepsdf_ckpt_path={path} does not exist (train one with scripts/train_deepsdf.py)")
    return path


def check_deepsdf_data(model: Any, data_name: str) -> None:
    """The DeepSDF checkpoint must be trained on ``data_name`` and list its training shapes."""
    trained = model.hparams.get("data_name")
    if trained and trained != data_name:
        raise ValueError(f"deepsdf_ckpt_path: the DeepSDF checkpoint was trained on data={trained}, not data={data_name}; pass data={trained}")
    if not model.train_obj_ids:
        raise ValueError("deepsdf_ckpt_path: the DeepSDF checkpoint has no train_obj_ids (hyperparameter), so its codes cannot be matched to sketches")
    if len(model.train_obj_ids) != model.latents.weight.shape[0]:
        raise ValueError(
            f"deepsdf_ckpt_path: {len(model.train_obj_ids)} train_obj_ids but {model.latents.weight.shape[0]} latent codes"
        )


class SketchEncoderNet(nn.Module):
    """CNN (``encoder`` spec, default the Siamese :class:`ResNetEncoder`) + MLP head -> ``(B, D)`` codes.

    ``num_codes x latent_dim`` is the size of the training code table (buffer ``codes``, filled by
    :meth:`set_codes` or from a checkpoint); ``code_mean (D,)`` and ``code_scale ()`` (root of the
    mean per-dimension variance of the codes) are derived from it.
    """

    def __init__(
        self,
        latent_dim: int,
        num_codes: int,
        encoder: Mapping[str, Any] | None = None,
        image_size: int = 96,
        hidden_dim: int = 256,
        dropout: float = 0.1,
        output: str = "direct",
        blend_temperature: float = 1.0,
        deepsdf: Mapping[str, Any] | None = None,
        framing: str = "none",
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"sketch encoder output={output!r}; accepted: {', '.join(OUTPUTS)}")
        if framing not in FRAMINGS:
            raise ValueError(f"sketch encoder framing={framing!r}; accepted: {', '.join(FRAMINGS)}")
        self.framing = framing
        if latent_dim < 1 or num_codes < 1:
            raise ValueError(f"latent_dim={latent_dim} and num_codes={num_codes} must be positive")
        self.latent_dim, self.num_codes = int(latent_dim), int(num_codes)
        self.image_size = int(image_size)
        self.output = output
        self.blend_temperature = float(blend_temperature)
        self.deepsdf: dict[str, Any] = dict(deepsdf or {})  # see deepsdf_record; set from the checkpoint
        self.encoder = build_encoder(dict(encoder or DEFAULT_ENCODER), 1)
        out_dim = self.latent_dim if output == "direct" else self.num_codes
        self.head = nn.Sequential(
            nn.Linear(self.encoder.out_features, hidden_dim),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout) if dropout > 0 else nn.Identity(),
            nn.Linear(hidden_dim, out_dim),
        )
        nn.init.zeros_(self.head[-1].weight)  # start at the mean code (direct) / a uniform blend
        nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("codes", torch.zeros(self.num_codes, self.latent_dim))
        self.register_buffer("code_mean", torch.zeros(self.latent_dim))
        self.register_buffer("code_scale", torch.ones(()))

    @property
    def hparams(self) -> dict[str, Any]:
        """What callers check before decoding: ``data_name`` and ``latent_dim`` of the DeepSDF whose
        codes this encoder predicts, plus ``deepsdf_ckpt_path`` / ``latents_sha256`` (see ``deepsdf``)."""
        return {
            "data_name": self.deepsdf.get("data_name"),
            "latent_dim": self.latent_dim,
            "num_codes": self.num_codes,
            "deepsdf_ckpt_path": self.deepsdf.get("ckpt_path"),
            "latents_sha256": self.deepsdf.get("latents_sha256"),
            "output": self.output,
        }

    def set_codes(self, codes: Tensor) -> None:
        """Store the training code table ``(num_codes, latent_dim)`` and its mean / scale."""
        if tuple(codes.shape) != (self.num_codes, self.latent_dim):
            raise ValueError(f"codes have shape {tuple(codes.shape)}, the encoder was built for {(self.num_codes, self.latent_dim)}")
        codes = codes.detach().to(self.codes)
        self.codes.copy_(codes)
        self.code_mean.copy_(codes.mean(0))
        spread = codes.var(0, unbiased=False).mean().sqrt() if len(codes) > 1 else codes.new_tensor(1.0)
        self.code_scale.copy_(spread.clamp_min(1e-6))

    def prepare_sketch(self, images: Tensor) -> Tensor:
        """Sketches ``(B, 1|3, H, W)`` in [0, 1], ink 0 -> network input ``(B, 1, S, S)``, ink 1
        (re-framed on the strokes by :func:`frame_ink` when ``framing="ink_box"``)."""
        ink = sketch_ink(images, self.image_size)
        return frame_ink(ink) if self.framing == "ink_box" else ink

    def features(self, images: Tensor) -> Tensor:
        """The CNN's features ``(B, F)`` of sketches ``(B, 1|3, H, W)`` (a descriptor for retrieval)."""
        return self.encoder(self.prepare_sketch(images))

    def forward(self, images: Tensor) -> Tensor:
        """Sketches ``(B, 1|3, H, W)`` float in [0, 1], black on white, any ``H, W`` -> codes ``(B, D)``."""
        out = self.head(self.encoder(self.prepare_sketch(images)))
        if self.output == "direct":
            return self.code_mean + self.code_scale * out
        return torch.softmax(out / self.blend_temperature, dim=-1) @ self.codes

    def encode_sketch(self, images: Tensor) -> Tensor:
        """DeepSDF codes ``(B, D)`` of sketches ``(B, 1, H, W)`` float in [0, 1] (ink 0, paper 1), any ``H, W``.

        Images are moved to the encoder's device; the codes come back there. Call it on a net in
        eval mode (:func:`~sketch2shape.models.sketch_encoder_module.load_sketch_encoder` returns one) for deterministic codes; wrap it in
        ``torch.no_grad()`` unless gradients to the images are wanted.
        """
        return self(images.to(self.codes.device))

    def check_compatible(self, deepsdf: Any, data_name: str | None = None) -> None:
        """Raise ``ValueError`` unless ``deepsdf`` (a DeepSDF module) has the codes this encoder was
        trained on (same code table hash, hence same latent space) and, if given, ``data_name`` is
        the dataset of both."""
        info = self.deepsdf
        trained_on = info.get("data_name")
        if data_name is not None and trained_on and trained_on != data_name:
            raise ValueError(f"the sketch encoder regresses codes of a DeepSDF trained on data={trained_on}, not data={data_name}")
        dim = int(deepsdf.latents.weight.shape[1])
        if dim != self.latent_dim:
            raise ValueError(f"the sketch encoder outputs codes of size {self.latent_dim}, the DeepSDF checkpoint's latent_dim is {dim}")
        expected = info.get("latents_sha256")
        if expected and latents_fingerprint(deepsdf.latents.weight) != expected:
            raise ValueError(
                "the DeepSDF checkpoint's codes are not the ones the sketch encoder was trained on (latent table hash differs): "
                f"train it with deepsdf_ckpt_path={info.get('ckpt_path')} or retrain the encoder for this checkpoint"
            )
