"""The 2D agreement between a drawing and an answer: zero for the same lines wherever and however
large they are drawn, growing with what differs; structure scores of answers."""

import numpy as np
import trimesh

from sketch2shape.data.sketch_pairs import mesh_sketch
from sketch2shape.eval.drawing_agreement import agreement, answer_lines, line_chamfer, symmetry, unexplained_strokes
from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.sketch import SketchSettings


def square(size: int, x0: int, y0: int, side: int) -> np.ndarray:
    image = np.zeros((size, size), bool)
    image[y0 : y0 + side, x0] = image[y0 : y0 + side, x0 + side - 1] = True
    image[y0, x0 : x0 + side] = image[y0 + side - 1, x0 : x0 + side] = True
    return image


def test_line_chamfer_ignores_position_and_size_and_sees_missing_lines():
    a = square(128, 10, 10, 40)
    assert line_chamfer(a, a) == 0.0
    assert line_chamfer(a, square(256, 100, 60, 120)) < 0.01  # the same square, elsewhere and larger
    crossed = a.copy()
    crossed[np.arange(10, 50), np.arange(10, 50)] = True  # a diagonal the other lacks
    assert line_chamfer(a, crossed) > 0.02
    assert line_chamfer(a, np.zeros_like(a)) == float("inf")


def test_unexplained_strokes_see_a_part_the_answer_lacks_that_the_mean_hides():
    """A drawing = the answer's square plus a slat across its middle (a part the answer lacks, one
    eighth of the drawing's ink): the mean line chamfer stays low, the 90th percentile of the
    drawing's distances to the answer's lines does not."""
    answer = square(128, 20, 20, 80)
    drawing = answer.copy()
    drawing[60, 30:90] = True
    assert unexplained_strokes(answer, answer) == 0.0
    assert line_chamfer(drawing, answer) < 0.05 < unexplained_strokes(drawing, answer)
    assert unexplained_strokes(drawing, answer) > 4 * line_chamfer(drawing, answer)
    assert unexplained_strokes(drawing, np.zeros_like(drawing)) == float("inf")


def chair_like() -> trimesh.Trimesh:
    seat = trimesh.creation.box(extents=(0.8, 0.1, 0.8))
    back = trimesh.creation.box(extents=(0.8, 0.8, 0.1))
    back.apply_translation((0.0, 0.45, -0.35))
    legs = []
    for x in (-0.35, 0.35):
        for z in (-0.35, 0.35):
            leg = trimesh.creation.box(extents=(0.08, 0.6, 0.08))
            leg.apply_translation((x, -0.35, z))
            legs.append(leg)
    return trimesh.util.concatenate([seat, back, *legs])


def test_the_drawn_shape_agrees_best_with_the_drawing():
    camera = Camera(azimuth_deg=30, elevation_deg=25, resolution=128)
    chair = chair_like()
    sketch = mesh_sketch(MeshRaycaster(chair), camera, SketchSettings(stroke_width=1))
    own = agreement(sketch, chair, camera)
    stool = trimesh.creation.cylinder(radius=0.5, height=0.9)
    other = agreement(sketch, stool, camera)
    assert own.line_chamfer < 0.01 < other.line_chamfer
    assert own.pieces == 6 and own.symmetry < 0.5  # six boxes that share no vertex: six pieces
    assert answer_lines(trimesh.Trimesh(), camera).sum() == 0


def test_symmetry_is_zero_for_a_mirror_symmetric_answer_only():
    box = trimesh.creation.box(extents=(0.6, 0.4, 0.5))
    assert symmetry(box) < 0.5
    lopsided = trimesh.util.concatenate([box, trimesh.creation.box(extents=(0.2, 0.2, 0.2)).apply_translation((0.5, 0.0, 0.0))])
    assert symmetry(lopsided) > 2.0
    assert symmetry(trimesh.Trimesh()) == float("inf")
