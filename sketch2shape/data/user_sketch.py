"""Bring a user's drawing into the form of the training sketches.

Training sketches are 2-pixel black strokes on white at 256 x 256, framed by the dataset camera
(shapes fill the unit sphere). A drawing can be any size, any stroke width, any margin, any file
format, bit depth or colour mode, a scan or a phone photo:

1. ``read_sketch_file`` / ``image_to_gray``: the picture is turned upright by its EXIF orientation
   and brought to uint8 grayscale by the range of its pixel type (16-bit, 32-bit and float pictures
   are scaled, not clipped); transparent pixels are paper.
2. ``analyze_sketch``: the paper's polarity is detected (light strokes on a dark background are
   inverted), the paper's brightness is estimated locally (uneven lighting, shadows, tinted paper
   and a table around the paper are background, divided out), strokes are the pixels clearly
   darker than the local paper, and the result is checked to look like lines (not a filled
   region, a photo's texture or a dark edge); its warnings are for the CLI and the app to show.
3. ``normalize_sketch``: the strokes are thinned to one-pixel lines, cropped, scaled so that their
   bounding box has the typical size and center of the training sketches of that view, and redrawn
   at the training stroke width.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError
from skimage.morphology import skeletonize

from sketch2shape.utils.ink import INK, PAPER

log = logging.getLogger(__name__)

ACCEPTED_FILES = "an image file PIL can read (PNG, JPEG, TIFF, BMP, GIF, WebP, ...) of any bit depth or colour mode"
ACCEPTED_DRAWINGS = "line strokes, dark on light paper or light on a dark background (a scan, a photo, a screenshot, a canvas export)"


class SketchInputError(ValueError):
    """A file or drawing that cannot be used as a sketch; the message names it and says what is accepted."""


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


# ----------------------------------------------------------------------------------------------
# Reading: any file, any orientation, any bit depth or mode -> uint8 grayscale


def read_sketch_file(path: str | Path) -> np.ndarray:
    """A drawing file as a uint8 (H, W) grayscale array, upright, transparent pixels as paper.

    See ``image_to_gray`` for orientation, bit depth and transparency. Raises SketchInputError
    naming ``path`` when it does not exist, is a folder, is not an image PIL can read, or has a
    mode that cannot be turned into gray. Reading needs no torch (this module does not import it),
    so a command can check its sketch with this function before loading the models.
    """
    path = Path(path)
    if not path.is_file():
        problem = "is a folder, not an image file" if path.is_dir() else "does not exist"
        raise SketchInputError(f"sketch file {path} {problem}: expected {ACCEPTED_FILES}")
    try:
        image = Image.open(path)
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
        raise SketchInputError(f"{path} is not an image PIL can read: expected {ACCEPTED_FILES} ({err})") from err
    return image_to_gray(image, str(path))


def image_to_gray(image: Image.Image, name: str = "sketch") -> np.ndarray:
    """A PIL image as a uint8 (H, W) grayscale array: 0 black, 255 white, upright.

    - Orientation: the EXIF orientation tag (1-8, set by phones and cameras) is applied, so
      the array looks like the picture does in a viewer. An unreadable EXIF block is ignored.
    - Bit depth: values are scaled by the range of their type, never clipped: 16-bit modes
      (``I;16*``) by 65535; ``I`` (32-bit int) and ``F`` (float) by 255 or 65535 or 1.0, the
      smallest of these that holds all values (0..1 for float), else by their own min..max.
      ``1``, ``L``, ``P``, ``RGB``, ``CMYK``, ``YCbCr``, ``HSV`` go through PIL's luminance;
      ``LAB`` uses its lightness channel.
    - Transparency (``RGBA``, ``LA``, ``PA``, ``La``, ``RGBa``, a ``transparency`` colour):
      transparent pixels are paper. Normally the picture is laid on white; when most of it is
      transparent and the opaque part is light (light strokes exported on nothing, e.g. from a
      dark-mode app) it is laid on black, so the strokes stay visible; ``analyze_sketch`` then
      sees light strokes on a dark background and inverts them.

    Raises SketchInputError naming ``name`` for an empty image or an unsupported mode.
    """
    if image.width == 0 or image.height == 0:
        raise SketchInputError(f"{name} is an empty image (0 pixels): expected {ACCEPTED_FILES}")
    image = _upright(image)
    mode = image.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image)
        gray = _scale_to_uint8(values, _full_scale(values, mode))
        key = image.info.get("transparency")
        if isinstance(key, (int, float)):  # a transparent value: that value is paper
            gray[values == key] = 255
        return gray
    if mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        return _composite((image.convert("LA") if mode == "La" else image).convert("RGBA"))  # PIL has no La -> RGBA
    if mode == "LAB":
        return np.ascontiguousarray(np.asarray(image)[..., 0])
    try:
        return np.asarray(image.convert("L"))
    except ValueError as err:
        raise SketchInputError(f"{name} has colour mode {mode}, which cannot be turned into gray: expected {ACCEPTED_FILES}") from err


def _upright(image: Image.Image) -> Image.Image:
    """``image`` turned by its EXIF orientation (any of 1-8); unchanged without one."""
    try:
        orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
        if orientation in range(2, 9):
            return ImageOps.exif_transpose(image)
    except Exception as err:  # noqa: BLE001  a broken EXIF block is no reason to refuse readable pixels
        log.debug("ignoring unreadable EXIF orientation: %s", err)
    return image


def _full_scale(values: np.ndarray, mode: str) -> float | tuple[float, float]:
    """The value that means white for a high-bit-depth array: a number, or (lo, hi) to stretch."""
    if mode.startswith("I;16"):
        return 65535.0
    finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
    if finite.size == 0:
        return 1.0
    lo, hi = float(finite.min()), float(finite.max())
    if lo >= 0:
        for full in ((1.0,) if values.dtype.kind == "f" else ()) + (255.0, 65535.0):
            if hi <= full:
                return full
    return (lo, hi) if hi > lo else (lo - 1.0, hi)


def _scale_to_uint8(values: np.ndarray, full: float | tuple[float, float]) -> np.ndarray:
    """``values`` mapped to 0..255: 0..full, or lo..hi for a pair; NaN counts as white."""
    lo, hi = (0.0, full) if isinstance(full, float) else full
    scaled = (np.asarray(values, dtype=np.float64) - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(np.nan_to_num(scaled, nan=255.0, posinf=255.0, neginf=0.0)), 0, 255).astype(np.uint8)


def _composite(rgba: Image.Image) -> np.ndarray:
    """uint8 gray of an RGBA image laid on white, or on black for light strokes on nothing."""
    array = np.asarray(rgba)
    alpha = array[..., 3].astype(np.float32) / 255.0
    lum = np.asarray(rgba.convert("RGB").convert("L")).astype(np.float32)
    opaque = alpha >= 0.5
    light_on_nothing = opaque.mean() < 0.5 and opaque.any() and float(np.median(lum[opaque])) > 127.5
    background = 0.0 if light_on_nothing else 255.0
    return np.clip(np.rint(lum * alpha + background * (1.0 - alpha)), 0, 255).astype(np.uint8)


def as_gray_array(gray: np.ndarray, name: str = "sketch") -> np.ndarray:
    """A 2-D grayscale array of any numeric dtype as uint8, scaled by its type's range.

    uint8 is returned as is; bool is 0/255; uint16 is divided by 65535; other integers and floats
    are scaled like PIL's ``I`` and ``F`` modes (``image_to_gray``). Raises SketchInputError
    naming ``name`` for an array that is not 2-D, is empty, or is not numeric.
    """
    gray = np.asarray(gray)
    if gray.ndim != 2:
        raise SketchInputError(f"{name} is a {gray.ndim}-D array of shape {gray.shape}: expected a 2-D (H, W) grayscale image")
    if gray.size == 0:
        raise SketchInputError(f"{name} is an empty image (0 pixels)")
    if gray.dtype == np.uint8:
        return gray
    if gray.dtype == bool:
        return np.where(gray, 255, 0).astype(np.uint8)
    if gray.dtype.kind not in "uif":
        raise SketchInputError(f"{name} has pixel type {gray.dtype}: expected numbers (uint8, uint16, int, float)")
    full = 65535.0 if gray.dtype == np.uint16 else _full_scale(gray, "F" if gray.dtype.kind == "f" else "I")
    return _scale_to_uint8(gray, full)


# ----------------------------------------------------------------------------------------------
# Analysis: polarity, local paper brightness, strokes, and whether they look like lines

WORK_SIDE = 512  # the paper's brightness is estimated at most this many pixels across
MIN_CONTRAST = 12.0  # gray levels (of 255) a stroke is darker than its paper, at least
SPECK = 0.01  # a piece of ink smaller than this share of the largest piece is a speck (noise, grain), not a stroke
SOLID = 0.4  # dark regions wider than strokes, below this share of the typical paper, are fills (ink) or, at the edge, background
FILLED_WARN, FILLED_REFUSE = 0.3, 0.6  # share of ink pixels deep inside ink (SketchAnalysis.filled_fraction)
COVER_WARN, COVER_REFUSE = 0.35, 0.6  # ink pixels / (longer side of their bounding box)^2
BLIND_WARN = 0.05  # dark pixels too noisy to read / (longer side of the ink's bounding box)^2
SPECKLE_WARN = 0.5  # share of ink pixels in small separate specks
EDGE_WARN, EDGE_REFUSE = 0.05, 0.25  # share of the image's outermost pixels that are ink
SMALL_WARN = 64  # pixels: a drawing whose longer side is shorter is enlarged over 2x to the training framing (154 px); its details were never drawn


@dataclass(frozen=True, eq=False)
class SketchAnalysis:
    """What ``analyze_sketch`` found in a grayscale drawing of H x W pixels.

    ink: bool (H, W), True on stroke pixels.
    polarity_inverted: the drawing had light strokes on a dark background and was inverted.
    bbox: (x0, y0, x1, y1) inclusive pixel bounds of ``ink``; None without ink.
    cover_fraction: ink pixels / (longer side of bbox)^2; line drawings stay below ~0.2.
    filled_fraction: share of ink pixels farther than ``max(3, 0.03 * longer side of bbox)``
        pixels from the nearest non-ink pixel; ~0 for lines, most pixels of a filled region.
    blind_fraction: dark pixels in bbox where the paper is too noisy or textured for strokes
        to be told apart (they are skipped), over the square of bbox's longer side.
    speckle_fraction: share of ink pixels in small separate specks (bounding box under 5% of
        the longer side of bbox, counted when there are over 20 pieces); high for a photo's
        texture or noise, low for strokes.
    edge_fraction: share of the image's outermost pixels that are ink; high when a photo shows
        a dark table or the paper's edge, 0 for a drawing with margins.
    warnings: doubts about the result, each naming the drawing; the drawing is still used.
    error: why the drawing cannot be used, naming it and saying what is accepted (no strokes;
        a filled region or photo rather than lines; ink along the image's edge); or None.
    """

    ink: np.ndarray
    polarity_inverted: bool
    bbox: tuple[int, int, int, int] | None
    cover_fraction: float = 0.0
    filled_fraction: float = 0.0
    blind_fraction: float = 0.0
    speckle_fraction: float = 0.0
    edge_fraction: float = 0.0
    warnings: tuple[str, ...] = field(default=())
    error: str | None = None


def analyze_sketch(gray: np.ndarray, name: str = "sketch") -> SketchAnalysis:
    """Find the strokes of a grayscale drawing (2-D array, any dtype, see ``as_gray_array``).

    - Polarity: strokes are thin and differ from the paper, the majority around them; if the
      thin features that stand out from the local majority are mostly lighter than it
      (``_stroke_sides``), the strokes are light on a dark background (chalkboard, dark-mode
      export, negative scan) and the image is inverted. Only the stroke colour is decided this
      way; the background is never redrawn or reconstructed.
    - Paper brightness: a morphological closing (it removes dark features narrower than ~8%
      of the image), computed at most ``WORK_SIDE`` pixels across, smoothed downward and scaled
      up, is the local paper (``_paper``). It follows shadows, gradients, tinted paper and a
      table around the paper: none of these is ink.
    - Strokes (``_strokes``): pixels clearly darker than their local paper, relative to its
      local noise, without specks; and dark filled regions wider than strokes (below ``SOLID``
      of the typical paper) unless they reach the image's edge (then they are background).
    - Lines check: see ``SketchAnalysis`` for the measures. Mostly filled or covering ink, or
      ink along a quarter of the image's edge, make an ``error``; partly filled or dense ink,
      noisy or textured paper, specks or some ink along the edge make warnings.

    Raises SketchInputError naming ``name`` only for an array that is not a 2-D image; problems
    of the drawing itself are returned in ``error`` and ``warnings``.
    """
    gray = as_gray_array(gray, name)
    darker, lighter = _stroke_sides(gray)
    inverted = lighter > darker
    image = 255.0 - gray.astype(np.float32) if inverted else gray.astype(np.float32)
    ink, blind = _strokes(image, _paper(image))
    return _check_lines(ink, blind, inverted, name)


def _work_scale(gray: np.ndarray) -> np.ndarray:
    h, w = gray.shape
    scale = min(1.0, WORK_SIDE / max(h, w))
    if scale == 1.0:
        return gray
    return cv2.resize(gray, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _kernel_side(small: np.ndarray) -> int:
    """Odd window side at work scale: 1/12 of the longer side, at least 15 pixels."""
    return int(max(15, round(max(small.shape) / 12)) | 1)


def _full_size(small: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if small.shape == shape:
        return small.astype(np.float32)
    return cv2.resize(small.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)


def _stroke_sides(gray: np.ndarray) -> tuple[float, float]:
    """(darker, lighter): how much a uint8 drawing has dark strokes / light strokes.

    Strokes are thin and differ from the paper, the majority around them. At most
    ``WORK_SIDE`` pixels across, a pixel counts as a dark stroke by how much it is both darker
    than the median over a window a quarter of the image wide and darker than the closing
    (black-hat: thin dark features only); likewise for light strokes with the opening
    (top-hat). Shadows, glare, a table around the paper and the paper itself are wide and count
    for neither; gaps and corners between strokes are paper-coloured and count for neither.
    """
    small = _work_scale(gray)
    value = small.astype(np.float32)
    median = cv2.medianBlur(small, int(max(15, max(small.shape) // 4) | 1)).astype(np.float32)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_kernel_side(small),) * 2)
    thin_dark = np.minimum(median - value, cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, kernel).astype(np.float32))
    thin_light = np.minimum(value - median, cv2.morphologyEx(small, cv2.MORPH_TOPHAT, kernel).astype(np.float32))
    noise = 1.4826 * float(np.median(np.abs(value - cv2.medianBlur(small, 3))))
    threshold = max(6.0, 4.0 * noise)
    return float(np.clip(thin_dark - threshold, 0, None).sum()), float(np.clip(thin_light - threshold, 0, None).sum())


def _paper(image: np.ndarray) -> np.ndarray:
    """float32 (H, W) local paper brightness (>= 1) of a float32 (H, W) dark-strokes image.

    A closing removes the strokes; smoothing it only downward (the minimum of it and its box
    blur) irons out its blocks without letting light paper leak into neighbouring dark areas,
    and so does a minimum filter over the pixels that scaling up interpolates.
    """
    small = _work_scale(np.clip(image, 0, 255).astype(np.uint8))
    side = _kernel_side(small)
    closed = cv2.morphologyEx(small, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))).astype(np.float32)
    smooth = np.minimum(closed, cv2.blur(closed, (side // 2 | 1, side // 2 | 1)))
    paper = _full_size(smooth, image.shape)
    step = int(np.ceil(max(image.shape) / max(small.shape)))
    if step > 1:  # scaling up blurs the paper's steps (a table's edge) by a pixel of the small image: keep them dark
        paper = cv2.erode(paper, np.ones((2 * step + 1, 2 * step + 1), np.uint8))
    return np.maximum(paper, 1.0)


def _strokes(image: np.ndarray, paper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ink, blind): bool (H, W) masks for a float32 (H, W) dark-strokes image with its ``_paper``:
    the strokes, and dark pixels (not ink) where the paper is too noisy or textured for
    strokes to be told apart (``weak_threshold`` of 1 or more).

    ``ratio`` = image / paper is ~1 on paper, in light and shadow alike. The envelope sits on
    the noise's peaks, so the paper's own level in ``ratio`` (a local median, clipped to
    0.7..1) and its local noise (from each pixel's difference to its 3 x 3 median, which flat
    strokes do not have; where the paper's level changes, the larger local mean deviation)
    set the thresholds: weak ink is 4 noise widths (at least 15 %) darker than the local
    paper, strong ink 6 widths (at least 20 %), both at least ``MIN_CONTRAST`` gray levels.
    Regions wider than strokes where the paper itself is darker than ``SOLID`` of the typical
    paper are filled regions when inside the picture (their dark pixels are ink) and background
    when they reach the image's edge (a table, a deep shadow). Weak ink is kept in connected
    pieces that hold strong ink (hysteresis, like Canny's) and are larger than a speck: 3
    pixels, 1e-5 of the image and ``SPECK`` of the largest piece.
    """
    ratio = image / paper
    small = _work_scale(np.clip(ratio * 200.0, 0, 255).astype(np.uint8))
    side = _kernel_side(small)
    median = _full_size(cv2.medianBlur(small, side), image.shape) / 200.0
    level = np.clip(median, 0.7, 1.0)
    relative = ratio / level
    darkness = 1.0 - relative
    # Noise from the difference to the 3 x 3 median: ~0 on flat paper and flat ink alike, so
    # dense strokes do not count as noise; its local median over single (not averaged) pixels.
    detail = np.abs(relative - cv2.medianBlur(relative.astype(np.float32), 3))
    sampled = cv2.resize(np.clip(detail * 500.0, 0, 255).astype(np.uint8), (small.shape[1], small.shape[0]), interpolation=cv2.INTER_NEAREST)
    window = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    # The median of a window on the edge of a noisy area is that of its quiet part: a maximum
    # over the window carries the noise of an area (a grainy table) to its edge.
    noise = _full_size(cv2.dilate(cv2.medianBlur(sampled, side), window), image.shape) / 500.0 / 0.58  # median |x - med3(x)| = 0.58 sigma
    # Where the paper's level changes (a table's edge) the local median lags: there, the mean
    # deviation from it, capped so that strokes barely count, widens the noise.
    deviation = np.abs(darkness - (1.0 - median / level))  # darkness is centered on 0 unless the level is clipped
    box = max(3, round(side * max(image.shape) / max(small.shape)))
    noise = np.maximum(noise, 1.25 * cv2.blur(np.minimum(deviation, 0.15), (box, box)))
    weak_threshold = np.maximum(4.0 * noise, 0.15)  # paper noisier than 25 % hides even black strokes
    strong_threshold = np.maximum(weak_threshold + 0.05, 6.0 * noise)
    contrast = paper * level - image >= MIN_CONTRAST  # a uniform or nearly black picture has no strokes
    typical = float(np.median(paper))
    dark_paper = paper < SOLID * typical  # wider than strokes: filled regions, a table, a deep shadow
    solid = dark_paper & ~_edge_background(dark_paper) & (image < SOLID * typical)  # filled regions inside the picture
    strong = ((darkness > strong_threshold) & contrast) | solid
    weak = ((darkness > weak_threshold) & contrast) | solid
    blind = (weak_threshold >= 1.0) & (darkness > 0.15) & contrast & ~weak
    count, labels, stats, _ = cv2.connectedComponentsWithStats(weak.astype(np.uint8), connectivity=8)
    if count <= 1:
        return weak, blind
    keep = np.zeros(count, dtype=bool)
    keep[np.unique(labels[strong])] = True
    keep[0] = False
    area = stats[:, cv2.CC_STAT_AREA]
    largest = int(area[keep].max()) if keep.any() else 0
    keep &= area >= max(3, 1e-5 * image.size, SPECK * largest)  # noise and texture specks
    return keep[labels], blind


def _edge_background(dark: np.ndarray) -> np.ndarray:
    """The parts of a bool (H, W) mask connected to the image's edge."""
    count, labels = cv2.connectedComponents(dark.astype(np.uint8), connectivity=8)
    if count <= 1:
        return np.zeros(dark.shape, dtype=bool)
    outside = np.zeros(count, dtype=bool)
    outside[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = True
    outside[0] = False
    return outside[labels]


def _check_lines(ink: np.ndarray, blind: np.ndarray, inverted: bool, name: str) -> SketchAnalysis:
    """The SketchAnalysis of the ink and the too-noisy dark pixels (bool (H, W) each)."""
    if ink.sum() < 10:
        return SketchAnalysis(ink, inverted, None, error=f"{name} has no strokes: expected dark strokes on a light background (or light strokes on a dark one)")
    lines = f"expected {ACCEPTED_DRAWINGS}"
    ys, xs = np.nonzero(ink)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
    x0, y0, x1, y1 = bbox
    crop = np.pad(ink[y0 : y1 + 1, x0 : x1 + 1].astype(np.uint8), 1)
    side = max(crop.shape) - 2
    count = int(crop.sum())
    cover = count / side**2
    depth = cv2.distanceTransform(crop, cv2.DIST_L2, 3)
    filled = float((depth[crop > 0] > max(3.0, 0.03 * side)).mean())
    n, _, stats, _ = cv2.connectedComponentsWithStats(crop, connectivity=8)
    extent = np.maximum(stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT])
    speckle = float(stats[1:, cv2.CC_STAT_AREA][extent < 0.05 * side].sum()) / count if n > 21 else 0.0
    edge = float(np.concatenate([ink[0], ink[-1], ink[1:-1, 0], ink[1:-1, -1]]).mean())
    blind_fraction = float(blind[y0 : y1 + 1, x0 : x1 + 1].sum()) / side**2
    warnings, error = [], None
    if filled > FILLED_REFUSE or cover > COVER_REFUSE:
        error = (f"{name} looks like a filled region or a photo, not a line drawing: {filled:.0%} of its ink is far inside ink and "
                 f"its ink covers {cover:.0%} of its bounding square; {lines}, cropped to the paper")
    elif edge > EDGE_REFUSE:
        error = f"{name} has ink along {edge:.0%} of its edge, as when a photo shows a dark table or the paper's edge: crop it to the paper; {lines}"
    else:
        if edge > EDGE_WARN:
            warnings.append(f"{name}: ink runs along {edge:.0%} of the image's edge; if the photo shows the table or the paper's edge, crop it to the paper")
        if filled > FILLED_WARN:
            warnings.append(f"{name}: {filled:.0%} of the ink is far inside filled areas; the shape is read from lines, so filled areas are thinned to their middle")
        if cover > COVER_WARN:
            warnings.append(f"{name}: the ink covers {cover:.0%} of its bounding square, much more than a line drawing; it may include a photo's texture or shading")
        if blind_fraction > BLIND_WARN:
            warnings.append(f"{name}: {blind_fraction:.0%} of the drawing's bounding square is too noisy or textured to find strokes in; it was skipped")
        if side < SMALL_WARN:
            warnings.append(f"{name}: the drawing is only {x1 - x0 + 1} x {y1 - y0 + 1} pixels, too small for thin parts such as legs and slats "
                            f"to come through; draw, scan or export it at {4 * SMALL_WARN} pixels or more")
        if speckle > SPECKLE_WARN:
            warnings.append(f"{name}: {speckle:.0%} of the ink is small separate specks, which looks like a photo's texture or noise rather than strokes")
    return SketchAnalysis(ink, inverted, bbox, cover, filled, blind_fraction, speckle, edge, tuple(warnings), error)


# ----------------------------------------------------------------------------------------------
# Redrawing in the training form


def normalize_sketch(gray: np.ndarray, framing: Framing = Framing(), name: str = "sketch") -> np.ndarray:
    """uint8 (R, R) sketch in the training form (ink 0 on white 255, R = framing.resolution)
    from a grayscale drawing (2-D array; uint8 0 black .. 255 white, other dtypes see
    ``as_gray_array``), via ``analyze_sketch``; its warnings are logged.

    Raises SketchInputError naming ``name`` when the drawing has no strokes or is not a line drawing.
    """
    analysis = analyze_sketch(gray, name)
    for warning in analysis.warnings:
        log.warning("%s", warning)
    return sketch_from_analysis(analysis, framing)


def sketch_from_analysis(analysis: SketchAnalysis, framing: Framing = Framing()) -> np.ndarray:
    """uint8 (R, R) training-form sketch from the strokes of an ``analyze_sketch`` result
    (for callers that show its warnings); SketchInputError with ``analysis.error`` if it has one."""
    if analysis.error is not None or analysis.bbox is None:
        raise SketchInputError(analysis.error or "the drawing has no strokes")
    x0, y0, x1, y1 = analysis.bbox
    crop = analysis.ink[y0 : y1 + 1, x0 : x1 + 1]
    res = framing.resolution
    scale = framing.size * res / max(crop.shape)
    # Thin the strokes to one-pixel lines, bring them to the training scale and thin again, so that
    # lines stay connected at any scale:
    # * shrinking: every skeleton pixel goes to the output pixel it falls in. Neighbouring pixels land
    #   on the same or neighbouring pixels, so a connected line stays connected. (Averaging the
    #   skeleton with INTER_AREA and thresholding it dropped diagonal lines that straddle two output
    #   pixels: a 512 px drawing with 4 px strokes came out dashed, a leg missing.)
    # * enlarging: the lines are scaled as an image (linear), pinholes closed. (Scaling the points
    #   left dotted lines when enlarging by 1.5x, e.g. a 128 px drawing onto 256 px.)
    skeleton = skeletonize(crop)
    width, height = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    if scale > 1:
        resized = cv2.resize(skeleton.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR) > 0.5
        lines = cv2.morphologyEx(resized.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))) > 0
    else:
        ys, xs = np.nonzero(skeleton)
        lines = np.zeros((height, width), dtype=bool)
        lines[np.minimum((ys + 0.5) * height / crop.shape[0], height - 1).astype(np.int64), np.minimum((xs + 0.5) * width / crop.shape[1], width - 1).astype(np.int64)] = True
    lines = skeletonize(lines)
    out = np.zeros((res, res), dtype=np.uint8)
    cx, cy = framing.center[0] * res, framing.center[1] * res
    left, top = int(round(cx - width / 2)), int(round(cy - height / 2))
    ys, xs = np.nonzero(lines)
    keep = (ys + top >= 0) & (ys + top < res) & (xs + left >= 0) & (xs + left < res)
    out[ys[keep] + top, xs[keep] + left] = 1
    if framing.stroke_width > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (framing.stroke_width, framing.stroke_width))
        out = cv2.dilate(out, kernel)
    return np.where(out > 0, INK, PAPER).astype(np.uint8)
