"""How well an answer agrees with a drawing that has no 3D truth, and how sound the answer is.

* **Line chamfer** (2D): the answer is ray-cast from the view the method used and its contour and
  crease lines are drawn as the training sketches are (:func:`~sketch2shape.render.sketch.edge_mask`,
  silhouette plus creases above ``crease_angle_deg``). The drawing's strokes and those lines are
  each thinned to one-pixel lines (skeletonize) and their pixel coordinates framed on their own
  bounding square (centred, in units of its side: neither position nor size counts); the figure
  is the mean of the two directed mean distances (drawing -> answer lines, answer lines ->
  drawing), 0 for the same lines, 0.05 for lines 5% of the drawing's size apart on average.
  Strokes the answer lacks and lines the drawing lacks both cost, so slats, X-frames and
  missing backs count, where a filled outline hides them.
* **Silhouette IoU**: the method's own score (filled outline vs the answer's silhouette).
* **Structure**: pieces (connected components holding over 1% of the faces), and left-right
  symmetry: the chamfer distance x1000 between the answer's surface and its mirror image in the
  plane x = 0 (chairs are symmetric in the project frame; 0 is perfectly symmetric).

``benchmarks/human_drawings.py`` runs these over the human drawings and calibrates the line
chamfer on synthetic sketches of known shapes (how well it ranks answers by their 3D chamfer).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import trimesh
from scipy.spatial import cKDTree

from sketch2shape.metrics.lines import framed_points, line_chamfer, line_scores, thin, unexplained_strokes  # noqa: F401  (defined there)
from sketch2shape.optimize.sketch_to_shape import mesh_pieces
from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import answer_lines


@dataclass(frozen=True)
class Agreement:
    """An answer against a drawing (module docstring): ``line_chamfer`` in frame units (lower
    is closer), ``pieces``, ``symmetry`` (chamfer x1000 to the mirror image), ``unexplained``
    (:func:`~sketch2shape.metrics.lines.unexplained_strokes`: the 90th percentile of the drawing's
    distances to the answer's lines, frame units)."""

    line_chamfer: float
    pieces: int
    symmetry: float
    unexplained: float = float("nan")


def symmetry(mesh: trimesh.Trimesh, points: int = 5000, seed: int = 0) -> float:
    """Chamfer distance x1000 between the mesh's surface and its mirror in x = 0 (``inf`` if empty)."""
    if len(mesh.faces) == 0:
        return float("inf")
    samples = trimesh.sample.sample_surface(mesh, points, seed=seed)[0]
    mirrored = samples * np.array([-1.0, 1.0, 1.0])
    d1 = cKDTree(mirrored).query(samples)[0]
    d2 = cKDTree(samples).query(mirrored)[0]
    return float(1000 * ((d1**2).mean() + (d2**2).mean()))


def agreement(sketch: np.ndarray, mesh: trimesh.Trimesh, camera: Camera, crease_angle_deg: float = 35.0) -> Agreement:
    """The answer ``mesh`` against ``sketch`` (uint8 (R, R), ink < 128, the method's input form)
    from the ``camera`` the method chose (rendered at the sketch's resolution)."""
    lines = answer_lines(mesh, camera.with_resolution(sketch.shape[0]), crease_angle_deg)
    chamfer, unexplained = line_scores(sketch < 128, lines)
    return Agreement(line_chamfer=chamfer, pieces=mesh_pieces(mesh)[0], symmetry=symmetry(mesh), unexplained=unexplained)
