"""Tests for the procedural chair generator (sketch2shape.data.procedural)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import trimesh

from sketch2shape.data.procedural import (
    BACK_STYLES,
    LEG_STYLES,
    SEAT_SHAPES,
    ChairParams,
    build_chair_mesh,
    build_chair_parts,
    generate_chairs,
    sample_chair_params,
)

N_CHECK = 24
SEED = 7
BACK_PART_NAMES = {"back", "back_post", "back_slat", "back_rail", "back_spindle"}
SUPPORT_PART_NAMES = {"leg", "stretcher", "foot", "column", "hub", "spoke", "caster", "runner", "plate"}


@pytest.fixture(scope="module")
def chairs() -> list[tuple[ChairParams, trimesh.Trimesh]]:
    return generate_chairs(N_CHECK, SEED)


def _params_with(**overrides) -> ChairParams:
    base = sample_chair_params(np.random.default_rng(0), leg_style="four", seat_shape="square", back_style="solid")
    return dataclasses.replace(base, **overrides)


def _inner_points(mesh: trimesh.Trimesh, depth: float) -> np.ndarray:
    """Vertices and seeded surface samples of a closed part, pushed ``depth`` inward
    along their normals so they lie strictly inside the part."""
    samples, face_idx = trimesh.sample.sample_surface(mesh, 400, seed=0)
    return np.concatenate([mesh.vertices - depth * mesh.vertex_normals, samples - depth * mesh.face_normals[face_idx]])


def _overlaps(a: trimesh.Trimesh, b: trimesh.Trimesh, depth: float = 1e-3) -> bool:
    """True if the closed parts a and b share volume: their bounding boxes intersect and
    some point strictly inside one (see ``_inner_points``) lies inside the other."""
    lo = np.maximum(a.bounds[0], b.bounds[0])
    hi = np.minimum(a.bounds[1], b.bounds[1])
    if np.any(lo > hi):
        return False
    for p, q in ((a, b), (b, a)):
        pts = _inner_points(p, depth)
        pts = pts[np.all((pts >= lo) & (pts <= hi), axis=1)]
        if len(pts) and q.contains(pts).any():
            return True
    return False


def _n_components(n: int, edges: list[tuple[int, int]]) -> int:
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in edges:
        parent[find(i)] = find(j)
    return len({find(i) for i in range(n)})


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_chairs() -> None:
    a = generate_chairs(5, 3)
    b = generate_chairs(5, 3)
    for (pa, ma), (pb, mb) in zip(a, b):
        assert pa == pb
        np.testing.assert_array_equal(ma.vertices, mb.vertices)
        np.testing.assert_array_equal(ma.faces, mb.faces)


def test_different_seed_gives_different_chairs() -> None:
    a = generate_chairs(3, 3)
    b = generate_chairs(3, 4)
    for (pa, ma), (pb, mb) in zip(a, b):
        assert pa != pb
        assert ma.vertices.shape != mb.vertices.shape or not np.allclose(ma.vertices, mb.vertices)


def test_prefix_property() -> None:
    short = generate_chairs(4, 11)
    long = generate_chairs(16, 11)
    assert len(short) == 4 and len(long) == 16
    for (ps, ms), (pl, ml) in zip(short, long[:4]):
        assert ps == pl
        np.testing.assert_array_equal(ms.vertices, ml.vertices)


def test_sample_params_is_deterministic_in_rng_state() -> None:
    p1 = sample_chair_params(np.random.default_rng(123))
    p2 = sample_chair_params(np.random.default_rng(123))
    p3 = sample_chair_params(np.random.default_rng(124))
    assert p1 == p2
    assert p1 != p3


# ----------------------------------------------------------------------------- coverage


def test_sixteen_chairs_cover_all_styles() -> None:
    params = [p for p, _ in generate_chairs(16, 0)]
    assert {p.leg_style for p in params} == set(LEG_STYLES[:5])  # version 1: the original five
    assert {p.back_style for p in params} == set(BACK_STYLES)
    assert {p.seat_shape for p in params} == set(SEAT_SHAPES)
    # a different seed also covers everything, and the order is actually shuffled
    params2 = [p for p, _ in generate_chairs(16, 1)]
    assert {p.leg_style for p in params2} == set(LEG_STYLES[:5])
    assert {p.back_style for p in params2} == set(BACK_STYLES)


def test_continuous_parameters_vary(chairs) -> None:
    for name in ("seat_width", "seat_depth", "seat_height", "seat_thickness", "leg_thickness", "back_tilt_deg"):
        values = np.array([getattr(p, name) for p, _ in chairs])
        assert values.std() > 0, name
    thick = [p.seat_thickness for p, _ in chairs]
    assert min(thick) < 0.05 and max(thick) > 0.08
    assert any(p.has_arms for p, _ in chairs) and not all(p.has_arms for p, _ in chairs)


def test_stools_have_no_arms_and_no_back(chairs) -> None:
    stools = [(p, m) for p, m in chairs if p.back_style == "none"]
    assert stools
    for p, _ in stools:
        assert not p.has_arms
        names = {n for n, _ in build_chair_parts(p)}
        assert not names & (BACK_PART_NAMES | {"arm", "arm_post"})


def test_params_roundtrip_through_json(chairs) -> None:
    for p, _ in chairs[:6]:
        d = json.loads(json.dumps(dataclasses.asdict(p)))
        assert ChairParams(**d) == p


# ----------------------------------------------------------------------------- mesh quality


def test_meshes_are_watertight_and_oriented(chairs) -> None:
    for p, mesh in chairs:
        assert mesh.is_watertight, p
        assert mesh.is_winding_consistent, p
        assert mesh.volume > 0, p
        assert len(mesh.faces) < 20000, p
        assert np.isfinite(mesh.vertices).all()


def test_every_part_is_closed_with_positive_volume(chairs) -> None:
    for p, mesh in chairs:
        parts = build_chair_parts(p)
        assert sum(len(m.faces) for _, m in parts) == len(mesh.faces)
        for name, part in parts:
            assert part.is_watertight, (name, p)
            assert part.is_winding_consistent, (name, p)
            assert part.volume > 1e-7, (name, p)


def test_parts_form_one_connected_solid(chairs) -> None:
    for p, _ in chairs:
        parts = [m for _, m in build_chair_parts(p)]
        edges = [(i, j) for i in range(len(parts)) for j in range(i + 1, len(parts)) if _overlaps(parts[i], parts[j])]
        assert _n_components(len(parts), edges) == 1, p


def test_overlap_check_detects_floating_part() -> None:
    # guards the connectivity test above against being vacuous
    p = _params_with()
    parts = [m for _, m in build_chair_parts(p)]
    floating = trimesh.creation.box(extents=[0.05, 0.05, 0.05])
    floating.apply_translation([0.0, 3.0, 0.0])
    parts.append(floating)
    edges = [(i, j) for i in range(len(parts)) for j in range(i + 1, len(parts)) if _overlaps(parts[i], parts[j])]
    assert _n_components(len(parts), edges) == 2


def test_chairs_stand_on_floor_and_fit_box(chairs) -> None:
    for p, mesh in chairs:
        lo, hi = mesh.bounds
        assert abs(lo[1]) < 1e-9, p
        assert np.all(np.abs(lo[[0, 2]]) < 0.5) and np.all(np.abs(hi[[0, 2]]) < 0.5), p
        assert hi[1] < 1.6, p
        # mirror symmetric in x
        assert lo[0] == pytest.approx(-hi[0], abs=1e-6), p


def test_supports_stay_below_seat_top(chairs) -> None:
    for p, _ in chairs:
        parts = build_chair_parts(p)
        seat = next(m for n, m in parts if n == "seat")
        seat_top = seat.bounds[1, 1]
        for name, m in parts:
            if name in SUPPORT_PART_NAMES:
                assert m.bounds[1, 1] <= seat_top + 1e-9, (name, p)


# ----------------------------------------------------------------------------- orientation


def test_y_up_and_back_at_negative_z(chairs) -> None:
    with_back = [(p, m) for p, m in chairs if p.back_style != "none"]
    assert len(with_back) >= 10
    for p, mesh in with_back:
        parts = build_chair_parts(p)
        seat = next(m for n, m in parts if n == "seat")
        back = trimesh.util.concatenate([m for n, m in parts if n in BACK_PART_NAMES])
        # the back rises above the seat (Y up) ...
        assert back.bounds[1, 1] > seat.bounds[1, 1] + 0.2, p
        # ... and its top is behind the seat centre (front is +Z)
        top = back.vertices[back.vertices[:, 1] > back.bounds[1, 1] - 0.05]
        assert top[:, 2].mean() < -0.05, p
        # the seat top is at the requested height (up to the floor shift)
        assert seat.bounds[1, 1] == pytest.approx(p.seat_height, abs=0.01), p
        # the whole chair's highest region is at -z, the seat front at +z
        assert mesh.vertices[:, 2].max() > 0.15


def test_back_tilts_backwards() -> None:
    upright = build_chair_parts(_params_with(back_tilt_deg=0.0))
    tilted = build_chair_parts(_params_with(back_tilt_deg=12.0))

    def top_z(parts) -> float:
        back = next(m for n, m in parts if n == "back")
        return float(back.vertices[back.vertices[:, 1] > back.bounds[1, 1] - 0.02][:, 2].mean())

    assert top_z(tilted) < top_z(upright) - 0.05


def test_curved_back_is_concave_toward_front() -> None:
    p = _params_with(back_style="curved", back_curve_deg=30.0, back_tilt_deg=0.0, back_arch=0.0)
    back = next(m for n, m in build_chair_parts(p) if n == "back")
    v = back.vertices
    centre_z = v[np.abs(v[:, 0]) < 0.02][:, 2].mean()
    edge_z = v[np.abs(v[:, 0]) > 0.9 * np.abs(v[:, 0]).max()][:, 2].mean()
    assert edge_z > centre_z + 0.02  # edges wrap forward around the sitter


def test_styles_change_the_geometry() -> None:
    base = _params_with()
    seen = set()
    for leg in LEG_STYLES:
        m = build_chair_mesh(dataclasses.replace(base, leg_style=leg))
        assert m.is_watertight
        seen.add((len(m.faces), round(float(m.volume), 6)))
    assert len(seen) == len(LEG_STYLES)
    names_by_back = {}
    for back in BACK_STYLES:
        parts = build_chair_parts(dataclasses.replace(base, back_style=back, has_arms=False))
        names_by_back[back] = sorted(n for n, _ in parts)
    assert "back_slat" in names_by_back["slatted"]
    assert "back_spindle" in names_by_back["spindles"]
    assert not set(names_by_back["none"]) & BACK_PART_NAMES
    arms = build_chair_parts(dataclasses.replace(base, has_arms=True))
    assert sum(n == "arm" for n, _ in arms) == 2


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("field", "accepted"),
    [("leg_style", LEG_STYLES), ("seat_shape", SEAT_SHAPES), ("back_style", BACK_STYLES)],
)
def test_unknown_style_raises(field: str, accepted: tuple[str, ...]) -> None:
    with pytest.raises(ValueError) as info:
        _params_with(**{field: "wobbly"})
    msg = str(info.value)
    assert field in msg
    assert "wobbly" in msg
    for option in accepted:
        assert option in msg


def test_stool_with_arms_and_bad_numbers_raise() -> None:
    with pytest.raises(ValueError, match="has_arms"):
        _params_with(back_style="none", has_arms=True, back_height=0.0)
    with pytest.raises(ValueError, match="seat_width"):
        _params_with(seat_width=-0.1)
    with pytest.raises(ValueError, match="seat_height"):
        _params_with(seat_height=math.nan)
    with pytest.raises(ValueError, match="leg_style"):
        sample_chair_params(np.random.default_rng(0), leg_style="tripod")


# ----------------------------------------------------------------------------- version 2


def test_version_two_covers_every_kind_and_leg_style_and_is_watertight() -> None:
    from sketch2shape.data.procedural import KINDS, chair_params, generate_chair

    params = [chair_params(0, i, version=2) for i in range(4 * len(KINDS))]
    assert {p.leg_style for p in params} == set(LEG_STYLES)
    assert any(p.has_footrest for p in params) and any(p.arm_style == "panel" for p in params)
    assert max(p.seat_width for p in params) > 0.9  # benches
    assert max(p.seat_height for p in params) > 0.62  # bar stools
    for i in range(len(KINDS)):  # one aligned block: one chair of each kind, all closed solids
        p, mesh = generate_chair(0, i, version=2)
        assert mesh.is_watertight and mesh.volume > 0, (i, p.leg_style)
        assert abs(float(mesh.vertices[:, 1].min())) < 1e-9  # on the floor


def test_version_two_is_a_function_of_seed_and_index_and_leaves_version_one_alone() -> None:
    from sketch2shape.data.procedural import chair_params

    assert chair_params(0, 37, version=2) == chair_params(0, 37, version=2)
    assert chair_params(0, 37, version=2) != chair_params(1, 37, version=2)
    assert chair_params(0, 5) == chair_params(0, 5, version=1)
    assert chair_params(0, 5, version=1) != chair_params(0, 5, version=2)
    with pytest.raises(ValueError, match="accepted: 1, 2"):
        chair_params(0, 0, version=3)
