"""The sign of meshes that are almost closed (issue 14 item 4): small holes must not let the
outside in, open shapes must stay open, sheets must stay thin solids."""

import numpy as np
import pytest
import trimesh

from sketch2shape.data.preprocess.sdf import SDFSettings, compute_sdf, enclosing_parts, sample_points

HALF = np.array([0.45, 0.3, 0.35])


def grid_box(half=HALF, cells: int = 8, hole: int = 0, center=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    """A box whose faces are ``cells`` x ``cells`` grids, outward oriented, with the centered
    ``hole`` x ``hole`` cells of its top (+y) face missing (``hole = cells``: no top at all)."""
    half = np.asarray(half, dtype=np.float64)
    grid = np.linspace(-1.0, 1.0, cells + 1)
    vertices, faces = [], []
    for axis in range(3):
        for sign in (-1.0, 1.0):
            u, v = (axis + 1) % 3, (axis + 2) % 3
            if sign < 0:
                u, v = v, u  # u x v points out of the box
            base = len(vertices)
            for gu in grid:
                for gv in grid:
                    p = np.zeros(3)
                    p[axis], p[u], p[v] = sign, gu, gv
                    vertices.append(p * half)
            lo = (cells - hole) // 2
            for i in range(cells):
                for j in range(cells):
                    if axis == 1 and sign > 0 and lo <= i < lo + hole and lo <= j < lo + hole:
                        continue
                    a, b = base + i * (cells + 1) + j, base + (i + 1) * (cells + 1) + j
                    faces += [[a, b, b + 1], [a, b + 1, a + 1]]
    mesh = trimesh.Trimesh(np.array(vertices) + center, np.array(faces), process=False)
    mesh.merge_vertices()
    return mesh


def box_sdf(points, half=HALF, center=(0.0, 0.0, 0.0)):
    q = np.abs(points - center) - half
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def sign_accuracy(mesh, points, truth, settings):
    """(share of interior points signed negative, share of exterior ones positive, method used);
    points within the shell are left out (they are inside the thickened surface either way)."""
    result = compute_sdf(mesh, points, settings)
    sdf = result.samples[:, 3]
    interior, exterior = truth < -settings.shell, truth > settings.shell
    return float(np.mean(sdf[interior] < 0)), float(np.mean(sdf[exterior] > 0)), result.sign_method


@pytest.mark.parametrize("hole, name", [(1, "1/64"), (2, "1/16"), (4, "1/4")])
def test_small_holes_do_not_let_the_outside_in(hole, name):
    mesh = grid_box(hole=hole)
    settings = SDFSettings(num_samples=20_000)
    points = sample_points(mesh, settings, np.random.default_rng(hole))
    truth = box_sdf(points)
    before = sign_accuracy(mesh, points, truth, SDFSettings(sign_method="visibility"))
    after = sign_accuracy(mesh, points, truth, settings)
    print(f"\nhole {name} of the top face: interior signed right: visibility {before[0]:.4f}, auto ({after[2]}) "
          f"{after[0]:.4f}; exterior: {before[1]:.4f} -> {after[1]:.4f}")
    assert after[2] == "hybrid"
    assert after[0] >= 0.98 and after[1] >= 0.995
    assert before[0] < 0.95  # what visibility alone made of it


def test_enclosing_parts_picks_closed_and_nearly_closed_components():
    closed = grid_box(cells=4, center=(-1.2, 0, 0))
    holed = grid_box(hole=1)
    open_top = grid_box(hole=8, center=(1.2, 0, 0))
    hemisphere = trimesh.creation.icosphere(2, radius=0.3)
    hemisphere.update_faces(hemisphere.triangles_center[:, 2] > 0)
    hemisphere.remove_unreferenced_vertices()
    hemisphere.apply_translation((0, 1.2, 0))
    sheet = trimesh.Trimesh([[0, -1, 0], [1, -1, 0], [1, -1, 1], [0, -1, 1]], [[0, 1, 2], [0, 2, 3]])
    two_sided = trimesh.Trimesh(sheet.vertices - [0, 0.5, 0], [[0, 1, 2], [0, 2, 3], [0, 2, 1], [0, 3, 2]])
    tube = trimesh.creation.cylinder(radius=0.03, height=0.6, sections=24)
    tube.update_faces(np.abs(tube.face_normals[:, 2]) < 0.5)  # no caps: an open chair leg
    tube.remove_unreferenced_vertices()
    tube.apply_translation((0, 0, -1.2))
    parts = [closed, holed, open_top, hemisphere, sheet, two_sided, tube]
    mesh = trimesh.util.concatenate(parts)
    kept = enclosing_parts(mesh)
    enclosed = trimesh.Trimesh(mesh.vertices, kept, process=False)
    expected = trimesh.util.concatenate([closed, holed, tube])
    assert len(kept) == len(expected.faces)
    assert enclosed.area == pytest.approx(expected.area)
    assert enclosed.volume == pytest.approx(closed.volume + HALF.prod() * 8 + np.pi * 0.03**2 * 0.6, rel=0.02)
    assert enclosing_parts(trimesh.util.concatenate([open_top, hemisphere, sheet, two_sided])) is None


def test_winding_is_fixed_where_flipped_or_inverted():
    rng = np.random.default_rng(0)
    mixed = grid_box(hole=1)
    flip = rng.random(len(mixed.faces)) < 0.3
    mixed.faces[flip] = mixed.faces[flip][:, ::-1]
    inverted = grid_box(hole=2)
    inverted.invert()
    for mesh in (mixed, inverted):
        assert trimesh.Trimesh(mesh.vertices, enclosing_parts(mesh)).volume == pytest.approx(HALF.prod() * 8, rel=0.02)
        settings = SDFSettings(num_samples=10_000, visibility_views=20, visibility_resolution=128)
        points = sample_points(mesh, settings, np.random.default_rng(1))
        inside_ok, outside_ok, method = sign_accuracy(mesh, points, box_sdf(points), settings)
        assert method == "hybrid" and inside_ok >= 0.98 and outside_ok >= 0.995


def test_open_box_stays_hollow():
    """No top at all: a container, signed by visibility as before (its inside is outside)."""
    mesh = grid_box(hole=8)
    settings = SDFSettings(num_samples=5_000, visibility_views=20, visibility_resolution=128)
    points = sample_points(mesh, settings, np.random.default_rng(2))
    auto = compute_sdf(mesh, points, settings)
    visibility = compute_sdf(mesh, points, SDFSettings(num_samples=5_000, sign_method="visibility", visibility_views=20,
                                                       visibility_resolution=128))
    assert auto.sign_method == "visibility"
    np.testing.assert_array_equal(auto.samples, visibility.samples)
    interior = box_sdf(points) < -settings.shell
    assert np.mean(auto.samples[interior, 3] > 0) > 0.9  # a few corners no camera sees into stay inside


def test_sheets_and_inner_faces_next_to_a_holed_box():
    """A single-sided sheet outside the box stays a slab of 2 * shell; a sheet inside it (inner
    faces) keeps the inside inside on both of its sides."""
    box = grid_box(hole=1)
    outer_sheet = trimesh.Trimesh([[-0.4, -0.6, -0.4], [0.4, -0.6, -0.4], [0.4, -0.6, 0.4], [-0.4, -0.6, 0.4]], [[0, 2, 1], [0, 3, 2]])
    inner_sheet = trimesh.Trimesh([[-0.3, 0, -0.2], [0.3, 0, -0.2], [0.3, 0, 0.2], [-0.3, 0, 0.2]], [[0, 2, 1], [0, 3, 2]])
    mesh = trimesh.util.concatenate([box, outer_sheet, inner_sheet])
    settings = SDFSettings(sign_method="auto", shell=0.01, visibility_views=20, visibility_resolution=128)
    points = np.array([
        [0.0, -0.6, 0.0], [0.0, -0.605, 0.1], [0.0, -0.65, 0.0], [0.0, -0.8, 0.0],  # around the outer sheet
        [0.0, 0.003, 0.0], [0.0, -0.003, 0.0], [0.0, 0.1, 0.0], [0.1, 0.25, 0.05],  # inside, about the inner sheet
        [-0.05625, 0.35, -0.04375], [-0.05625, 0.28, -0.04375],  # above the hole's center, below it
    ])
    result = compute_sdf(mesh, points, settings)
    assert result.sign_method == "hybrid"
    np.testing.assert_allclose(result.samples[:4, 3], [-0.01, -0.005, 0.04, 0.19], atol=1e-6)
    assert np.all(result.samples[4:8, 3] < 0)
    assert result.samples[8, 3] > 0 and result.samples[9, 3] < 0
