"""Make a clean synthetic sketch look drawn by hand: a held-out stroke model for testing.

:func:`hand_drawn_sketch` takes a sketch made by
:func:`sketch2shape.render.sketch.sketch_from_normal_map` (uint8 ``(H, W)``, black ink 0 on white
paper 255) and redraws it the way a person with a pen would:

1. **Tracing.** The ink is thinned to one-pixel lines (``skimage.morphology.skeletonize``) and the
   8-connected skeleton is walked into polylines. A walk goes straight on through junctions (it
   takes the neighbour that best continues its direction), so a chair leg or a seat edge becomes
   one stroke; strokes are split at sharp corners (a pen stops there) and their pixel staircases
   are smoothed and resampled to about one point per pixel.
2. **Redrawing**, stroke by stroke, in image pixel coordinates ``(x, y) = (col, row)``:

   * *wobble*: a low-frequency offset along the stroke normal (a few random sinusoids of
     wavelength around ``wobble_wavelength``) plus a bow of the whole stroke (a hand draws
     straight lines as slight arcs);
   * *overshoot*: the stroke runs on past its end points along its end tangent;
   * *over-drawing*: some strokes get a second, lighter pass with its own wobble, slightly
     offset, starting and stopping at slightly different places;
   * *broken strokes*: short gaps where the pen lifted, at random places along the stroke;
   * *pressure*: a smooth random pressure profile along the stroke, tapered at both ends, sets
     the line width (``width_px``) and how dark the ink is (``ink_darkness``);
   * *perspective error*: every point of the drawing goes through one small random homography
     (the image corners moved by up to ``perspective`` of the image size), as if the whole
     drawing were made from a slightly wrong viewpoint.

   Strokes are drawn with OpenCV's anti-aliased lines, one segment at a time so that the width
   follows the pressure, each stroke on its own layer; layers combine like ink (where strokes
   cross the paper gets darker: transmittances multiply).

Lengths in :class:`HandDrawnSettings` are fractions of the image size (the larger side), so the
same settings look alike at 128 and 256 pixels, except ``width_px`` which is in pixels.
Randomness comes only from the ``rng`` argument: the same generator state gives the same drawing.

This stroke model is deliberately unlike the training augmentations of
:mod:`sketch2shape.data.augment` (a global affine warp, morphological thickening/thinning, gaps
cut by blocky noise, boxes of dropped ink and a smooth displacement field applied to the raster):
here the drawing is re-rendered from traced vector strokes, so a sketch encoder that has only
seen the training augmentations is tested on stroke changes it has never seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
from skimage.morphology import skeletonize

from sketch2shape.utils.ink import INK, PAPER

# 8-neighbourhood offsets (drow, dcol)
_NEIGHBOURS = np.array([(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)])
_SUBPIXEL_BITS = 4  # cv2 fixed-point coordinates: 1/16 pixel
_SUPERSAMPLE = 8  # strokes are drawn at 8x the resolution and area-averaged down


@dataclass(frozen=True)
class HandDrawnSettings:
    """How a sketch is redrawn (lengths as fractions of the image size unless named ``_px``).

    Attributes:
        ink_threshold: input pixels darker than this are ink.
        min_stroke: traced strokes shorter than this are dropped (skeleton spurs and specks).
        corner_deg: a stroke is split where it turns by more than this within a few pixels.
        wobble: amplitude of the low-frequency wobble along the stroke normal (0: none).
        wobble_wavelength: typical wavelength of the wobble (each stroke draws its own
            wavelengths between half and twice this).
        bow: the stroke bends into an arc whose height is up to this fraction of its own length.
        overshoot: maximum run-on past an end point; each end overshoots with ``overshoot_prob``.
        overshoot_prob: probability that an end of a stroke overshoots.
        overdraw_prob: probability that a stroke gets a second pass.
        overdraw_offset: maximum sideways offset of the second pass.
        gap_rate: pen lifts per image size of stroke length (a Poisson process; 0: no gaps).
        gap_length: (min, max) length of a gap.
        width_px: (min, max) line width in pixels, reached at zero and full pressure.
        ink_darkness: (min, max) ink darkness in [0, 1] (1 = black) at zero and full pressure.
        pressure_variation: how much the pressure varies along a stroke, in [0, 1] (0: every
            stroke is drawn at its own constant pressure, no taper).
        perspective: maximum shift of each image corner by the random homography (0: none).
    """

    ink_threshold: int = 128
    min_stroke: float = 0.02
    corner_deg: float = 60.0
    wobble: float = 0.004
    wobble_wavelength: float = 0.3
    bow: float = 0.02
    overshoot: float = 0.025
    overshoot_prob: float = 0.5
    overdraw_prob: float = 0.3
    overdraw_offset: float = 0.007
    gap_rate: float = 2.5
    gap_length: tuple[float, float] = (0.01, 0.025)
    width_px: tuple[float, float] = (1.0, 3.0)
    ink_darkness: tuple[float, float] = (0.5, 1.0)
    pressure_variation: float = 0.8
    perspective: float = 0.03

    def __post_init__(self) -> None:
        if not 0 < self.ink_threshold <= 255:
            raise ValueError(f"ink_threshold={self.ink_threshold} must be in (0, 255]")
        for name in ("min_stroke", "wobble", "bow", "overshoot", "overdraw_offset", "gap_rate", "perspective"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)} must be >= 0")
        if self.wobble_wavelength <= 0:
            raise ValueError(f"wobble_wavelength={self.wobble_wavelength} must be > 0")
        if not 0 < self.corner_deg <= 180:
            raise ValueError(f"corner_deg={self.corner_deg} must be in (0, 180]")
        for name in ("overshoot_prob", "overdraw_prob", "pressure_variation"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name}={getattr(self, name)} must be in [0, 1]")
        for name, low_limit in (("gap_length", 0.0), ("width_px", 0.5), ("ink_darkness", 0.0)):
            low, high = getattr(self, name)
            if not low_limit <= low <= high:
                raise ValueError(f"{name}={getattr(self, name)} must be (min, max) with {low_limit} <= min <= max")
        if self.ink_darkness[1] > 1.0:
            raise ValueError(f"ink_darkness={self.ink_darkness} must lie in [0, 1]")
        if self.perspective >= 0.25:
            raise ValueError(f"perspective={self.perspective} must be < 0.25 (a small error, not a new view)")


def hand_drawn_sketch(sketch: np.ndarray, rng: np.random.Generator, settings: HandDrawnSettings = HandDrawnSettings()) -> np.ndarray:
    """Redraw a clean sketch as if by hand (see the module docstring).

    Args:
        sketch: uint8 ``(H, W)``, ink dark (0) on paper light (255).
        rng: the only source of randomness.
        settings: the stroke model.
    Returns:
        uint8 ``(H, W)``, paper exactly 255, ink down to 0 (0 where full pressure is drawn at
        full darkness); an all-paper input gives all paper.
    """
    if sketch.ndim != 2 or sketch.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W) sketch, got {sketch.dtype} {sketch.shape}")
    h, w = sketch.shape
    size = float(max(h, w))
    strokes = trace_strokes(sketch < settings.ink_threshold, settings.min_stroke * size, settings.corner_deg)
    homography = random_homography(w, h, settings.perspective * size, rng)
    transmittance = np.ones((h, w), dtype=np.float32)
    layer = np.zeros((h, w), dtype=np.uint8)
    for points in strokes:
        for path, pressure in _pen_passes(points, size, settings, rng):
            # pixel indices -> continuous image coordinates (pixel (i, j) spans [j, j+1) x [i, i+1))
            path = cv2.perspectiveTransform((path + 0.5)[None].astype(np.float64), homography)[0]
            layer[:] = 0
            _draw_stroke(layer, path, pressure, settings)
            transmittance *= 1.0 - layer.astype(np.float32) / 255.0
    out = np.rint(PAPER - (PAPER - INK) * (1.0 - transmittance))
    return np.clip(out, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Tracing: ink -> skeleton -> polylines


def trace_strokes(ink: np.ndarray, min_length: float = 2.0, corner_deg: float = 60.0) -> list[np.ndarray]:
    """Polylines ``(N, 2)`` float ``(x, y)`` pixel centers of the skeleton of a bool ink mask.

    Walks start at end points, then at junctions, then anywhere left (closed loops); a walk
    continues to the unvisited neighbour best aligned with its direction and stops where there is
    none (it then joins the visited pixel it touches, so strokes meet at junctions). Strokes are
    smoothed, split at corners sharper than ``corner_deg`` and dropped when shorter than
    ``min_length`` pixels, except for isolated dots.
    """
    skeleton = skeletonize(ink.astype(bool))
    h, w = skeleton.shape
    padded = np.pad(skeleton, 1)
    degree = sum(padded[1 + dr : 1 + dr + h, 1 + dc : 1 + dc + w].astype(np.int32) for dr, dc in _NEIGHBOURS)
    degree = np.where(skeleton, degree, -1)
    visited = ~skeleton.copy()

    def neighbours(r: int, c: int) -> list[tuple[int, int]]:
        out = []
        for dr, dc in _NEIGHBOURS:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and skeleton[rr, cc]:
                out.append((rr, cc))
        return out

    def walk(path: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Extend ``path`` (its pixels already visited) until no unvisited neighbour is left."""
        while True:
            r, c = path[-1]
            free = [p for p in neighbours(r, c) if not visited[p]]
            if not free:
                break
            back = path[max(0, len(path) - 4)]
            direction = np.array([r - back[0], c - back[1]], dtype=float)
            direction /= max(float(np.linalg.norm(direction)), 1e-9)
            # the best continuation (any neighbour at the start); 4-neighbours win ties, so the
            # corner pixel of a skeleton staircase is not skipped
            score = [float(np.dot(direction, (p[0] - r, p[1] - c)) / math.hypot(p[0] - r, p[1] - c)) + 0.01 * (abs(p[0] - r) + abs(p[1] - c) == 1) for p in free]
            step = free[int(np.argmax(score))]
            visited[step] = True
            path.append(step)
        # join the stroke to the junction (or its own start, for a loop) it ran into
        touching = [p for p in neighbours(*path[-1]) if p not in path[-3:]]
        if touching and len(path) > 1:
            path.append(touching[0])
        return path

    pixel_paths: list[list[tuple[int, int]]] = []
    starts = [tuple(p) for p in np.argwhere(degree == 1)] + [tuple(p) for p in np.argwhere(degree >= 3)]
    starts += [tuple(p) for p in np.argwhere(skeleton)]  # what is left: closed loops, isolated dots
    for start in starts:
        if not visited[start]:
            visited[start] = True
            pixel_paths.append(walk([start]))
        while True:  # the other branches of a junction
            first = next((p for p in neighbours(*start) if not visited[p]), None)
            if first is None:
                break
            visited[first] = True
            pixel_paths.append(walk([start, first]))

    strokes = []
    for path in pixel_paths:
        points = np.array([(c, r) for r, c in path], dtype=np.float64)
        if len(points) == 1:
            strokes.append(points)  # an isolated dot stays a dot
            continue
        for piece in _split_at_corners(_resample(_smooth(points), 1.0), corner_deg):
            if _length(piece) >= min_length:
                strokes.append(piece)
    return strokes


def _smooth(points: np.ndarray, passes: int = 2) -> np.ndarray:
    """Average each interior point with its neighbours (removes the pixel staircase); ends fixed."""
    out = points.copy()
    for _ in range(passes):
        if len(out) < 3:
            break
        out[1:-1] = 0.25 * out[:-2] + 0.5 * out[1:-1] + 0.25 * out[2:]
    return out


def _length(points: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(points, axis=0), axis=1).sum()) if len(points) > 1 else 0.0


def _arc_length(points: np.ndarray) -> np.ndarray:
    return np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(points, axis=0), axis=1))])


def _resample(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points at equal arc-length steps of about ``spacing`` (end points kept)."""
    s = _arc_length(points)
    if s[-1] <= 0:
        return points[:1]
    n = max(2, int(math.ceil(s[-1] / spacing)) + 1)
    t = np.linspace(0.0, s[-1], n)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def _split_at_corners(points: np.ndarray, corner_deg: float, reach: int = 3) -> list[np.ndarray]:
    """Cut a resampled polyline where its direction turns by more than ``corner_deg`` (local maxima)."""
    n = len(points)
    if n < 2 * reach + 1 or corner_deg >= 180:
        return [points]
    a = points[reach:-reach] - points[: -2 * reach]
    b = points[2 * reach :] - points[reach:-reach]
    cos = (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-9)
    turn = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    cuts = []
    for i in range(len(turn)):
        lo, hi = max(0, i - reach), min(len(turn), i + reach + 1)
        if turn[i] > corner_deg and turn[i] == turn[lo:hi].max() and (not cuts or i + reach - cuts[-1] > reach):
            cuts.append(i + reach)
    pieces, start = [], 0
    for cut in cuts:
        pieces.append(points[start : cut + 1])
        start = cut
    pieces.append(points[start:])
    return pieces


# ----------------------------------------------------------------------------------------------
# The pen


def random_homography(width: int, height: int, max_shift: float, rng: np.random.Generator) -> np.ndarray:
    """A 3x3 homography of continuous image coordinates ``(x, y)`` that moves each image corner
    (``(0, 0)`` .. ``(width, height)``) by a random vector of length <= ``max_shift`` pixels."""
    corners = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    angle = rng.uniform(0.0, 2.0 * math.pi, 4)
    radius = max_shift * np.sqrt(rng.uniform(0.0, 1.0, 4))
    moved = corners + np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1).astype(np.float32)
    return cv2.getPerspectiveTransform(corners, moved).astype(np.float64)


def _smooth_noise(s: np.ndarray, wavelength: float, rng: np.random.Generator, components: int = 3) -> np.ndarray:
    """A smooth random function of arc length ``s``: zero mean, standard deviation about 0.6, |value| < 2.5."""
    out = np.zeros_like(s)
    for _ in range(components):
        lam = wavelength * 2.0 ** rng.uniform(-1.0, 1.0)
        out += rng.uniform(-1.0, 1.0) * np.sin(2.0 * math.pi * s / lam + rng.uniform(0.0, 2.0 * math.pi))
    return out * math.sqrt(2.0 / components)


def _normals(points: np.ndarray) -> np.ndarray:
    tangent = np.gradient(points, axis=0) if len(points) > 1 else np.array([[1.0, 0.0]])
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    return np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)


def _extend(points: np.ndarray, start: float, end: float) -> np.ndarray:
    """Run the polyline on by ``start`` / ``end`` pixels along its end tangents (negative: trim)."""
    if len(points) < 2:
        return points
    s = _arc_length(points)
    total = s[-1]
    lo, hi = max(0.0, -start), total + min(0.0, end)
    if hi - lo < 1.0:
        return points
    keep = (s >= lo) & (s <= hi)
    core = points[keep]
    if lo > 0:
        core = np.vstack([[np.interp(lo, s, points[:, 0]), np.interp(lo, s, points[:, 1])], core])
    if hi < total:
        core = np.vstack([core, [np.interp(hi, s, points[:, 0]), np.interp(hi, s, points[:, 1])]])
    if len(core) < 2:
        return points
    reach = min(len(core) - 1, 3)
    if start > 0:
        d = core[0] - core[reach]
        d /= max(np.linalg.norm(d), 1e-9)
        core = np.vstack([core[0] + d * np.arange(math.ceil(start), 0, -1)[:, None] * (start / math.ceil(start)), core])
    if end > 0:
        d = core[-1] - core[-1 - reach]
        d /= max(np.linalg.norm(d), 1e-9)
        core = np.vstack([core, core[-1] + d * np.arange(1, math.ceil(end) + 1)[:, None] * (end / math.ceil(end))])
    return core


def _pen_passes(points: np.ndarray, size: float, cfg: HandDrawnSettings, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pen paths ``(N, 2)`` and pressures ``(N,)`` in [0, 1] that redraw one traced stroke."""
    base_pressure = rng.uniform(0.2, 0.75)
    passes = []
    n_passes = 2 if len(points) > 1 and rng.random() < cfg.overdraw_prob else 1
    for k in range(n_passes):
        if len(points) == 1:
            passes.append((points.copy(), np.full(1, base_pressure)))
            break
        over = [cfg.overshoot * size * rng.uniform(0.3, 1.0) if rng.random() < cfg.overshoot_prob else 0.0 for _ in range(2)]
        if k == 1:  # the second pass starts and stops a little elsewhere
            over = [o + rng.uniform(-1.5, 1.0) * cfg.overdraw_offset * size for o in over]
        path = _resample(_extend(points, over[0], over[1]), 1.0)
        s = _arc_length(path)
        length = max(s[-1], 1e-9)
        offset = cfg.wobble * size * _smooth_noise(s, cfg.wobble_wavelength * size, rng)
        offset += rng.uniform(-1.0, 1.0) * cfg.bow * length * np.sin(math.pi * s / length)
        if k == 1:
            offset += rng.uniform(-1.0, 1.0) * cfg.overdraw_offset * size
        path = path + _normals(path) * offset[:, None]
        pressure = base_pressure * (0.7 if k == 1 else 1.0) + cfg.pressure_variation * 0.35 * _smooth_noise(s, 0.2 * size, rng, 2)
        taper = np.clip(np.minimum(s, length - s) / max(0.03 * size, 1.0), 0.0, 1.0)
        pressure = np.clip(pressure * (1.0 - cfg.pressure_variation * 0.6 * (1.0 - taper)), 0.0, 1.0)
        for piece in _lift_pen(path, pressure, s, size, cfg, rng):
            passes.append(piece)
    return passes


def _lift_pen(path: np.ndarray, pressure: np.ndarray, s: np.ndarray, size: float, cfg: HandDrawnSettings, rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cut short gaps out of a pen path (a Poisson number of them, none at the very ends)."""
    length = s[-1]
    margin = 2.0
    count = rng.poisson(cfg.gap_rate * length / size) if cfg.gap_rate > 0 and length > 2 * margin + 2 else 0
    keep = np.ones(len(path), dtype=bool)
    for centre in rng.uniform(margin, length - margin, count) if count else ():
        half = 0.5 * rng.uniform(*cfg.gap_length) * size
        keep &= np.abs(s - centre) > half
    pieces, start = [], None
    for i, k in enumerate(np.append(keep, False)):
        if k and start is None:
            start = i
        elif not k and start is not None:
            pieces.append((path[start:i], pressure[start:i]))
            start = None
    return pieces


def _draw_stroke(layer: np.ndarray, path: np.ndarray, pressure: np.ndarray, cfg: HandDrawnSettings) -> None:
    """Darkness (0..255) of one pen path (continuous image coordinates ``(x, y)``) added to
    ``layer``; width and darkness follow the pressure.

    The path is drawn at ``_SUPERSAMPLE`` times the resolution with round-capped segments of
    exactly the pressure's width and area-averaged down: anti-aliased lines of any width
    (OpenCV's own anti-aliased lines come in whole-pixel widths only, and are a pixel wider).
    """
    k = _SUPERSAMPLE
    h, w = layer.shape
    wmin, wmax = cfg.width_px
    dmin, dmax = cfg.ink_darkness
    width = wmin + pressure * (wmax - wmin)
    darkness = dmin + pressure * (dmax - dmin)
    reach = 0.5 * float(width.max()) + 1.0
    x0, y0 = (max(0, int(math.floor(v - reach))) for v in path.min(axis=0))
    x1, y1 = (int(math.ceil(v + reach)) for v in path.max(axis=0))
    x1, y1 = min(w, x1), min(h, y1)
    if x1 <= x0 or y1 <= y0:
        return
    fine = np.zeros(((y1 - y0) * k, (x1 - x0) * k), dtype=np.uint8)
    scale = 1 << _SUBPIXEL_BITS
    # continuous coordinates -> fine pixel indices (OpenCV draws at pixel centers)
    fixed = np.rint(((path - (x0, y0)) * k - 0.5) * scale).astype(np.int64)
    if len(path) == 1:
        cv2.circle(fine, (int(fixed[0, 0]), int(fixed[0, 1])), max(1, int(round(0.5 * width[0] * k * scale))), int(round(255 * darkness[0])), -1, cv2.LINE_8, _SUBPIXEL_BITS)
    for i in range(len(path) - 1):
        # a thick cv2 line covers about thickness + 1 pixels across
        thickness = max(1, int(round(0.5 * (width[i] + width[i + 1]) * k)) - 1)
        colour = int(round(255 * 0.5 * (darkness[i] + darkness[i + 1])))
        cv2.line(fine, (int(fixed[i, 0]), int(fixed[i, 1])), (int(fixed[i + 1, 0]), int(fixed[i + 1, 1])), colour, thickness, cv2.LINE_8, _SUBPIXEL_BITS)
    coarse = cv2.resize(fine, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    np.maximum(layer[y0:y1, x0:x1], coarse, out=layer[y0:y1, x0:x1])
