"""The normal-map and sketch objectives move an analytic shape towards its target."""

import pytest
import torch
import torch.nn.functional as F
import trimesh

from sketch2shape.mesh.marching_cubes import extract_mesh
from sketch2shape.metrics.chamfer import chamfer_distance, sample_mesh_points
from sketch2shape.optimize.latent import LatentOptimSettings, optimize_latent
from sketch2shape.optimize.normals import NormalMapObjective, NormalTarget
from sketch2shape.optimize.sketch import SketchLoss, SketchObjective, SketchView, sketch_region, soft_normal_image
from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import from_uint8, normals_to_image, to_uint8
from sketch2shape.render.sketch import sketch_from_normal_map
from sketch2shape.render.sphere_tracing import TracingSettings


def sphere_decoder(latent, points):
    """'Latent code' = (radius, center x, y, z)."""
    return (points - latent[1:]).norm(dim=-1) - latent[0]


TARGET = torch.tensor([0.5, 0.1, 0.0, -0.05])
CAMERAS = [Camera(0, 20, resolution=40), Camera(90, 20, resolution=40)]


def target_render(camera):
    mesh = trimesh.creation.icosphere(4, radius=float(TARGET[0]))
    mesh.apply_translation(TARGET[1:].numpy())
    return MeshRaycaster(mesh).render(camera)


def test_normal_map_objective_recovers_the_sphere():
    targets = []
    for cam in CAMERAS:
        r = target_render(cam)
        targets.append(NormalTarget(cam, torch.from_numpy(r.normals), torch.from_numpy(r.mask).float()))
    objective = NormalMapObjective(sphere_decoder, targets, TracingSettings(temperature=0.02))
    start = torch.tensor([0.3, -0.1, 0.1, 0.1])
    result = optimize_latent(objective, start, LatentOptimSettings(steps=120, lr=1e-2, lr_decay_every=100, prior_weight=0.0))
    assert (result.latent - TARGET).norm() < 0.25 * (start - TARGET).norm()
    assert result.history[-1]["silhouette"] < result.history[0]["silhouette"]


class SilhouetteSiamese:
    """A stand-in for the Siamese network: embeds the coarse occupancy of an image."""

    @staticmethod
    def _embed(image):  # (1, C, H, W), white background
        ink = 1.0 - image.mean(1, keepdim=True)
        return F.normalize(F.adaptive_avg_pool2d(ink, 8).flatten(1) + 1e-3, dim=-1)

    def embed_normal(self, images):
        return self._embed(images)

    def embed_sketch(self, images):
        return self._embed(images)

    @staticmethod
    def distance(a, b):
        return 1.0 - (a * b).sum(-1)


def test_sketch_objective_moves_the_shape_towards_the_sketch():
    camera = CAMERAS[0]
    render = target_render(camera.with_resolution(128))
    normal_png = to_uint8(normals_to_image(torch.from_numpy(render.normals), torch.from_numpy(render.mask)))
    sketch = from_uint8(sketch_from_normal_map(normal_png))
    region = sketch_region(sketch, 40)
    expected_area = render.mask.sum() * (40 / 128) ** 2
    assert abs(region.sum().item() - expected_area) < 0.1 * expected_area  # the outline encloses the shape
    siamese = SilhouetteSiamese()
    filled_sketch = (1.0 - region)[None, None].expand(1, 3, -1, -1)
    view = SketchView(0, camera, sketch, siamese.embed_sketch(filled_sketch)[0], region)
    objective = SketchObjective(sphere_decoder, siamese, [view], TracingSettings(temperature=0.02), SketchLoss(silhouette_weight=1.0))
    start = torch.tensor([0.3, -0.15, 0.1, 0.0])
    result = optimize_latent(objective, start, LatentOptimSettings(steps=80, lr=1e-2, prior_weight=0.0))
    # Seen from the front, the radius and the x/y position are observable.
    assert (result.latent[:3] - TARGET[:3]).norm() < 0.5 * (start[:3] - TARGET[:3]).norm()
    # ... and the shape is measurably closer in 3D: the chamfer distance of the meshes falls.
    truth = sample_mesh_points(trimesh.creation.icosphere(4, radius=float(TARGET[0])).apply_translation(TARGET[1:].numpy()), 5000)

    def chamfer_of(latent):
        mesh, _ = extract_mesh(lambda p: sphere_decoder(latent, p), resolution=48)
        return chamfer_distance(sample_mesh_points(mesh, 5000), truth)

    assert chamfer_of(result.latent) < 0.5 * chamfer_of(start)
    # The silhouette term alone (no Siamese distance) also pulls the sphere over the sketch's outline.
    alone = SketchObjective(sphere_decoder, siamese, [view], TracingSettings(temperature=0.02), SketchLoss(silhouette_weight=1.0, distance_weight=0.0))
    terms = alone(start, 0)
    assert torch.equal(terms["loss"], terms["silhouette"])
    result = optimize_latent(alone, start, LatentOptimSettings(steps=80, lr=1e-2, prior_weight=0.0))
    assert (result.latent[:3] - TARGET[:3]).norm() < 0.5 * (start[:3] - TARGET[:3]).norm()
    with pytest.raises(ValueError, match="at least one must be positive"):
        SketchObjective(sphere_decoder, siamese, [view], TracingSettings(), SketchLoss(silhouette_weight=0.0, distance_weight=0.0))


def test_soft_normal_image_is_white_where_nothing_is_seen():
    from sketch2shape.render.sphere_tracing import render

    rendering = render(lambda p: sphere_decoder(TARGET, p), CAMERAS[0])
    image = soft_normal_image(rendering)
    assert image.shape == (3, 40, 40)
    assert torch.allclose(image[:, 0, 0], torch.ones(3), atol=1e-3)
    inside = rendering.mask & (rendering.silhouette > 0.99)
    assert torch.allclose(image.permute(1, 2, 0)[inside], (rendering.normals[inside] + 1) / 2, atol=0.02)
