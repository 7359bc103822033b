import numpy as np
import torch
import trimesh

from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import from_uint8, image_to_normals, normals_to_image, to_uint8
from sketch2shape.render.sketch import INK, SketchSettings, edge_mask, sketch_from_normal_map


def test_sphere_normal_map_matches_analytic_normals():
    radius = 0.7
    sphere = trimesh.creation.icosphere(subdivisions=5, radius=radius)
    cam = Camera(azimuth_deg=35, elevation_deg=20, resolution=96)
    render = MeshRaycaster(sphere).render(cam)
    # Analytic: intersect each pixel ray with the sphere.
    o, d = (t.numpy().astype(np.float64) for t in cam.rays(torch.float64))
    b = (o * d).sum(-1)
    disc = b**2 - ((o * o).sum(-1) - radius**2)
    hit = disc > 0
    t = -b - np.sqrt(np.where(hit, disc, 0))
    normal_world = (o + t[:, None] * d) / radius
    normal_cam = cam.directions_to_camera(torch.from_numpy(normal_world)).numpy().reshape(96, 96, 3)
    hit = hit.reshape(96, 96)
    both = hit & render.mask
    assert (hit ^ render.mask).sum() <= 0.02 * hit.sum()  # silhouette differs only at the rim
    cos = (normal_cam[both] * render.normals[both]).sum(-1)
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).mean() < 1.5
    facing = both & (normal_cam[..., 2] > 0.5)  # away from the rim, where facets and sphere differ most
    np.testing.assert_allclose(render.depth[facing], t.reshape(96, 96)[facing], atol=2e-3)
    # Facing the camera means a positive z component in camera space.
    assert (render.normals[both][:, 2] > 0).all()


def test_normal_encoding_roundtrip():
    rng = np.random.default_rng(0)
    normals = rng.normal(size=(8, 8, 3))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    mask = rng.random((8, 8)) > 0.3
    image = to_uint8(normals_to_image(torch.from_numpy(normals).float(), torch.from_numpy(mask)))
    assert (image[~mask] == 255).all()
    decoded, decoded_mask = image_to_normals(from_uint8(image))
    assert (decoded_mask.numpy() == mask).all()
    assert np.abs(decoded.numpy()[mask] - normals[mask]).max() < 0.01


def test_sketch_is_aligned_with_silhouette_and_has_creases():
    box = trimesh.creation.box(extents=(0.8, 0.8, 0.8))
    cam = Camera(azimuth_deg=30, elevation_deg=25, resolution=128)
    render = MeshRaycaster(box).render(cam)
    image = to_uint8(normals_to_image(torch.from_numpy(render.normals), torch.from_numpy(render.mask)))
    sketch = sketch_from_normal_map(image, SketchSettings(stroke_width=1))
    ink = sketch == INK
    assert sketch.dtype == np.uint8 and set(np.unique(sketch)) == {0, 255}
    # Silhouette boundary pixels are all inked; no ink off the object.
    flat = np.broadcast_to(np.array([0.0, 0.0, 1.0]), (128, 128, 3))
    silhouette = edge_mask(flat, render.mask, 35.0)  # constant normals: only the outline
    assert ink[silhouette].all()
    assert not ink[~render.mask].any()
    # The three visible faces of the box meet in creases: ink inside the silhouette too.
    interior = render.mask & ~silhouette
    assert ink[interior].sum() > 50


def test_empty_normal_map_gives_blank_sketch():
    blank = np.full((32, 32, 3), 255, dtype=np.uint8)
    assert (sketch_from_normal_map(blank) == 255).all()
