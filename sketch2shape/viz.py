"""Pictures of results: mesh renders, image grids, training and optimization curves, retrieval galleries.

Layer (``tests/test_import_layers.py``): above :mod:`sketch2shape.render` and :mod:`sketch2shape.utils`,
which it uses, beside :mod:`sketch2shape.data`, and below the models, optimizers, evaluations and
commands, which draw with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import trimesh

from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import normals_to_image, to_uint8
from sketch2shape.utils.io import save_figure, save_image

PREVIEW_CAMERA = Camera(azimuth_deg=35.0, elevation_deg=25.0, resolution=192)


def short_id(obj_id: str, width: int = 12) -> str:
    """An obj_id that fits a figure label: whole if short (``chair_00004``), else its first characters."""
    return obj_id if len(obj_id) <= width else obj_id[: width - 1] + "…"


def render_mesh(mesh: trimesh.Trimesh, camera: Camera = PREVIEW_CAMERA) -> np.ndarray:
    """uint8 (H, W, 3) normal-map render of a mesh (white if the mesh is empty)."""
    n = camera.resolution
    if len(mesh.faces) == 0:
        return np.full((n, n, 3), 255, dtype=np.uint8)
    render = MeshRaycaster(mesh).render(camera)
    return to_uint8(normals_to_image(torch.from_numpy(render.normals), torch.from_numpy(render.mask)))


def as_rgb(image: np.ndarray) -> np.ndarray:
    return np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]


def image_grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 4) -> np.ndarray:
    """Tile equally sized uint8 images (gray or RGB) into one RGB image, row by row."""
    rows = [[as_rgb(img) for img in row] for row in rows if len(row)]
    h, w = rows[0][0].shape[:2]
    n_cols = max(len(row) for row in rows)
    grid = np.full((len(rows) * (h + pad) + pad, n_cols * (w + pad) + pad, 3), 255, dtype=np.uint8)
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            if img.shape[:2] != (h, w):
                raise ValueError(f"image_grid needs equal sizes, got {img.shape[:2]} and {(h, w)}")
            y, x = pad + r * (h + pad), pad + c * (w + pad)
            grid[y : y + h, x : x + w] = img
    return grid


def save_labeled_grid(path: str | Path, rows: Sequence[Sequence[np.ndarray]], row_labels: Sequence[str] = (), col_labels: Sequence[str] = (), title: str | None = None,
                     cell_inches: float = 1.9) -> None:
    """An image grid with row and column captions (matplotlib), saved atomically; each image
    ``cell_inches`` square at the figure's 100 dpi (1.9: about 190 pixels)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell_inches * n_cols, cell_inches * n_rows + (0.4 if title else 0)), squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(rows[r]):
                ax.imshow(as_rgb(rows[r][c]))
            if r == 0 and c < len(col_labels):
                ax.set_title(col_labels[c], fontsize=8)
            if c == 0 and r < len(row_labels):
                ax.text(-0.05, 0.5, row_labels[r], transform=ax.transAxes, ha="right", va="center", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(path, fig)


def plot_curves(path: str | Path, curves: dict[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]], xlabel: str = "step", title: str | None = None, log_y: bool = True) -> None:
    """Line plot of named curves into ``path``: each value is the y values (x = 0, 1, ...) or an ``(x, y)`` pair."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    pairs = {name: values if isinstance(values, tuple) else (np.arange(len(values)), values) for name, values in curves.items()}
    for name, (x, y) in pairs.items():
        ax.plot(x, y, label=name)
    ax.set_xlabel(xlabel)
    if log_y and all(v > 0 for _, vals in pairs.values() for v in vals):
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    save_figure(path, fig)


def save_image_strip(path: str | Path, images: Sequence[np.ndarray]) -> None:
    save_image(path, image_grid([list(images)]))


# --- retrieval gallery (sketch2shape.metrics.retrieval scores it) ------------------------------
def _framed(image: np.ndarray, color: tuple[int, int, int] | None, width: int) -> np.ndarray:
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    out = np.full((image.shape[0] + 2 * width, image.shape[1] + 2 * width, 3), 255, dtype=np.uint8)
    if color is not None:
        out[:] = color
    out[width:-width, width:-width] = image
    return out


def gallery_image(
    query_images: Sequence[np.ndarray],
    result_images: Sequence[Sequence[np.ndarray]],
    hits: np.ndarray,
    frame: int = 4,
    gap: int = 8,
) -> np.ndarray:
    """A uint8 grid: each row a query sketch, then its results framed green (hit) or red (miss).

    ``query_images[i]`` is ``(H, W)`` or ``(H, W, 3)`` uint8, ``result_images[i][j]`` ``(H, W, 3)``
    uint8 and ``hits[i, j]`` whether result j of query i is from the query's shape.
    """
    rows = []
    for query, results, row_hits in zip(query_images, result_images, np.asarray(hits, dtype=bool)):
        cells = [_framed(query, (80, 80, 80), frame), np.full((query.shape[0] + 2 * frame, gap, 3), 255, np.uint8)]
        for image, hit in zip(results, row_hits):
            cells.append(_framed(image, (0, 170, 0) if hit else (220, 0, 0), frame))
        rows.append(np.concatenate(cells, axis=1))
    width = max(row.shape[1] for row in rows)
    rows = [np.pad(row, ((0, 0), (0, width - row.shape[1]), (0, 0)), constant_values=255) for row in rows]
    spacer = np.full((gap, width, 3), 255, np.uint8)
    return np.concatenate([part for row in rows for part in (row, spacer)][:-1], axis=0)


def save_gallery(path: str | Path, *args, **kwargs) -> np.ndarray:
    """Write :func:`gallery_image` to ``path`` (atomically) and return it."""
    image = gallery_image(*args, **kwargs)
    save_image(path, image)
    return image
