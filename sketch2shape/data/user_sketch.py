"""Bring a user's drawing into the form of the training sketches.

Training sketches are 2-pixel black strokes on white at 256 x 256, framed by the dataset camera
(shapes fill the unit sphere). A drawing can be any size, any stroke width, any margin: it is
binarized, thinned to one-pixel strokes, cropped to the strokes, scaled so that the strokes'
bounding box has the typical size and center of the training sketches of that view, and redrawn
at the training stroke width.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError
from skimage.morphology import skeletonize

from sketch2shape.render.sketch import INK, PAPER


class SketchInputError(ValueError):
    """A file that cannot be used as a sketch."""


@dataclass(frozen=True)
class Framing:
    """Where the strokes of a training sketch sit, as fractions of the image size."""

    center: tuple[float, float] = (0.5, 0.52)  # (x, y)
    size: float = 0.6  # the longer side of the strokes' bounding box
    resolution: int = 256
    stroke_width: int = 2

    @classmethod
    def from_sketches(cls, sketches: list[np.ndarray], stroke_width: int = 2) -> "Framing":
        """Median framing of training sketches (uint8, ink 0)."""
        centers, sizes = [], []
        for sketch in sketches:
            ys, xs = np.nonzero(sketch < 128)
            if len(xs) == 0:
                continue
            h, w = sketch.shape
            centers.append(((xs.min() + xs.max()) / 2 / w, (ys.min() + ys.max()) / 2 / h))
            sizes.append(max(xs.max() - xs.min(), ys.max() - ys.min()) / max(h, w))
        if not sizes:
            return cls()
        c = np.median(np.array(centers), axis=0)
        return cls(center=(float(c[0]), float(c[1])), size=float(np.median(sizes)), resolution=sketches[0].shape[0], stroke_width=stroke_width)


def dataset_framing(layout, obj_ids, view: int) -> Framing:
    """The framing of the existing sketches of ``view`` of ``obj_ids`` in a dataset layout
    (the default framing if there are none)."""
    paths = [layout.shape(obj_id).sketch(view) for obj_id in obj_ids]
    sketches = [np.asarray(Image.open(p).convert("L")) for p in paths if p.is_file()]
    return Framing.from_sketches(sketches) if sketches else Framing()


def read_sketch_file(path: str | Path) -> np.ndarray:
    """A drawing as a uint8 grayscale array; transparent pixels count as paper."""
    path = Path(path)
    if not path.is_file():
        raise SketchInputError(f"sketch file {path} does not exist")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError) as err:
        raise SketchInputError(f"{path} is not an image PIL can read (PNG, JPEG, ...): {err}") from err
    return image_to_gray(image, str(path))


def image_to_gray(image: Image.Image, name: str = "sketch") -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    gray = np.asarray(image.convert("L"))
    if gray.size == 0:
        raise SketchInputError(f"{name} is an empty image")
    return gray


def normalize_sketch(gray: np.ndarray, framing: Framing = Framing(), name: str = "sketch") -> np.ndarray:
    """uint8 (R, R) sketch in the training form (module docstring) from a uint8 grayscale drawing."""
    ink = gray < min(128, int(gray.mean()) - 10) if gray.mean() > 60 else gray < 128
    if ink.sum() < 10:
        raise SketchInputError(f"{name} has no strokes: expected dark strokes on a light background")
    ys, xs = np.nonzero(ink)
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    skeleton = skeletonize(crop)
    res = framing.resolution
    target = framing.size * res
    scale = target / max(crop.shape)
    out = np.zeros((res, res), dtype=np.uint8)
    sy, sx = np.nonzero(skeleton)
    # Place skeleton points, then connect neighbors again by drawing each point as a small disc.
    cx, cy = framing.center[0] * res, framing.center[1] * res
    px = np.clip(np.rint((sx - crop.shape[1] / 2) * scale + cx), 0, res - 1).astype(int)
    py = np.clip(np.rint((sy - crop.shape[0] / 2) * scale + cy), 0, res - 1).astype(int)
    out[py, px] = 1
    if scale > 1:  # upscaling leaves gaps between skeleton points: close them before thickening
        gap = int(np.ceil(scale))
        out = cv2.morphologyEx(out, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (gap, gap)))
        out = skeletonize(out > 0).astype(np.uint8)
    if framing.stroke_width > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (framing.stroke_width, framing.stroke_width))
        out = cv2.dilate(out, kernel)
    return np.where(out > 0, INK, PAPER).astype(np.uint8)
