"""A tiny synthetic dataset in the preprocessed layout (PNG normal maps + sketches), for fast tests.

Shape ``i`` is an ellipse-and-bar silhouette with its own proportions; view ``v`` rotates it
in-plane and shades it with a view-dependent normal, so views of one shape look alike and
shapes differ. Sketches come from the real synthetic-sketch code.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import write_metainfo
from sketch2shape.render.sketch import SketchSettings, sketch_from_normal_map
from sketch2shape.utils.io import save_image, write_json


def normal_map(shape: int, view: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(shape)
    axes = (int(size * rng.uniform(0.15, 0.35)), int(size * rng.uniform(0.1, 0.3)))
    bar = int(size * rng.uniform(0.05, 0.2))
    mask = np.zeros((size, size), np.uint8)
    center = (size // 2, size // 2)
    angle = 15.0 * view + 40.0 * shape
    cv2.ellipse(mask, center, axes, angle, 0, 360, 1, -1)
    cv2.rectangle(mask, (center[0] - bar // 2, center[1]), (center[0] + bar // 2, size - 3), 1, -1)
    theta = np.radians(30.0 * view)
    normal = np.array([np.sin(theta) * 0.6, 0.3, np.cos(theta) * 0.6 + 0.2])
    normal /= np.linalg.norm(normal)
    image = np.full((size, size, 3), 255, np.uint8)
    image[mask > 0] = np.round((normal + 1) / 2 * 255).astype(np.uint8)
    # A second face with another normal, so there is a crease line inside the silhouette.
    lower = (mask > 0) & (np.arange(size)[:, None] > center[1] + axes[1] // 2)
    other = np.array([0.0, -0.7, 0.7])
    image[lower] = np.round((other + 1) / 2 * 255).astype(np.uint8)
    return image


def write_tiny_dataset(root: Path, splits: dict[str, int], views: int = 4, size: int = 32) -> DatasetLayout:
    """``root/shapes/<id>/{normals,sketches}/0000v.png`` + metainfo.csv + cameras.json."""
    layout = DatasetLayout(Path(root))
    rows = []
    for split in ("train", "val", "test"):
        for _ in range(splits.get(split, 0)):
            rows.append((f"shape_{len(rows):03d}", len(rows), split))
    for obj_id, label, _ in rows:
        files = layout.shape(obj_id)
        for view in range(views):
            image = normal_map(label, view, size)
            save_image(files.normal_map(view), image)
            save_image(files.sketch(view), sketch_from_normal_map(image, SketchSettings(stroke_width=1)))
    write_metainfo(layout.metainfo, pd.DataFrame(rows, columns=["obj_id", "label", "split"]))
    write_json(layout.cameras, [{"azimuth_deg": 360.0 * v / views, "elevation_deg": 20.0} for v in range(views)])
    return layout


TINY_NET = {
    "image_size": 32,
    "embedding_dim": 16,
    "encoder": {"_target_": "sketch2shape.models.siamese.ResNetEncoder", "widths": [8, 16], "blocks": [1, 1], "pool_size": 2},
}
