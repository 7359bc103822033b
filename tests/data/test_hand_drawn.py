"""The hand-drawn-style stroke model (sketch2shape.data.hand_drawn)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from sketch2shape.data.hand_drawn import HandDrawnSettings, hand_drawn_sketch, random_homography, trace_strokes
from sketch2shape.data.preprocess.mesh import normalize_mesh
from sketch2shape.data.procedural import generate_chair
from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import normals_to_image, to_uint8
from sketch2shape.render.sketch import SketchSettings, sketch_from_normal_map

# every effect off: the traced strokes redrawn as they are, 1 px wide, black
QUIET = HandDrawnSettings(
    wobble=0.0, bow=0.0, overshoot=0.0, overdraw_prob=0.0, gap_rate=0.0, pressure_variation=0.0,
    perspective=0.0, width_px=(1.0, 1.0), ink_darkness=(1.0, 1.0),
)


@pytest.fixture(scope="module")
def chair_sketch() -> np.ndarray:
    """A clean synthetic sketch of a version-2 procedural chair at 128 px (the test set's pipeline)."""
    mesh, _ = normalize_mesh(generate_chair(0, 1, version=2)[1])
    render = MeshRaycaster(mesh).render(Camera(30.0, 20.0, resolution=128))
    image = to_uint8(normals_to_image(torch.from_numpy(render.normals), torch.from_numpy(render.mask)))
    return sketch_from_normal_map(image, SketchSettings(stroke_width=1))


def ink_bbox(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image < 128)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()])


def dilated_ink(image: np.ndarray, side: int = 5) -> np.ndarray:
    return cv2.dilate((image < 128).astype(np.uint8), np.ones((side, side), np.uint8)) > 0


def test_output_is_a_uint8_sketch_of_the_same_size_ink_dark_on_white(chair_sketch):
    out = hand_drawn_sketch(chair_sketch, np.random.default_rng(0))
    assert out.shape == chair_sketch.shape and out.dtype == np.uint8
    assert (out == 255).mean() > 0.7  # paper stays exactly white
    assert out[0].min() == 255 and out[:, 0].min() == 255  # nothing drawn at the border
    assert out.min() < 40 and (out < 128).sum() > 0.5 * (chair_sketch < 128).sum()
    blank = np.full((64, 48), 255, np.uint8)
    np.testing.assert_array_equal(hand_drawn_sketch(blank, np.random.default_rng(0)), blank)


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match="uint8 \\(H, W\\)"):
        hand_drawn_sketch(np.zeros((8, 8, 3), np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError, match="uint8 \\(H, W\\)"):
        hand_drawn_sketch(np.zeros((8, 8), np.float32), np.random.default_rng(0))
    with pytest.raises(ValueError, match="width_px"):
        HandDrawnSettings(width_px=(3.0, 1.0))
    with pytest.raises(ValueError, match="perspective"):
        HandDrawnSettings(perspective=0.3)


def test_the_same_seed_gives_the_same_drawing_and_another_seed_another(chair_sketch):
    a = hand_drawn_sketch(chair_sketch, np.random.default_rng(7))
    b = hand_drawn_sketch(chair_sketch, np.random.default_rng(7))
    c = hand_drawn_sketch(chair_sketch, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_drawing_changes_but_stays_the_same_chair(chair_sketch, seed):
    out = hand_drawn_sketch(chair_sketch, np.random.default_rng(seed))
    assert (out != chair_sketch).mean() > 0.05  # a redrawing, not a copy
    a, b = dilated_ink(chair_sketch), dilated_ink(out)
    assert (a & b).sum() / (a | b).sum() > 0.6
    assert np.abs(ink_bbox(out) - ink_bbox(chair_sketch)).max() <= 0.05 * 128


def test_tracing_follows_the_lines_through_junctions():
    image = np.full((64, 64), 255, np.uint8)
    image[32, 10:54] = 0  # a horizontal line crossed by
    image[10:54, 20] = 0  # a vertical one
    cv2.circle(image, (45, 15), 6, 0, 1)  # a closed loop
    strokes = trace_strokes(image < 128, min_length=2.0)
    lengths = sorted(float(np.linalg.norm(np.diff(s, axis=0), axis=1).sum()) for s in strokes)
    assert len(strokes) == 4 and lengths[-1] >= 42  # the vertical line is one stroke through the junction
    loop = max(strokes, key=lambda s: np.ptp(s[:, 1]) if np.ptp(s[:, 0]) > 5 else 0)
    assert np.allclose(loop[0], loop[-1], atol=1.5)
    # the quiet redrawing of the traced strokes covers the input
    quiet = hand_drawn_sketch(image, np.random.default_rng(0), QUIET)
    assert (dilated_ink(quiet, 3) >= (image < 128)).all()


def test_pressure_varies_the_grey_level_along_a_stroke():
    line = np.full((64, 128), 255, np.uint8)
    line[32, 8:120] = 0
    flat = HandDrawnSettings(**{**QUIET.__dict__, "ink_darkness": (0.3, 1.0), "width_px": (1.0, 3.0)})
    varied = HandDrawnSettings(**{**flat.__dict__, "pressure_variation": 0.8})
    for settings, low, high in ((flat, 0, 2), (varied, 30, 255)):
        out = hand_drawn_sketch(line, np.random.default_rng(3), settings)
        darkest = out[:, 20:108].min(axis=0)  # the core of the stroke, away from its tapered ends
        assert low <= int(np.ptp(darkest)) <= high
    assert len(np.unique(darkest)) > 2  # more than two grey levels of ink


@pytest.mark.parametrize("seed", range(5))
def test_the_perspective_error_moves_the_drawing_a_little(chair_sketch, seed):
    size = 128
    straight = hand_drawn_sketch(chair_sketch, np.random.default_rng(seed), QUIET)
    tilted = hand_drawn_sketch(chair_sketch, np.random.default_rng(seed), HandDrawnSettings(**{**QUIET.__dict__, "perspective": 0.03}))
    shift = np.abs(ink_bbox(tilted) - ink_bbox(straight))
    assert shift.max() <= 0.03 * size + 1  # the corners move by <= 3 %, the drawing inside by less
    assert (tilted != straight).any()
    h = random_homography(size, size, 0.03 * size, np.random.default_rng(seed))
    corners = np.array([[[0, 0], [size, 0], [size, size], [0, size]]], dtype=np.float64)
    moved = cv2.perspectiveTransform(corners, h)
    assert np.linalg.norm(moved - corners, axis=-1).max() <= 0.03 * size + 1e-6
