"""normalize_sketch keeps lines connected whatever the scale (a small drawing enlarged by 1.5x
used to come out dotted: 252 pieces instead of one connected chair, and no enclosed outline)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from sketch2shape.data.user_sketch import Framing, normalize_sketch


def drawing(size: int) -> np.ndarray:
    """A chair-like line drawing (one connected figure with enclosed areas) on white, ``size`` px."""
    image = np.full((size, size), 255, np.uint8)
    s = size / 100.0
    pts = lambda *p: np.array([[int(x * s), int(y * s)] for x, y in p], np.int32)  # noqa: E731
    cv2.polylines(image, [pts((30, 10), (60, 15), (60, 55), (30, 50))], True, 0, max(1, int(s)))  # back
    cv2.polylines(image, [pts((30, 50), (60, 55), (75, 60), (45, 55))], True, 0, max(1, int(s)))  # seat
    for x0, y0 in ((30, 50), (45, 55), (60, 55), (75, 60)):
        cv2.line(image, (int(x0 * s), int(y0 * s)), (int(x0 * s), int((y0 + 35) * s)), 0, max(1, int(s)))  # legs
    return image


@pytest.mark.parametrize("size", [64, 100, 128, 256, 900])
def test_lines_stay_connected_and_enclose_areas_at_any_scale(size: int) -> None:
    sketch = normalize_sketch(drawing(size), Framing())
    ink = (sketch < 128).astype(np.uint8)
    count, _ = cv2.connectedComponents(ink, connectivity=8)
    assert count - 1 == 1, f"{count - 1} pieces"
    contours, _ = cv2.findContours(ink, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(ink)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    assert filled.sum() > 2.0 * ink.sum()  # the back and the seat enclose areas
    ys, xs = np.nonzero(ink)
    assert abs((max(ys.max() - ys.min(), xs.max() - xs.min()) + 1) / 256 - 0.6) < 0.03  # framed to the training size
