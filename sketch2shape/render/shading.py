"""How normal maps are encoded as images (the one encoding used by preprocessing and renderer).

Camera-space unit normals n in [-1, 1]^3 map to RGB ``(n + 1) / 2``; background is white. White
is unambiguous: no unit vector encodes to (1, 1, 1).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

BACKGROUND = 1.0


def normals_to_image(normals: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Encode normals (..., 3) with a hit mask (...) as an image (..., 3) in [0, 1]."""
    image = (normals + 1.0) * 0.5
    return torch.where(mask[..., None], image, torch.full_like(image, BACKGROUND))


def image_to_normals(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode an image (..., 3) in [0, 1] into unit normals (..., 3) and a foreground mask (...)."""
    mask = (image < BACKGROUND - 1e-3).any(dim=-1)
    normals = image * 2.0 - 1.0
    normals = normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-8)
    return torch.where(mask[..., None], normals, torch.zeros_like(normals)), mask


def downsample_normals(normals: torch.Tensor, mask: torch.Tensor, resolution: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Area-downsample a normal map (H, W, 3), 0 on background, with its mask (H, W) to (R, R).

    Each coarse pixel averages the fine pixels it covers (background normals count as 0); the
    normals are renormalized to unit length and the mask becomes the covered share in [0, 1].
    Returns (normals (R, R, 3), mask (R, R) float), R = ``resolution``; the input unchanged (mask as float) if it
    already has that size.
    """
    if normals.shape[0] == resolution and normals.shape[1] == resolution:
        return normals, mask.float()
    stacked = torch.cat([normals, mask[..., None].to(normals.dtype)], dim=-1).permute(2, 0, 1)[None]
    pooled = F.interpolate(stacked, size=(resolution, resolution), mode="area")[0].permute(1, 2, 0)
    normals, mask = pooled[..., :3], pooled[..., 3]
    return normals / normals.norm(dim=-1, keepdim=True).clamp_min(1e-6), mask


def to_uint8(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """[0, 1] float image to uint8 (rounded)."""
    array = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)


def from_uint8(image: np.ndarray) -> torch.Tensor:
    """uint8 image to a float tensor in [0, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.float32)) / 255.0
