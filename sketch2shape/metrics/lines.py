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


def directed_line_distances(drawing_ink: np.ndarray, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour distances between two line images (bool (H, W) each, framed like
    :func:`line_chamfer`): ``(to_lines, to_drawing)``, one per thinned pixel of ``drawing_ink``
    (its distance to the nearest of ``lines``) and one per pixel of ``lines`` (to the drawing's).
    Both are empty when either image has no line."""
    a, b = framed_points(drawing_ink), framed_points(lines)
    if not len(a) or not len(b):
        return np.zeros(0), np.zeros(0)
    return cKDTree(b).query(a)[0], cKDTree(a).query(b)[0]


def line_scores(drawing_ink: np.ndarray, lines: np.ndarray, quantile: float = 0.9) -> tuple[float, float]:
    """``(line chamfer, unexplained strokes)`` of two line images from one nearest-neighbour pass
    (:func:`directed_line_distances`): the symmetric mean distance (:func:`line_chamfer`) and the
    ``quantile`` of the drawing-to-lines distances (:func:`unexplained_strokes`), frame units;
    ``(inf, inf)`` when either image has no line."""
    to_lines, to_drawing = directed_line_distances(drawing_ink, lines)
    if not len(to_lines):
        return float("inf"), float("inf")
    return float(0.5 * (to_lines.mean() + to_drawing.mean())), float(np.quantile(to_lines, quantile))


def line_chamfer(drawing_ink: np.ndarray, lines: np.ndarray) -> float:
    """Symmetric mean distance between two line images (bool (H, W) each, any sizes; module
    docstring), in units of each one's bounding square; ``inf`` when either has no line."""
    return line_scores(drawing_ink, lines)[0]


def unexplained_strokes(drawing_ink: np.ndarray, lines: np.ndarray, quantile: float = 0.9) -> float:
    """How far the drawing's worst-explained strokes lie from the answer's lines: the ``quantile``
    of the drawing-to-lines distances (frame units; ``inf`` when either has no line). The mean
    (:func:`line_chamfer`) hides a part the answer lacks, e.g. a drawn five-star base under a
    four-legged answer, when the rest matches; a high quantile does not."""
    return line_scores(drawing_ink, lines, quantile)[1]
