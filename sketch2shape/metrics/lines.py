"""Line chamfer: how far apart two line drawings are, whatever their position and size.

Both stroke images are thinned to one-pixel lines (skeletonize) and their pixel coordinates framed
on their own bounding square (centred, in units of its side); the figure is the mean of the two
directed mean nearest-neighbour distances. 0 for the same lines, 0.05 for lines 5% of the
drawing's size apart on average. Strokes one drawing lacks cost as much as strokes it adds, so
slats, X-frames and missing backs count where a filled outline hides them. Used to score answers
against a drawing that has no 3D truth (:mod:`sketch2shape.eval.drawing_agreement`) and to choose
among candidate codes (:class:`sketch2shape.optimize.sketch_to_shape.CodeSearch`).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize


def thin(mask: np.ndarray) -> np.ndarray:
    """One-pixel-wide lines (bool) of a stroke mask (bool): scikit-image's skeletonize."""
    return skeletonize(mask) if mask.any() else mask


def framed_points(lines: np.ndarray) -> np.ndarray:
    """(N, 2) float coordinates of the one-pixel lines (``thin``) of a stroke mask (bool (H, W)),
    framed on their bounding square: centred on it and in units of its side. Framing the
    points, not the image, loses no thin line to resampling."""
    ys, xs = np.nonzero(thin(lines))
    if len(xs) == 0:
        return np.zeros((0, 2))
    points = np.stack([xs, ys], axis=1).astype(float)
    low, high = points.min(0), points.max(0)
    return (points - 0.5 * (low + high)) / max(float((high - low).max()), 1.0)


def line_chamfer(drawing_ink: np.ndarray, lines: np.ndarray) -> float:
    """Symmetric mean distance between two line images (bool (H, W) each, any sizes; module
    docstring), in units of each one's bounding square; ``inf`` when either has no line."""
    a, b = framed_points(drawing_ink), framed_points(lines)
    if not len(a) or not len(b):
        return float("inf")
    return float(0.5 * (cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()))
