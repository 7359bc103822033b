"""Synthetic sketches from normal maps: black strokes on white, one per view.

Strokes are the silhouette outline plus creases, i.e. pixels where the normal turns by more than
``crease_angle_deg`` between neighbors. This mimics the line drawings people make of objects
(outline first, then the main folds) without any learned component.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from sketch2shape.render.shading import from_uint8, image_to_normals
from sketch2shape.utils.ink import INK, PAPER  # noqa: F401  (one definition, torch-free)


@dataclass(frozen=True)
class SketchSettings:
    crease_angle_deg: float = 35.0
    stroke_width: int = 2  # pixels, at the image's resolution

    def __post_init__(self) -> None:
        if not 0.0 < self.crease_angle_deg < 180.0:
            raise ValueError(f"crease_angle_deg={self.crease_angle_deg} must be in (0, 180)")
        if self.stroke_width < 1:
            raise ValueError(f"stroke_width={self.stroke_width} must be >= 1")


def edge_mask(normals: np.ndarray, mask: np.ndarray, crease_angle_deg: float) -> np.ndarray:
    """One-pixel edges (H, W) bool of a normal map (H, W, 3) with foreground ``mask`` (H, W)."""
    cos_limit = np.cos(np.radians(crease_angle_deg))
    edges = np.zeros(mask.shape, dtype=bool)
    # Silhouette: foreground pixels with a background 4-neighbor (image border counts as background).
    padded = np.pad(mask, 1, constant_values=False)
    neighbors_fg = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    edges |= mask & ~neighbors_fg
    # Creases: the normal turns sharply between two foreground neighbors.
    for axis in (0, 1):
        a = normals[:-1] if axis == 0 else normals[:, :-1]
        b = normals[1:] if axis == 0 else normals[:, 1:]
        ma = mask[:-1] if axis == 0 else mask[:, :-1]
        mb = mask[1:] if axis == 0 else mask[:, 1:]
        crease = ma & mb & ((a * b).sum(-1) < cos_limit)
        if axis == 0:
            edges[:-1] |= crease
        else:
            edges[:, :-1] |= crease
    return edges


def sketch_from_normal_map(normal_image: np.ndarray, settings: SketchSettings = SketchSettings()) -> np.ndarray:
    """A uint8 (H, W) sketch, ink 0 on paper 255, from a uint8 (H, W, 3) encoded normal map."""
    if normal_image.ndim != 3 or normal_image.shape[2] != 3 or normal_image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) normal map, got {normal_image.dtype} {normal_image.shape}")
    normals, mask = (t.numpy() for t in image_to_normals(from_uint8(normal_image)))
    edges = edge_mask(normals, mask, settings.crease_angle_deg)
    if settings.stroke_width > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (settings.stroke_width, settings.stroke_width))
        edges = cv2.dilate(edges.astype(np.uint8), kernel) > 0
    return np.where(edges, INK, PAPER).astype(np.uint8)
