"""Sketch images as people make them (issue 14, items 5-8): each test covers a kind of input.

- polarity: light strokes on a dark background (digital, chalkboard, negative scan, dark-mode
  export on transparency) are found as strokes, never as a reconstructed background;
- orientation: every EXIF orientation 1-8 (phones store pixels sideways and tag them);
- bit depth and colour mode: 16-bit, 32-bit int, float, 1-bit, palette, alpha, CMYK, ... are scaled
  by their type's range (a 16-bit PNG used to be refused as "has no strokes");
- lighting: grey paper with a soft shadow; the strokes' crop must not grow into the shadow;
- lines check: filled regions, photo texture, dense hatching and dark strips along the edge are
  refused or warned about; a table around the paper is background; clean line drawings pass.
"""

from __future__ import annotations

import io
import logging

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from sketch2shape.data.user_sketch import (
    Framing,
    SketchInputError,
    analyze_sketch,
    as_gray_array,
    image_to_gray,
    normalize_sketch,
    read_sketch_file,
    sketch_from_analysis,
)

BOX = (90, 60, 170, 200)  # x0, y0, x1, y1 of the strokes of box_strokes()


def box_strokes(shape=(256, 256), box=BOX, width=2) -> np.ndarray:
    """bool mask of a box outline with a crossbar; its bounding box is ``box`` (inclusive)."""
    mask = np.zeros(shape, np.uint8)
    x0, y0, x1, y1 = box
    inner = width // 2  # cv2 draws thick lines centered on the path: keep the outer edge on ``box``
    cv2.rectangle(mask, (x0 + inner, y0 + inner), (x1 - inner, y1 - inner), 1, width)
    cv2.line(mask, (x0, (y0 + y1) // 2), (x1, (y0 + y1) // 2), 1, width)
    return mask > 0


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(mask)
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def dark_on_light(strokes: np.ndarray, paper=255, ink=0) -> np.ndarray:
    return np.where(strokes, ink, paper).astype(np.uint8)


def assert_bbox(found, expected, tol=2):
    assert found is not None
    assert np.abs(np.subtract(found, expected)).max() <= tol, f"bbox {found} != {expected}"


def assert_same_sketch(out: np.ndarray, reference: np.ndarray, tol=3):
    """Two normalized sketches with the same framing and about as much ink (no extra background)."""
    assert out.shape == reference.shape and out.dtype == np.uint8 and set(np.unique(out)) <= {0, 255}
    assert_bbox(bbox(out == 0), bbox(reference == 0), tol)
    assert (out == 0).sum() == pytest.approx((reference == 0).sum(), rel=0.25)


def photo(shape=(600, 800), box=(200, 130, 430, 370), paper=165.0, pencil=0.55, shadow=0.55, corner=(1, 1), noise=4.0, seed=0):
    """A phone photo of a pencil box on grey paper: paper texture, a soft shadow over one corner
    (the paper there down to ``shadow`` of its brightness), sensor noise. Returns (uint8 image, strokes)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    distance = np.hypot(xx - corner[0] * w, yy - corner[1] * h) / np.hypot(w, h)
    light = 1.0 - (1.0 - shadow) * np.clip((0.55 - distance) / 0.3, 0, 1) ** 1.5
    grain = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), 3) * 0.1
    strokes = box_strokes(shape, box, width=3)
    image = paper * light * (1.0 + grain) * np.where(strokes, pencil, 1.0)
    image = image + rng.normal(0.0, noise, shape)
    return np.clip(image, 0, 255).astype(np.uint8), strokes


# ---------------------------------------------------------------------------------------------
# 5. Polarity


def chalkboard(shape=(480, 640), seed=1):
    """RGB photo of chalk lines on a dark green board: blurred chalk, uneven chalk, board noise."""
    rng = np.random.default_rng(seed)
    strokes = box_strokes(shape, (220, 100, 420, 380), width=5)
    board = np.array([40, 62, 48], np.float32)
    chalk = np.array([225, 228, 215], np.float32) * rng.uniform(0.8, 1.0, shape)[..., None]
    image = np.where(strokes[..., None], chalk, board)
    image = cv2.GaussianBlur(image, (0, 0), 1.0) + rng.normal(0, 8, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), strokes


def test_white_strokes_on_black_are_inverted_to_the_same_sketch():
    strokes = box_strokes()
    reference = normalize_sketch(dark_on_light(strokes))
    analysis = analyze_sketch(dark_on_light(strokes, paper=0, ink=255))
    assert analysis.polarity_inverted and analysis.error is None and not analysis.warnings
    assert_bbox(analysis.bbox, BOX)
    np.testing.assert_array_equal(analysis.ink, strokes)  # the strokes, not the background around them
    assert_same_sketch(normalize_sketch(dark_on_light(strokes, paper=0, ink=255)), reference, tol=0)


def test_chalkboard_photo_is_read_as_its_chalk_lines():
    image, strokes = chalkboard()
    gray = image_to_gray(Image.fromarray(image, "RGB"), "board.jpg")
    analysis = analyze_sketch(gray, "board.jpg")
    assert analysis.polarity_inverted and analysis.error is None and not analysis.warnings
    assert_bbox(analysis.bbox, bbox(strokes))
    assert analysis.ink.sum() == pytest.approx(strokes.sum(), rel=0.3)
    assert_same_sketch(normalize_sketch(gray), normalize_sketch(dark_on_light(strokes)))


def test_negative_of_a_photo_is_inverted_and_its_shadow_stays_paper():
    image, strokes = photo()
    analysis = analyze_sketch(255 - image)
    assert analysis.polarity_inverted and analysis.error is None
    assert_bbox(analysis.bbox, bbox(strokes))


def test_dark_mode_export_light_strokes_on_transparency(tmp_path):
    strokes = box_strokes()
    rgba = np.zeros((*strokes.shape, 4), np.uint8)
    rgba[strokes] = (235, 235, 240, 255)  # light strokes, everything else fully transparent
    path = tmp_path / "dark_mode.png"
    Image.fromarray(rgba, "RGBA").save(path)
    gray = read_sketch_file(path)
    analysis = analyze_sketch(gray)
    assert analysis.polarity_inverted
    np.testing.assert_array_equal(analysis.ink, strokes)
    assert_same_sketch(normalize_sketch(gray), normalize_sketch(dark_on_light(strokes)), tol=0)


@pytest.mark.parametrize("case", ["training", "photo", "photo_with_glare", "grey_strokes_on_white"])
def test_dark_strokes_on_light_paper_are_not_inverted(case):
    strokes = box_strokes()
    if case == "training":
        gray = dark_on_light(strokes)
    elif case == "grey_strokes_on_white":
        gray = dark_on_light(strokes, ink=150)
    else:
        gray, strokes = photo()
        if case == "photo_with_glare":  # a bright reflection next to the drawing on glossy paper
            yy, xx = np.mgrid[0 : gray.shape[0], 0 : gray.shape[1]]
            gray = np.clip(gray + 70.0 * np.exp(-((xx - 600) ** 2 + (yy - 150) ** 2) / (2 * 120.0**2)), 0, 255).astype(np.uint8)
    analysis = analyze_sketch(gray)
    assert not analysis.polarity_inverted and analysis.error is None and not analysis.warnings
    assert_bbox(analysis.bbox, bbox(strokes))


# ---------------------------------------------------------------------------------------------
# 6. EXIF orientation

# Per the EXIF specification: how to turn the stored pixels upright for each orientation tag.
UPRIGHT = {
    1: lambda a: a,
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.T,  # transpose
    6: lambda a: np.rot90(a, -1),  # rotate 90 degrees clockwise
    7: lambda a: np.rot90(a, 2).T,  # transverse
    8: lambda a: np.rot90(a, 1),  # rotate 90 degrees counterclockwise
}
STORED = {k: f for k, f in UPRIGHT.items()}  # mirrors, 180, (anti)transpose are their own inverse ...
STORED[6], STORED[8] = UPRIGHT[8], UPRIGHT[6]  # ... the quarter turns are each other's


def asymmetric_drawing() -> np.ndarray:
    """48 x 80 picture that differs from each of its mirror images and rotations."""
    image = np.full((48, 80), 255, np.uint8)
    image[4:28, 4:12] = 0  # a tall dark bar at the top left
    image[32:44, 40:76] = 100  # a wide grey block at the bottom right
    return image


def test_the_orientation_table_is_consistent():
    upright = asymmetric_drawing()
    for k in UPRIGHT:
        np.testing.assert_array_equal(UPRIGHT[k](STORED[k](upright)), upright)
    assert len({UPRIGHT[k](upright).tobytes() + bytes(UPRIGHT[k](upright).shape) for k in UPRIGHT}) == 8


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_honoured(tmp_path, orientation, fmt):
    upright = asymmetric_drawing()
    stored = Image.fromarray(np.ascontiguousarray(STORED[orientation](upright)))
    exif = Image.Exif()
    exif[0x0112] = orientation  # Orientation
    path = tmp_path / f"phone_{orientation}.{fmt.lower()}"
    stored.save(path, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    for gray in (read_sketch_file(path), image_to_gray(Image.open(io.BytesIO(path.read_bytes())), "upload")):  # CLI and app paths
        assert gray.shape == upright.shape
        assert np.abs(gray.astype(int) - upright).mean() < 4


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_a_broken_exif_block_does_not_refuse_the_picture(tmp_path):
    path = tmp_path / "broken_exif.jpg"
    Image.fromarray(asymmetric_drawing()).save(path, quality=95, exif=b"Exif\x00\x00MM\x00*garbage")
    gray = read_sketch_file(path)
    assert gray.shape == (48, 80)


# ---------------------------------------------------------------------------------------------
# 7. Bit depth and colour mode

PAPER_8, INK_8 = 230, 50  # the reference drawing's levels; scaled pictures must come back to these


def reference_gray() -> np.ndarray:
    return dark_on_light(box_strokes(), paper=PAPER_8, ink=INK_8)


def in_mode(mode: str) -> Image.Image:
    """The reference drawing in ``mode``, its values spread over that mode's range."""
    gray = reference_gray()
    level = gray.astype(np.float64) / 255.0
    if mode == "I;16":
        return Image.fromarray(np.rint(level * 65535).astype(np.uint16))
    if mode == "I;16B":
        return Image.fromarray(np.rint(level * 65535).astype(">u2"))
    if mode == "I (16-bit values)":
        return Image.fromarray(np.rint(level * 65535).astype(np.int32))
    if mode == "I (8-bit values)":
        return Image.fromarray(gray.astype(np.int32))
    if mode == "F (0..1)":
        return Image.fromarray(level.astype(np.float32))
    if mode == "F (0..255)":
        return Image.fromarray(gray.astype(np.float32))
    if mode == "RGBA on transparency":
        rgba = np.zeros((*gray.shape, 4), np.uint8)
        rgba[gray == INK_8] = (INK_8, INK_8, INK_8, 255)
        return Image.fromarray(rgba, "RGBA")
    return Image.fromarray(gray).convert(mode)


FILE_MODES = [  # (mode, file format): what scanners, phones, editors and exporters write
    ("I;16", "PNG"), ("I;16", "TIFF"), ("I;16B", "TIFF"), ("I (16-bit values)", "TIFF"), ("I (8-bit values)", "TIFF"),
    ("F (0..1)", "TIFF"), ("F (0..255)", "TIFF"), ("1", "PNG"), ("1", "BMP"), ("L", "PNG"), ("P", "PNG"), ("P", "GIF"),
    ("LA", "PNG"), ("RGBA", "PNG"), ("RGBA on transparency", "PNG"), ("RGB", "JPEG"), ("CMYK", "JPEG"), ("CMYK", "TIFF"),
    ("YCbCr", "JPEG"), ("LAB", "TIFF"),
]


@pytest.mark.parametrize("mode,fmt", FILE_MODES, ids=[f"{m}-{f}" for m, f in FILE_MODES])
def test_any_bit_depth_and_mode_reads_as_the_same_drawing(tmp_path, mode, fmt):
    path = tmp_path / f"drawing.{fmt.lower()}"
    in_mode(mode).save(path, fmt)
    gray = read_sketch_file(path)
    strokes = box_strokes()
    assert gray.dtype == np.uint8 and gray.shape == strokes.shape
    if mode == "1":  # 1-bit: PIL dithers the reference, so only black and white are left
        assert set(np.unique(gray)) <= {0, 255}
    else:
        paper = 255 if mode == "RGBA on transparency" else PAPER_8
        tol = 6 if fmt == "JPEG" or mode == "LAB" else 1  # LAB: lightness L* is not luminance, but close
        assert abs(float(np.median(gray[~strokes])) - paper) <= tol
        assert abs(float(np.median(gray[strokes])) - INK_8) <= tol
        analysis = analyze_sketch(gray, str(path))
        assert not analysis.polarity_inverted and analysis.error is None and not analysis.warnings
        assert_bbox(analysis.bbox, BOX, tol=1)
        assert_same_sketch(normalize_sketch(gray), normalize_sketch(dark_on_light(strokes)), tol=1)


@pytest.mark.parametrize("mode", ["PA", "La", "RGBa", "HSV", "I;16L"])
def test_modes_without_a_file_format_read_as_the_same_drawing(mode):
    """Modes PIL images can have in memory (the app decodes uploads into them) but few formats store."""
    rgba = Image.fromarray(reference_gray()).convert("RGBA")
    image = {"PA": lambda: rgba.convert("P").convert("PA"), "La": lambda: rgba.convert("La"), "RGBa": lambda: rgba.convert("RGBa"),
             "HSV": lambda: rgba.convert("RGB").convert("HSV"), "I;16L": lambda: Image.frombytes("I;16L", (256, 256), np.asarray(in_mode("I;16")).astype("<u2").tobytes())}[mode]()
    assert image.mode == mode
    gray = image_to_gray(image, "upload")
    strokes = box_strokes()
    assert abs(float(np.median(gray[~strokes])) - PAPER_8) <= 1 and abs(float(np.median(gray[strokes])) - INK_8) <= 1


def test_16_bit_pencil_scan_is_no_longer_refused(tmp_path):
    """Paper ~60000 and pencil ~15000 of 65535: clipping to 8 bits made both white ("has no strokes")."""
    strokes = box_strokes()
    rng = np.random.default_rng(3)
    scan = np.where(strokes, 15000, 60000) + rng.normal(0, 300, strokes.shape)
    path = tmp_path / "scan16.png"
    Image.fromarray(np.clip(scan, 0, 65535).astype(np.uint16)).save(path)
    assert Image.open(path).mode.startswith("I")
    gray = read_sketch_file(path)
    assert abs(float(np.median(gray[~strokes])) - 60000 / 257) <= 1
    assert abs(float(np.median(gray[strokes])) - 15000 / 257) <= 1
    assert_same_sketch(normalize_sketch(gray, name=str(path)), normalize_sketch(dark_on_light(strokes)), tol=1)


@pytest.mark.parametrize("dtype", ["uint16", "float32 0..1", "float64 0..255", "int32 0..65535", "bool"])
def test_arrays_of_any_dtype_are_scaled_by_their_range(dtype):
    strokes = box_strokes()
    level = dark_on_light(strokes, PAPER_8, INK_8).astype(np.float64) / 255.0
    array = {
        "uint16": lambda: np.rint(level * 65535).astype(np.uint16),
        "float32 0..1": lambda: level.astype(np.float32),
        "float64 0..255": lambda: level * 255.0,
        "int32 0..65535": lambda: np.rint(level * 65535).astype(np.int32),
        "bool": lambda: ~strokes,
    }[dtype]()
    gray = as_gray_array(array)
    expected = dark_on_light(strokes) if dtype == "bool" else dark_on_light(strokes, PAPER_8, INK_8)
    assert gray.dtype == np.uint8 and np.abs(gray.astype(int) - expected).max() <= 1
    assert_same_sketch(normalize_sketch(array), normalize_sketch(dark_on_light(strokes)), tol=0)


def test_unusable_arrays_and_files_are_refused_with_what_is_accepted(tmp_path):
    with pytest.raises(SketchInputError, match=r"drawing\.npy is a 3-D array .* expected a 2-D"):
        normalize_sketch(np.zeros((8, 8, 3), np.uint8), name="drawing.npy")
    with pytest.raises(SketchInputError, match="drawing.npy is an empty image"):
        analyze_sketch(np.zeros((0, 5), np.uint8), name="drawing.npy")
    bad = tmp_path / "notes.txt"
    bad.write_text("not an image")
    with pytest.raises(SketchInputError, match=r"notes\.txt is not an image PIL can read: expected .*PNG, JPEG, TIFF"):
        read_sketch_file(bad)
    for value in (0, 128, 255):  # a uniform picture, dark or light, has no strokes
        with pytest.raises(SketchInputError, match=r"blank\.png has no strokes: expected dark strokes on a light background"):
            normalize_sketch(np.full((60, 90), value, np.uint8), name="blank.png")


# ---------------------------------------------------------------------------------------------
# 8. Uneven lighting and paper tone


@pytest.mark.parametrize(
    "variant",
    [
        {},  # grey paper, soft shadow over the bottom right corner down to 55 %
        {"corner": (0, 0), "shadow": 0.45},  # a deeper shadow over the top left corner
        {"pencil": 0.75},  # light pencil
        {"noise": 10.0},  # a noisy, dim photo
        {"paper": 215.0, "corner": (1, 0), "jpeg": True},  # light paper, shadow top right, saved as JPEG
    ],
    ids=["shadow", "deep_shadow_other_corner", "light_pencil", "noisy", "jpeg"],
)
def test_shadow_and_paper_tone_are_not_ink(variant):
    variant = dict(variant)
    jpeg = variant.pop("jpeg", False)
    image, strokes = photo(**variant)
    if jpeg:
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=80)
        image = image_to_gray(Image.open(buffer), "photo.jpg")
    # The fixture is a real trap: a global (Otsu) threshold takes the shadow as ink.
    otsu = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[0]
    assert not np.allclose(bbox(image < otsu), bbox(strokes), atol=20)
    analysis = analyze_sketch(image, "photo.jpg")
    assert not analysis.polarity_inverted and analysis.error is None and not analysis.warnings
    assert_bbox(analysis.bbox, bbox(strokes))
    assert (analysis.ink & ~cv2.dilate(strokes.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)).sum() == 0
    assert analysis.ink[strokes].mean() > 0.9
    clean = dark_on_light(strokes)
    assert_same_sketch(normalize_sketch(image), normalize_sketch(clean))


def test_a_big_phone_photo_is_handled_at_full_resolution():
    image, strokes = photo(shape=(2400, 3200), box=(800, 520, 1720, 1480), seed=5)
    analysis = analyze_sketch(image)
    assert analysis.error is None and not analysis.warnings
    assert_bbox(analysis.bbox, bbox(strokes))


# ---------------------------------------------------------------------------------------------
# Lines check: filled regions, texture, the table around the paper


def chair(fill=None, width=4, size=400) -> np.ndarray:
    """A chair in dark strokes on white (back, seat, four legs); ``fill`` fills back and seat."""
    image = Image.new("L", (size, size), 255)
    draw = ImageDraw.Draw(image)
    s = size / 400
    draw.rectangle((130 * s, 60 * s, 270 * s, 190 * s), outline=0, width=width, fill=fill)
    draw.polygon([(130 * s, 190 * s), (270 * s, 190 * s), (300 * s, 230 * s), (100 * s, 230 * s)], outline=0, width=width, fill=fill)
    for x0, x1 in ((105, 110), (295, 290), (140, 145), (265, 260)):
        draw.line((x0 * s, 230 * s, x1 * s, 340 * s), fill=0, width=width)
    return np.asarray(image)


@pytest.mark.parametrize(
    "case",
    ["training", "chair", "bold_chair", "big_chair", "straight_line", "thick_strokes_big_page"],
)
def test_line_drawings_pass_without_warnings(case):
    if case == "training":
        gray = dark_on_light(box_strokes())
    elif case == "chair":
        gray = chair()
    elif case == "bold_chair":
        gray = chair(width=16)
    elif case == "big_chair":
        gray = chair(width=8, size=1600)
    elif case == "straight_line":
        gray = np.pad(np.zeros((3, 200), np.uint8), 50, constant_values=255)
    else:  # as in test_user_sketch: 9 px strokes on a 1300 x 1000 page
        gray = cv2.resize(dark_on_light(box_strokes()), (900, 700), interpolation=cv2.INTER_NEAREST)
        gray = np.pad(cv2.erode(gray, np.ones((9, 9), np.uint8)), ((10, 300), (400, 5)), constant_values=255)
    analysis = analyze_sketch(gray)
    assert analysis.error is None and analysis.warnings == ()
    assert analysis.filled_fraction < 0.3 and analysis.cover_fraction < 0.35 and analysis.edge_fraction == 0


@pytest.mark.parametrize("size, warned", [(60, True), (80, True), (120, False), (400, False)])
def test_a_drawing_too_small_for_its_details_is_used_with_a_warning(size, warned):
    """A chair drawn 42-56 px tall (on a 60-80 px image) loses its legs when enlarged to the
    training framing: it is still used, with a warning that names it and says what size helps."""
    analysis = analyze_sketch(chair(width=1, size=size), "tiny.png")
    assert analysis.error is None
    small = [w for w in analysis.warnings if "too small" in w]
    assert bool(small) == warned, analysis.warnings
    assert len(analysis.warnings) == len(small)  # nothing else about it is doubted
    if warned:
        assert small[0].startswith("tiny.png: the drawing is only") and "256 pixels or more" in small[0]


def test_a_filled_silhouette_is_refused():
    with pytest.raises(SketchInputError, match=r"silhouette\.png looks like a filled region or a photo, not a line drawing.*expected line strokes"):
        normalize_sketch(chair(fill=0), name="silhouette.png")
    analysis = analyze_sketch(chair(fill=0), "silhouette.png")
    assert analysis.filled_fraction > 0.6 and analysis.error


def test_a_partly_filled_drawing_is_used_with_a_warning(caplog):
    gray = dark_on_light(box_strokes((300, 300), (40, 40, 240, 240)))
    gray[150:210, 100:160] = 0  # one filled square inside the outline, wider than strokes
    analysis = analyze_sketch(gray, "shaded.png")
    assert analysis.error is None and 0.3 < analysis.filled_fraction < 0.6
    assert analysis.ink[150:210, 100:160].all()  # the fill is ink (thinned to its middle later), not paper
    assert_bbox(analysis.bbox, (40, 40, 240, 240))
    assert any(w.startswith("shaded.png:") and "filled" in w for w in analysis.warnings)
    with caplog.at_level(logging.WARNING, logger="sketch2shape.data.user_sketch"):
        out = normalize_sketch(gray, Framing(), "shaded.png")
    assert out.shape == (256, 256) and "filled" in caplog.text
    np.testing.assert_array_equal(sketch_from_analysis(analysis), out)


def test_filled_blobs_narrower_than_the_paper_window_are_warned_about():
    gray = np.full((400, 400), 255, np.uint8)
    cv2.rectangle(gray, (150, 150), (250, 250), 0, 2)
    for center in ((150, 150), (250, 150), (150, 250), (250, 250)):
        cv2.circle(gray, center, 14, 0, -1)  # a blob on each corner, as wide as a thick stroke
    analysis = analyze_sketch(gray, "blobs.png")
    assert analysis.error is None and 0.3 < analysis.filled_fraction < 0.6
    assert any(w.startswith("blobs.png:") and "far inside filled areas" in w for w in analysis.warnings)


def test_photo_texture_is_warned_about():
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur(rng.standard_normal((400, 500)).astype(np.float32), (0, 0), 2)
    gray = np.full((600, 700), 200, np.uint8)
    gray[100:500, 100:600] = np.where(texture > 0.15, 60, 200)  # wood grain, fabric, gravel ...
    analysis = analyze_sketch(gray, "table.jpg")
    assert analysis.speckle_fraction > 0.5
    assert any("texture" in w for w in analysis.warnings)


def test_densely_hatched_areas_are_read_as_ink_with_a_warning():
    gray = np.full((500, 500), 250, np.uint8)
    for x in range(100, 400, 6):
        cv2.line(gray, (x, 100), (x, 400), 20, 2)  # half of the area is ink
    analysis = analyze_sketch(gray, "hatched.png")
    assert analysis.error is None and 0.35 < analysis.cover_fraction < 0.6
    assert any(w.startswith("hatched.png:") and "covers" in w for w in analysis.warnings)


def test_noisy_paper_inside_the_drawing_is_skipped_with_a_warning():
    gray = dark_on_light(box_strokes((300, 300), (40, 40, 240, 240)))
    rng = np.random.default_rng(1)
    gray[90:190, 90:190] = np.clip(rng.normal(200, 80, (100, 100)), 0, 255)  # a patch of heavy sensor noise or fabric
    analysis = analyze_sketch(gray, "fabric.jpg")
    assert analysis.error is None and analysis.blind_fraction > 0.05
    assert not analysis.ink[100:180, 100:180].any()
    assert_bbox(analysis.bbox, (40, 40, 240, 240))
    assert any(w.startswith("fabric.jpg:") and "too noisy or textured" in w for w in analysis.warnings)


@pytest.mark.parametrize("table", [0, 35, 60])
def test_a_table_around_the_paper_is_background(table):
    image, strokes = photo()
    rng = np.random.default_rng(table)
    around = np.zeros(image.shape, bool)
    around[:70] = around[:, :90] = True  # the table shows above and left of the paper
    image = np.where(around, np.clip(table + rng.normal(0, 8, image.shape), 0, 255), image).astype(np.uint8)
    analysis = analyze_sketch(image, "desk.jpg")
    assert analysis.error is None and not analysis.warnings
    assert_bbox(analysis.bbox, bbox(strokes))


def test_a_dark_strip_along_the_edge_is_refused_or_warned_about():
    image, _ = photo()
    image[:12] = image[:, :12] = 20  # a sliver of dark table, as narrow as a stroke, along two sides
    with pytest.raises(SketchInputError, match=r"desk\.jpg has ink along 51% of its edge.*crop it to the paper"):
        normalize_sketch(image, name="desk.jpg")
    image, strokes = photo()
    image[:12, :300] = 20  # along part of one side only
    analysis = analyze_sketch(image, "desk.jpg")
    assert analysis.error is None and 0.05 < analysis.edge_fraction < 0.25
    assert any("crop it to the paper" in w for w in analysis.warnings)
