"""Procedural chair generator: the project's built-in stand-in for ShapeNet chairs.

Every chair is the union (plain concatenation, no boolean) of closed, watertight,
outward-oriented primitives - boxes, cylinders, capsules, spheres and swept slabs -
just like ShapeNet part unions. Parts interpenetrate so the chair is one visually
connected solid.

Conventions (same as ShapeNetCore v2):

* ``+Y`` is up, the floor is the plane ``y = 0`` (the lowest vertex of every chair sits
  exactly on it).
* The chair's FRONT (where the sitter's knees go) faces ``+Z``; the backrest is at ``-Z``.
* ``X`` is the sitter's left/right; chairs are mirror-symmetric in ``x``.
* Units are roughly metres of a real chair: the seat is ~0.4-0.55 wide, its top is at
  ``seat_height`` (~0.45), and the whole chair fits in about ``[-0.5, 0.5]`` in ``x``
  and ``z``. Downstream code recenters/rescales to the unit sphere, so only proportions
  matter.

Public API: :data:`LEG_STYLES`, :data:`SEAT_SHAPES`, :data:`BACK_STYLES`,
:class:`ChairParams`, :func:`sample_chair_params`, :func:`build_chair_parts`,
:func:`build_chair_mesh`, :func:`generate_chairs`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
import trimesh

__all__ = [
    "LEG_STYLES",
    "SEAT_SHAPES",
    "BACK_STYLES",
    "ChairParams",
    "sample_chair_params",
    "build_chair_parts",
    "build_chair_mesh",
    "generate_chairs",
    "KINDS",
    "sample_chair_params_v2",
    "chair_params",
    "generate_chair",
]

LEG_STYLES: tuple[str, ...] = ("four", "splayed", "pedestal", "star", "sled", "cantilever", "rocking")
"""``four``: four straight vertical legs; ``splayed``: four legs angled outward;
``pedestal``: central column on a disk foot; ``star``: office-chair column with five
radial spokes (optionally casters); ``sled``: two side runners (bar loops along z);
``cantilever``: a bent-tube frame that holds the seat from the front only (floor runners, front
uprights, tubes under the seat); ``rocking``: four legs standing on two curved rockers.
Version 1 of the generator (:func:`chair_params` with ``version=1``) uses the first five only."""

KINDS: tuple[str, ...] = ("dining", "office", "lounge", "bench", "bar_stool", "rocking", "cantilever", "stool")
"""Version 2 of the generator first draws a kind, then styles and proportions typical of it:
``dining`` (four/splayed/sled legs, any back), ``office`` (star base with gas lift, tall or curved
upholstered back, usually armrests), ``lounge`` (club chair: low, wide, thick cushion and back,
panel arms), ``bench`` (a seat for two or three, with or without a back), ``bar_stool`` (seat
0.62-0.8 high, footrest, low or no back), ``rocking``, ``cantilever`` and ``stool``."""

ARM_STYLES: tuple[str, ...] = ("bar", "panel")
"""``bar``: an armrest on a post; ``panel``: a solid side panel from the floor (club chairs)."""

SEAT_SHAPES: tuple[str, ...] = ("square", "round")
"""``square``: a box (width != depth in general); ``round``: an elliptic/circular disk."""

BACK_STYLES: tuple[str, ...] = ("solid", "slatted", "spindles", "tall", "curved", "none")
"""``solid``: one flat slab (optionally raised on two posts); ``slatted``: horizontal
slats between two posts; ``spindles``: vertical bars between the seat and a top rail;
``tall``: a solid slab that is much taller; ``curved``: a slab bent around the y axis,
concave toward the sitter (+z); ``none``: a stool."""

#: Number of sections used for every cylinder (keeps ~100 faces per cylinder).
CYLINDER_SECTIONS = 24
#: Segments along the width of swept (possibly curved) back slabs.
SWEEP_SEGMENTS = 16

_LEG_STYLES_V1 = LEG_STYLES[:5]  # what version 1 draws from (kept, so its chairs never change)
_CATEGORICAL = {"leg_style": LEG_STYLES, "seat_shape": SEAT_SHAPES, "back_style": BACK_STYLES, "arm_style": ARM_STYLES}


@dataclass(frozen=True)
class ChairParams:
    """All parameters of one procedural chair (plain python types, JSON-dumpable via
    :func:`dataclasses.asdict`; ``ChairParams(**d)`` restores it).

    Lengths are in chair units (about metres, see module docstring: +Y up, front +Z).
    Fields that do not apply to the chosen styles are kept (so every record has the same
    keys) but ignored, e.g. ``n_slats`` unless ``back_style == "slatted"``.

    Attributes:
        leg_style: one of :data:`LEG_STYLES`.
        seat_shape: one of :data:`SEAT_SHAPES`.
        back_style: one of :data:`BACK_STYLES`.
        has_arms: armrests on both sides; must be False when ``back_style == "none"``.
        seat_width: seat extent along x (diameter for round seats).
        seat_depth: seat extent along z (diameter for round seats).
        seat_height: height of the seat's TOP surface above the floor.
        seat_thickness: seat slab thickness (0.02 thin board .. 0.12 cushion).
        leg_thickness: leg diameter / side (also scales columns, runners, spokes).
        back_height: height of the backrest's top above the seat top (0 for stools).
        back_tilt_deg: backward tilt of the back around the x axis, degrees (>= 0 leans
            the top toward -z).
        leg_round: round (cylinder) instead of square (box) section for legs, posts, bars.
        leg_inset: distance of the legs from the seat's edge.
        splay_deg: outward angle of ``splayed`` legs from vertical, degrees.
        has_stretchers: horizontal bars between the legs (``four``/``splayed`` only).
        stretcher_height_frac: stretcher height as a fraction of the seat height.
        base_radius: reach of the ``star`` spokes; ``pedestal`` foot radius is 0.85x this.
        has_casters: small ball casters at the ``star`` spoke ends.
        back_width_ratio: back width / seat width.
        back_thickness: thickness of back slabs (slats/rails use a fraction of it).
        back_arch: how much the top edge of slab backs drops toward the sides, as a
            fraction of the back height (0 = straight top edge).
        back_curve_deg: half opening angle of the ``curved`` back's arc, degrees.
        back_gap: ``solid``/``tall`` only: fraction of the back height between the seat
            and the slab, bridged by two posts (0 = slab sits on the seat).
        n_slats: number of horizontal slats (``slatted``).
        n_spindles: number of vertical spindles (``spindles``).
        post_thickness: thickness of back posts and arm posts.
        arm_height: height of the armrest top above the seat top.
        arm_width: armrest width (x).
        arm_style: one of :data:`ARM_STYLES`.
        has_footrest: a footrest ring (bar stools) at ``footrest_height_frac`` of the seat height.
        footrest_height_frac: footrest height as a fraction of the seat height.
        rocker_radius: curvature radius of ``rocking`` runners.
    """

    leg_style: str
    seat_shape: str
    back_style: str
    has_arms: bool
    seat_width: float
    seat_depth: float
    seat_height: float
    seat_thickness: float
    leg_thickness: float
    back_height: float
    back_tilt_deg: float
    leg_round: bool = True
    leg_inset: float = 0.02
    splay_deg: float = 8.0
    has_stretchers: bool = False
    stretcher_height_frac: float = 0.35
    base_radius: float = 0.26
    has_casters: bool = True
    back_width_ratio: float = 0.9
    back_thickness: float = 0.035
    back_arch: float = 0.0
    back_curve_deg: float = 30.0
    back_gap: float = 0.0
    n_slats: int = 3
    n_spindles: int = 5
    post_thickness: float = 0.035
    arm_height: float = 0.22
    arm_width: float = 0.05
    arm_style: str = "bar"
    has_footrest: bool = False
    footrest_height_frac: float = 0.35
    rocker_radius: float = 1.2

    def __post_init__(self) -> None:
        for name, accepted in _CATEGORICAL.items():
            value = getattr(self, name)
            if value not in accepted:
                raise ValueError(
                    f"ChairParams.{name}={value!r} is not valid; accepted values: {', '.join(accepted)}"
                )
        if self.back_style == "none" and self.has_arms:
            raise ValueError("ChairParams.has_arms=True is not valid with back_style='none' (stools have no arms)")
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in _CATEGORICAL:
                continue
            if f.type in ("bool", bool):
                if not isinstance(value, (bool, np.bool_)):
                    raise ValueError(f"ChairParams.{f.name}={value!r} must be a bool")
            elif f.type in ("int", int):
                if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                    raise ValueError(f"ChairParams.{f.name}={value!r} must be an int >= 1")
            elif not isinstance(value, (int, float, np.floating, np.integer)) or not math.isfinite(value):
                raise ValueError(f"ChairParams.{f.name}={value!r} must be a finite number")
        positive = ("seat_width", "seat_depth", "seat_height", "seat_thickness", "leg_thickness",
                    "base_radius", "back_thickness", "post_thickness", "arm_height", "arm_width", "rocker_radius")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"ChairParams.{name}={getattr(self, name)!r} must be > 0")
        if self.back_style != "none" and self.back_height <= 0:
            raise ValueError(f"ChairParams.back_height={self.back_height!r} must be > 0 for back_style={self.back_style!r}")
        if self.seat_thickness >= self.seat_height:
            raise ValueError("ChairParams.seat_thickness must be smaller than seat_height")
        if not 0 < self.back_width_ratio <= 1.2:
            raise ValueError(f"ChairParams.back_width_ratio={self.back_width_ratio!r} must be in (0, 1.2]")
        if not 0 <= self.back_gap < 0.8:
            raise ValueError(f"ChairParams.back_gap={self.back_gap!r} must be in [0, 0.8)")
        if not 0 <= self.back_curve_deg < 80:
            raise ValueError(f"ChairParams.back_curve_deg={self.back_curve_deg!r} must be in [0, 80)")
        if not 0 <= self.back_arch < 0.5:
            raise ValueError(f"ChairParams.back_arch={self.back_arch!r} must be in [0, 0.5)")


# --------------------------------------------------------------------------------------
# sampling
# --------------------------------------------------------------------------------------


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def sample_chair_params(
    rng: np.random.Generator,
    *,
    leg_style: str | None = None,
    seat_shape: str | None = None,
    back_style: str | None = None,
) -> ChairParams:
    """Sample a random, realistic :class:`ChairParams` from ``rng``.

    The categorical choices are drawn uniformly unless forced through the keyword
    arguments (:func:`generate_chairs` forces them to spread styles evenly). The same
    generator state always gives the same parameters. Conventions: +Y up, front +Z.
    """
    # Always draw the categorical values so the continuous draws do not depend on
    # whether a style was forced.
    drawn_leg = _LEG_STYLES_V1[int(rng.integers(len(_LEG_STYLES_V1)))]
    drawn_seat = SEAT_SHAPES[int(rng.integers(len(SEAT_SHAPES)))]
    drawn_back = BACK_STYLES[int(rng.integers(len(BACK_STYLES)))]
    leg_style = drawn_leg if leg_style is None else leg_style
    seat_shape = drawn_seat if seat_shape is None else seat_shape
    back_style = drawn_back if back_style is None else back_style
    for name, value in (("leg_style", leg_style), ("seat_shape", seat_shape), ("back_style", back_style)):
        if value not in _CATEGORICAL[name]:
            raise ValueError(f"{name}={value!r} is not valid; accepted values: {', '.join(_CATEGORICAL[name])}")

    arms_draw = rng.random() < 0.4
    has_arms = bool(arms_draw and back_style != "none")

    seat_width = _u(rng, 0.38, 0.56)
    if seat_shape == "round":
        seat_depth = seat_width * _u(rng, 0.9, 1.05)
    else:
        seat_depth = seat_width * _u(rng, 0.82, 1.1)
    stool = back_style == "none"
    seat_height = _u(rng, 0.42, 0.72) if stool else _u(rng, 0.40, 0.50)
    seat_thickness = _u(rng, 0.02, 0.12)
    leg_thickness = _u(rng, 0.025, 0.06)
    tall_height = _u(rng, 0.6, 0.85)
    normal_height = _u(rng, 0.28, 0.5)
    back_height = 0.0 if stool else (tall_height if back_style == "tall" else normal_height)
    tilt = _u(rng, 2.0, 14.0)
    back_tilt_deg = 0.0 if stool else tilt
    leg_round = bool(rng.random() < 0.5)
    leg_inset = _u(rng, 0.0, 0.04)
    splay_deg = _u(rng, 5.0, 14.0)
    has_stretchers = bool(rng.random() < 0.4)
    stretcher_height_frac = _u(rng, 0.25, 0.5)
    base_radius = _u(rng, 0.22, 0.3)
    has_casters = bool(rng.random() < 0.6)
    ratio_square = _u(rng, 0.8, 1.0)
    ratio_round = _u(rng, 0.55, 0.75)
    back_width_ratio = ratio_round if seat_shape == "round" else ratio_square
    back_thickness = _u(rng, 0.02, 0.06)
    arch = _u(rng, 0.03, 0.15)
    back_arch = arch if (rng.random() < 0.5 and back_style in ("solid", "tall", "curved")) else 0.0
    curve = _u(rng, 20.0, 38.0)
    back_curve_deg = curve if back_style == "curved" else 0.0
    gap = _u(rng, 0.15, 0.35)
    back_gap = gap if (rng.random() < 0.4 and back_style in ("solid", "tall")) else 0.0
    n_slats = int(rng.integers(2, 6))
    n_spindles = int(rng.integers(3, 9))
    post_thickness = _u(rng, 0.025, 0.045)
    arm_height = _u(rng, 0.17, 0.27)
    arm_width = _u(rng, 0.035, 0.07)

    return ChairParams(
        leg_style=leg_style,
        seat_shape=seat_shape,
        back_style=back_style,
        has_arms=has_arms,
        seat_width=seat_width,
        seat_depth=seat_depth,
        seat_height=seat_height,
        seat_thickness=seat_thickness,
        leg_thickness=leg_thickness,
        back_height=back_height,
        back_tilt_deg=back_tilt_deg,
        leg_round=leg_round,
        leg_inset=leg_inset,
        splay_deg=splay_deg,
        has_stretchers=has_stretchers,
        stretcher_height_frac=stretcher_height_frac,
        base_radius=base_radius,
        has_casters=has_casters,
        back_width_ratio=back_width_ratio,
        back_thickness=back_thickness,
        back_arch=back_arch,
        back_curve_deg=back_curve_deg,
        back_gap=back_gap,
        n_slats=n_slats,
        n_spindles=n_spindles,
        post_thickness=post_thickness,
        arm_height=arm_height,
        arm_width=arm_width,
    )


# --------------------------------------------------------------------------------------
# primitives (every one closed, watertight, positive volume)
# --------------------------------------------------------------------------------------


def _translation(p) -> np.ndarray:
    m = np.eye(4)
    m[:3, 3] = p
    return m


def _rot_x(angle_rad: float) -> np.ndarray:
    return trimesh.transformations.rotation_matrix(angle_rad, [1.0, 0.0, 0.0])


def _box(center, extents) -> trimesh.Trimesh:
    """Axis-aligned box."""
    return trimesh.creation.box(extents=np.asarray(extents, float), transform=_translation(center))


def _box_span(lo, hi) -> trimesh.Trimesh:
    """Axis-aligned box from its min to its max corner."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return _box((lo + hi) / 2.0, hi - lo)


def _align_z(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Transform that maps a primitive centred on the origin along +z onto segment a->b.

    The primitive's local x axis is kept as close to world x as possible (world y for
    segments along x), so square bars are not twisted around their axis."""
    z = (b - a) / np.linalg.norm(b - a)
    ref = np.array([1.0, 0.0, 0.0]) if abs(z[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = ref - np.dot(ref, z) * z
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2] = x, y, z
    m[:3, 3] = (a + b) / 2.0
    return m


def _bar(a, b, thickness: float, round_section: bool, extend: float = 0.0) -> trimesh.Trimesh:
    """Straight bar between points a and b (round or square section), optionally
    extended by ``extend`` past both ends."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = (b - a) / np.linalg.norm(b - a)
    a, b = a - extend * d, b + extend * d
    if round_section:
        return trimesh.creation.cylinder(radius=thickness / 2.0, segment=np.stack([a, b]), sections=CYLINDER_SECTIONS)
    length = float(np.linalg.norm(b - a))
    return trimesh.creation.box(extents=[thickness, thickness, length], transform=_align_z(a, b))


def _tube(a, b, thickness: float, round_section: bool, extend_end: bool = False) -> trimesh.Trimesh:
    """Bar with rounded (capsule) ends, or for square sections a box extended by half
    its thickness past ``a`` (and past ``b`` if ``extend_end``), for bent-tube frames."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not round_section:
        # extend past the start only: the start is a corner joint, the end goes into the seat
        d = (b - a) / np.linalg.norm(b - a)
        return _bar(a - 0.5 * thickness * d, b + (0.5 * thickness * d if extend_end else 0.0), thickness, False)
    length = float(np.linalg.norm(b - a))
    return trimesh.creation.capsule(height=length, radius=thickness / 2.0, count=[16, 8], transform=_align_z(a, b))


def _sweep(sections: np.ndarray) -> trimesh.Trimesh:
    """Closed solid swept through ``sections`` of shape (n, 4, 3): n >= 2 quadrilateral
    cross-sections whose 4 corners go around in the same order. Side quads connect
    consecutive sections; the first and last sections are capped. The result is oriented
    outward (inverted if the construction order gave negative volume)."""
    n = sections.shape[0]
    verts = sections.reshape(-1, 3)
    faces = []
    for i in range(n - 1):
        for k in range(4):
            k2 = (k + 1) % 4
            a, b = 4 * i + k, 4 * i + k2
            c, d = 4 * (i + 1) + k2, 4 * (i + 1) + k
            faces.append([a, b, c])
            faces.append([a, c, d])
    last = 4 * (n - 1)
    faces += [[0, 2, 1], [0, 3, 2], [last, last + 1, last + 2], [last, last + 2, last + 3]]
    mesh = trimesh.Trimesh(vertices=verts, faces=np.asarray(faces), process=False)
    if mesh.volume < 0:
        mesh.invert()
    return mesh


# --------------------------------------------------------------------------------------
# chair parts
# --------------------------------------------------------------------------------------


class _Frame:
    """Derived dimensions shared by the part builders."""

    def __init__(self, p: ChairParams) -> None:
        self.p = p
        self.a = p.seat_width / 2.0  # half width (x)
        self.b = p.seat_depth / 2.0  # half depth (z)
        self.top = p.seat_height
        self.bottom = p.seat_height - p.seat_thickness
        # joint height: legs/posts end (or start) half way inside the seat slab
        self.mid = p.seat_height - 0.5 * p.seat_thickness
        self.round = p.seat_shape == "round"
        self.back_w = p.seat_width * p.back_width_ratio
        self.tilt = math.radians(p.back_tilt_deg)

    def z_extent(self, x: float, shrink: float = 1.0) -> float:
        """Half depth of the seat footprint at lateral position x (times ``shrink``)."""
        if not self.round:
            return self.b * shrink
        r = min(abs(x) / self.a, 0.999)
        return self.b * math.sqrt(1.0 - r * r) * shrink

    def footprint_point(self, sx: float, sz: float, margin: float) -> tuple[float, float]:
        """A point inside the seat footprint toward corner (sx, sz) in {-1,1}^2, keeping
        ``margin`` from the edge."""
        if not self.round:
            return sx * (self.a - margin), sz * (self.b - margin)
        c = math.cos(math.pi / 4)
        return sx * (self.a - margin) * c, sz * (self.b - margin) * c


def _seat(f: _Frame) -> trimesh.Trimesh:
    p = f.p
    center = [0.0, f.top - p.seat_thickness / 2.0, 0.0]
    if f.round:
        m = trimesh.creation.cylinder(radius=0.5, height=p.seat_thickness, sections=2 * CYLINDER_SECTIONS)
        m.apply_transform(_rot_x(-math.pi / 2))  # axis along y
        m.apply_scale([p.seat_width, 1.0, p.seat_depth])
        m.apply_translation(center)
        return m
    return _box(center, [p.seat_width, p.seat_thickness, p.seat_depth])


def _legs_four(f: _Frame, splayed: bool) -> list[tuple[str, trimesh.Trimesh]]:
    p = f.p
    t = p.leg_thickness
    parts: list[tuple[str, trimesh.Trimesh]] = []
    splay = math.radians(p.splay_deg) if splayed else 0.0
    margin = p.leg_inset + t / 2.0 + (0.02 if splayed else 0.0)
    tops, bottoms = [], []
    for sx in (-1, 1):
        for sz in (-1, 1):
            x, z = f.footprint_point(sx, sz, margin)
            top = np.array([x, f.mid, z])
            if splayed:
                # diagonal outward direction, angle `splay` from vertical
                out = np.array([sx * abs(x), 0.0, sz * abs(z)])
                out /= np.linalg.norm(out)
                h = f.mid
                bottom = top + np.array([out[0] * h * math.tan(splay), -h, out[2] * h * math.tan(splay)])
            else:
                bottom = np.array([x, 0.0, z])
            tops.append(top)
            bottoms.append(bottom)
            parts.append(("leg", _bar(bottom, top, t, p.leg_round)))
    if p.has_stretchers:
        s = p.stretcher_height_frac
        pts = [bt + (tp - bt) * (s * p.seat_height / tp[1]) for tp, bt in zip(tops, bottoms)]
        # order: (-x,-z) (-x,+z) (+x,-z) (+x,+z); ring: 0-1, 1-3, 3-2, 2-0
        for i, j in ((0, 1), (2, 3), (1, 3), (0, 2)):
            parts.append(("stretcher", _bar(pts[i], pts[j], 0.6 * t, p.leg_round)))
    return parts


def _legs_pedestal(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    p = f.p
    col_r = float(np.clip(0.6 * p.leg_thickness + 0.01, 0.025, 0.05))
    foot_r = 0.85 * p.base_radius
    foot_h = float(np.clip(0.5 * p.leg_thickness, 0.015, 0.03))
    foot = trimesh.creation.cylinder(radius=foot_r, segment=[[0, 0, 0], [0, foot_h, 0]], sections=2 * CYLINDER_SECTIONS)
    collar = trimesh.creation.cylinder(radius=2.0 * col_r, segment=[[0, 0.5 * foot_h, 0], [0, 2.5 * foot_h, 0]],
                                       sections=CYLINDER_SECTIONS)
    column = trimesh.creation.cylinder(radius=col_r, segment=[[0, 0.5 * foot_h, 0], [0, f.mid, 0]],
                                       sections=CYLINDER_SECTIONS)
    return [("foot", foot), ("foot", collar), ("column", column)]


def _legs_star(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    p = f.p
    col_r = float(np.clip(0.5 * p.leg_thickness + 0.008, 0.02, 0.04))
    spoke_t = float(np.clip(0.8 * p.leg_thickness, 0.025, 0.045))
    caster_r = 0.03
    hub_y = 0.1 if p.has_casters else 0.06
    parts: list[tuple[str, trimesh.Trimesh]] = []
    hub = trimesh.creation.cylinder(radius=1.5 * col_r + 0.01,
                                    segment=[[0, hub_y - 0.035, 0], [0, hub_y + 0.025, 0]], sections=CYLINDER_SECTIONS)
    column = trimesh.creation.cylinder(radius=col_r, segment=[[0, hub_y, 0], [0, f.mid, 0]], sections=CYLINDER_SECTIONS)
    parts += [("hub", hub), ("column", column)]
    # a mounting plate under the seat, like the tilt mechanism of office chairs
    plate_w = min(0.6 * p.seat_width, 0.25)
    parts.append(("plate", _box_span([-plate_w / 2, f.bottom - 0.03, -plate_w / 2],
                                     [plate_w / 2, f.mid, plate_w / 2])))
    for k in range(5):
        ang = 2 * math.pi * k / 5
        d = np.array([math.sin(ang), 0.0, math.cos(ang)])  # first spoke points forward (+z)
        end_y = 1.7 * caster_r if p.has_casters else spoke_t / 2.0
        start = np.array([0.0, hub_y, 0.0])
        end = d * p.base_radius + np.array([0.0, end_y, 0.0])
        parts.append(("spoke", _bar(start, end, spoke_t, p.leg_round)))
        if p.has_casters:
            ball = trimesh.creation.icosphere(subdivisions=2, radius=caster_r)
            ball.apply_translation(d * p.base_radius + np.array([0.0, caster_r, 0.0]))
            parts.append(("caster", ball))
    return parts


def _legs_sled(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    p = f.p
    t = float(np.clip(0.7 * p.leg_thickness, 0.02, 0.04))
    parts: list[tuple[str, trimesh.Trimesh]] = []
    x = (0.62 * f.a) if f.round else (f.a - p.leg_inset - t / 2.0)
    z_top = f.z_extent(x, 0.9) - t / 2.0
    z_floor = (f.b * 1.0) if f.round else f.b - 0.5 * p.leg_inset
    z_floor = max(z_floor, z_top + 0.02)
    y_floor = t / 2.0
    # the uprights end inside the seat; their rounded/extended ends must not poke
    # through the seat's top surface
    y_top = min(f.mid, f.top - t / 2.0 - 0.002)
    for sx in (-1, 1):
        xx = sx * x
        front_floor = np.array([xx, y_floor, z_floor])
        back_floor = np.array([xx, y_floor, -z_floor])
        front_top = np.array([xx, y_top, z_top])
        back_top = np.array([xx, y_top, -z_top])
        parts.append(("runner", _tube(back_floor, front_floor, t, p.leg_round, extend_end=True)))
        parts.append(("runner", _tube(front_floor, front_top, t, p.leg_round)))
        parts.append(("runner", _tube(back_floor, back_top, t, p.leg_round)))
    return parts


def _back_transform(f: _Frame, pivot_z: float) -> np.ndarray:
    """Local back frame -> world: local origin at the seat top at the back plane, local
    +y along the (tilted) back, local +z toward the sitter."""
    return _translation([0.0, f.top, pivot_z]) @ _rot_x(-f.tilt)


def _back_pivot_z(f: _Frame) -> float:
    p = f.p
    if f.round:
        # put the back's lower corners inside the elliptic seat
        return -f.z_extent(f.back_w / 2.0, 0.97) + p.back_thickness / 2.0
    return -f.b + p.back_thickness / 2.0


def _curve_z(f: _Frame, x: float) -> float:
    """Local z of the back's centre surface at lateral position x (0 for flat backs)."""
    if f.p.back_style != "curved" or f.p.back_curve_deg <= 0:
        return 0.0
    phi_m = math.radians(f.p.back_curve_deg)
    rc = (f.back_w / 2.0) / math.sin(phi_m)
    x = min(abs(x), f.back_w / 2.0)
    return rc - math.sqrt(rc * rc - x * x)


def _slab(f: _Frame, y0: float, y1: float) -> trimesh.Trimesh:
    """Back slab in the local back frame from y0 to (at most) y1, flat or curved around
    the y axis (concave toward +z), with an optionally arched top edge."""
    p = f.p
    half = f.back_w / 2.0
    t = p.back_thickness
    secs = []
    curved = p.back_style == "curved" and p.back_curve_deg > 0
    if curved:
        phi_m = math.radians(p.back_curve_deg)
        rc = half / math.sin(phi_m)
    for u in np.linspace(-1.0, 1.0, SWEEP_SEGMENTS + 1):
        if curved:
            phi = u * phi_m
            c = np.array([rc * math.sin(phi), 0.0, rc * (1.0 - math.cos(phi))])
            n = np.array([-math.sin(phi), 0.0, math.cos(phi)])  # toward the sitter
        else:
            c = np.array([u * half, 0.0, 0.0])
            n = np.array([0.0, 0.0, 1.0])
        top = y1 - p.back_arch * (y1 - y0) * u * u
        back_pt, front_pt = c - n * t / 2.0, c + n * t / 2.0
        secs.append([
            back_pt + [0.0, y0, 0.0],
            front_pt + [0.0, y0, 0.0],
            front_pt + [0.0, top, 0.0],
            back_pt + [0.0, top, 0.0],
        ])
    return _sweep(np.asarray(secs))


def _back(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    p = f.p
    style = p.back_style
    if style == "none":
        return []
    h = p.back_height
    y_in = -0.5 * p.seat_thickness  # reach into the seat
    half = f.back_w / 2.0
    pt = p.post_thickness
    local: list[tuple[str, trimesh.Trimesh]] = []
    post_x = half - pt / 2.0

    def posts(y_top: float) -> None:
        for sx in (-1, 1):
            local.append(("back_post", _bar([sx * post_x, y_in, 0.0], [sx * post_x, y_top, 0.0], pt, p.leg_round)))

    if style in ("solid", "tall", "curved"):
        gap = p.back_gap if style != "curved" else 0.0
        if gap > 0:
            y0 = gap * h
            posts(y0 + 0.35 * (h - y0))
        else:
            y0 = y_in
        local.append(("back", _slab(f, y0, h)))
    elif style == "slatted":
        posts(h)
        n = p.n_slats
        slat_h = min(0.07, 0.45 * (0.6 * h) / n)
        slat_t = max(0.6 * p.back_thickness, 0.015)
        slat_t = min(slat_t, 0.9 * pt)
        for yc in np.linspace(0.4 * h, h - slat_h / 2.0, n):
            local.append(("back_slat", _box([0.0, yc, 0.0], [2 * post_x, slat_h, slat_t])))
    elif style == "spindles":
        posts(h)
        rail_h = float(np.clip(0.18 * h, 0.04, 0.08))
        rail_t = max(pt, 0.025)
        local.append(("back_rail", _box([0.0, h - rail_h / 2.0, 0.0], [f.back_w, rail_h, rail_t])))
        sp_t = float(np.clip(0.5 * pt, 0.012, 0.02))
        xs = np.linspace(-post_x, post_x, p.n_spindles + 2)[1:-1]
        for x in xs:
            local.append(("back_spindle", _bar([x, y_in, 0.0], [x, h - rail_h / 2.0, 0.0], sp_t, True)))
    else:  # pragma: no cover - guarded by ChairParams validation
        raise ValueError(style)

    m = _back_transform(f, _back_pivot_z(f))
    out = []
    for name, mesh in local:
        mesh.apply_transform(m)
        out.append((name, mesh))
    return out


def _arms(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    p = f.p
    if not p.has_arms or p.back_style == "none":
        return []
    parts: list[tuple[str, trimesh.Trimesh]] = []
    aw = p.arm_width
    at = float(np.clip(0.6 * aw, 0.02, 0.035))  # armrest vertical thickness
    ha = min(p.arm_height, 0.7 * p.back_height)  # armrest top above the seat top
    half = f.back_w / 2.0
    xc = half - aw / 2.0
    if p.back_style in ("slatted", "spindles") or p.back_gap > 0:
        xc = half - max(aw, p.post_thickness) / 2.0
    # where the back's centre surface is at the armrest's mid height
    pivot_z = _back_pivot_z(f)
    y_mid = ha - at / 2.0
    zl = _curve_z(f, xc)
    yl = (y_mid - zl * math.sin(f.tilt)) / math.cos(f.tilt)
    z_rear = pivot_z - yl * math.sin(f.tilt) + zl * math.cos(f.tilt)
    z_front = f.z_extent(xc, 0.95)
    post_t = min(p.post_thickness, 0.9 * aw)
    z_post = z_front - max(post_t, 0.03)
    if z_post <= z_rear + 0.05:  # degenerate (tiny seat): no room for the arm
        return []
    for sx in (-1, 1):
        x = sx * xc
        if p.arm_style == "panel":  # a club chair's side: a solid panel from near the floor
            y0 = min(0.04, 0.5 * f.bottom)
            parts.append(("arm", _box_span([x - aw / 2, y0, z_rear], [x + aw / 2, f.top + ha, z_front])))
            continue
        parts.append(("arm", _box_span([x - aw / 2, f.top + ha - at, z_rear], [x + aw / 2, f.top + ha, z_front])))
        parts.append(("arm_post", _bar([x, f.mid, z_post], [x, f.top + ha - at / 2.0, z_post], post_t, p.leg_round)))
    return parts


def _legs_cantilever(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    """A bent-tube cantilever frame: floor runners, front uprights, tubes under the seat."""
    p = f.p
    t = float(np.clip(0.7 * p.leg_thickness, 0.02, 0.035))
    x = 0.8 * f.a if f.round else f.a - p.leg_inset - t / 2.0
    z_front = f.z_extent(x, 0.95)
    y_floor, y_seat = t / 2.0, f.bottom - t / 2.0
    z_foot = z_front + 0.04
    z_back_floor = -0.7 * f.b
    parts: list[tuple[str, trimesh.Trimesh]] = []
    for sx in (-1, 1):
        xx = sx * x
        parts.append(("runner", _tube([xx, y_floor, z_back_floor], [xx, y_floor, z_foot], t, True)))
        parts.append(("runner", _tube([xx, y_floor, z_foot], [xx, y_seat, z_front], t, True)))
        parts.append(("runner", _tube([xx, y_seat, z_front], [xx, y_seat, -0.8 * f.z_extent(x)], t, True)))
    parts.append(("stretcher", _tube([-x, y_floor, z_back_floor], [x, y_floor, z_back_floor], t, True)))
    return parts


def _legs_rocking(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    """Four vertical legs standing on two rockers (arcs of radius ``rocker_radius`` along z)."""
    p = f.p
    t = p.leg_thickness
    rt = float(np.clip(0.8 * t, 0.02, 0.045))
    margin = p.leg_inset + t / 2.0
    radius = p.rocker_radius
    half = 1.35 * f.b

    def rocker_y(z: float) -> float:  # the arc touches the floor at z = 0
        return rt / 2.0 + radius - math.sqrt(radius * radius - z * z)

    parts: list[tuple[str, trimesh.Trimesh]] = []
    for sx in (-1, 1):
        zs = np.linspace(-half, half, 9)
        x_leg = 0.0
        for sz in (-1, 1):
            x, z = f.footprint_point(sx, sz, margin)
            x_leg = x
            parts.append(("leg", _bar([x, rocker_y(z), z], [x, f.mid, z], t, p.leg_round)))
        for z0, z1 in zip(zs[:-1], zs[1:]):
            parts.append(("runner", _tube([x_leg, rocker_y(z0), z0], [x_leg, rocker_y(z1), z1], rt, True)))
    return parts


def _footrest(f: _Frame) -> list[tuple[str, trimesh.Trimesh]]:
    """A bar stool's footrest: bars between the legs, or a ring around a column."""
    p = f.p
    if not p.has_footrest:
        return []
    y = p.footrest_height_frac * p.seat_height
    t = float(np.clip(0.5 * p.leg_thickness, 0.015, 0.03))
    if p.leg_style in ("four", "splayed"):
        splay = math.tan(math.radians(p.splay_deg)) if p.leg_style == "splayed" else 0.0
        margin = p.leg_inset + p.leg_thickness / 2.0 + (0.02 if p.leg_style == "splayed" else 0.0)
        corners = []
        for sx, sz in ((-1, -1), (-1, 1), (1, 1), (1, -1)):
            x, z = f.footprint_point(sx, sz, margin)
            grow = (f.mid - y) * splay / math.sqrt(2.0)
            corners.append(np.array([x + sx * grow, y, z + sz * grow]))
        return [("footrest", _bar(a, b, t, p.leg_round, extend=t)) for a, b in zip(corners, corners[1:] + corners[:1])]
    radius = float(np.clip(0.7 * max(f.a, f.b), 0.16, 0.26))
    n = 16
    ring = [np.array([radius * math.sin(2 * math.pi * k / n), y, radius * math.cos(2 * math.pi * k / n)]) for k in range(n)]
    parts = [("footrest", _tube(a, b, t, True)) for a, b in zip(ring, ring[1:] + ring[:1])]
    for sx in (-1, 1):
        parts.append(("footrest", _bar([0.0, y, 0.0], [sx * radius, y, 0.0], t, True)))
    return parts


def build_chair_parts(params: ChairParams) -> list[tuple[str, trimesh.Trimesh]]:
    """Build the chair as a list of ``(part_name, mesh)``.

    Each mesh is closed, watertight and outward oriented (positive volume); parts overlap
    each other. Names: ``seat``, ``leg``, ``stretcher``, ``foot``, ``column``, ``hub``,
    ``plate``, ``spoke``, ``caster``, ``runner``, ``back``, ``back_post``, ``back_slat``,
    ``back_rail``, ``back_spindle``, ``arm``, ``arm_post``. All parts are translated
    together so the lowest vertex is on the floor ``y = 0``. +Y up, front +Z.
    """
    f = _Frame(params)
    parts: list[tuple[str, trimesh.Trimesh]] = [("seat", _seat(f))]
    style = params.leg_style
    if style in ("four", "splayed"):
        parts += _legs_four(f, splayed=style == "splayed")
    elif style == "pedestal":
        parts += _legs_pedestal(f)
    elif style == "star":
        parts += _legs_star(f)
    elif style == "sled":
        parts += _legs_sled(f)
    elif style == "cantilever":
        parts += _legs_cantilever(f)
    elif style == "rocking":
        parts += _legs_rocking(f)
    else:  # pragma: no cover - guarded by ChairParams validation
        raise ValueError(style)
    parts += _back(f)
    parts += _arms(f)
    parts += _footrest(f)
    min_y = min(float(m.vertices[:, 1].min()) for _, m in parts)
    for _, m in parts:
        m.apply_translation([0.0, -min_y, 0.0])
    return parts


def build_chair_mesh(params: ChairParams) -> trimesh.Trimesh:
    """Build the chair mesh: the concatenation of the closed parts of
    :func:`build_chair_parts` (not merged, so it stays watertight and winding consistent
    although parts interpenetrate). Floor at ``y = 0``, +Y up, front +Z."""
    return trimesh.util.concatenate([m for _, m in build_chair_parts(params)])


def _cycled_choice(options: tuple[str, ...], seed: int, index: int, salt: int) -> str:
    """``options`` cycled in blocks of ``len(options)``; each block is a fresh seeded
    shuffle, so every block of consecutive indices covers every option exactly once and
    the choice depends only on (seed, index)."""
    n = len(options)
    block, pos = divmod(index, n)
    perm = np.random.default_rng([seed, block, salt]).permutation(n)
    return options[int(perm[pos])]


def generate_chairs(n: int, seed: int) -> list[tuple[ChairParams, trimesh.Trimesh]]:
    """Generate ``n`` chairs ``[(params, mesh), ...]``.

    Deterministic: same ``(n, seed)`` -> identical params and meshes; chair ``i`` depends
    only on ``(seed, i)`` (continuous parameters come from
    ``numpy.random.default_rng([seed, i])``), so ``generate_chairs(4, s)`` is a prefix of
    ``generate_chairs(16, s)``. Leg styles, seat shapes and back styles are cycled
    through seeded shuffles, so any 5 consecutive chairs (aligned to multiples of 5)
    cover all leg styles, and any aligned 6 all back styles; 16 chairs cover all of them.
    """
    if n < 0:
        raise ValueError(f"n={n!r} must be >= 0")
    if seed < 0:
        raise ValueError(f"seed={seed!r} must be >= 0")
    return [generate_chair(seed, i) for i in range(n)]


_KIND_LEGS = {
    "dining": ("four", "four", "splayed", "sled"),
    "office": ("star",),
    "lounge": ("four", "sled", "pedestal"),
    "bench": ("four", "four", "splayed", "sled"),
    "bar_stool": ("four", "splayed", "pedestal", "star"),
    "rocking": ("rocking",),
    "cantilever": ("cantilever",),
    "stool": ("four", "splayed", "pedestal", "star"),
}
_KIND_BACKS = {
    "dining": ("solid", "slatted", "spindles", "tall", "curved"),
    "office": ("tall", "curved", "solid"),
    "lounge": ("solid", "curved"),
    "bench": ("none", "slatted", "solid", "spindles"),
    "bar_stool": ("none", "none", "solid", "slatted", "curved"),
    "rocking": ("spindles", "slatted", "tall"),
    "cantilever": ("solid", "curved", "slatted"),
    "stool": ("none",),
}


def sample_chair_params_v2(rng: np.random.Generator, kind: str) -> ChairParams:
    """Version 2 of the generator: parameters of a chair of ``kind`` (one of :data:`KINDS`).

    Draws version 1's parameters (:func:`sample_chair_params`) with a leg and back style typical
    of the kind, then the kind's own proportions (continuous ranges, so neighbouring chairs of a
    kind differ in every dimension). Deterministic in ``rng``'s state. +Y up, front +Z.
    """
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not valid; accepted values: {', '.join(KINDS)}")
    legs, backs = _KIND_LEGS[kind], _KIND_BACKS[kind]
    leg = legs[int(rng.integers(len(legs)))]
    back = backs[int(rng.integers(len(backs)))]
    seat = SEAT_SHAPES[int(rng.integers(2))] if kind in ("bar_stool", "stool", "dining", "office") else "square"
    base = sample_chair_params(rng, leg_style=leg, seat_shape=seat, back_style=back)
    u = lambda lo, hi: _u(rng, lo, hi)  # noqa: E731 - a short local alias
    has_back = back != "none"
    change: dict = {"has_arms": has_back and rng.random() < {"office": 0.7, "lounge": 1.0, "rocking": 0.6, "bench": 0.3}.get(kind, 0.3)}
    if kind == "office":
        change.update(seat_height=u(0.44, 0.55), seat_thickness=u(0.05, 0.11), base_radius=u(0.25, 0.33),
                      back_height=u(0.45, 0.8), back_thickness=u(0.04, 0.08), back_gap=u(0.1, 0.3) if rng.random() < 0.5 else 0.0,
                      back_tilt_deg=u(5.0, 16.0), arm_height=u(0.18, 0.26))
        if change["back_gap"] and back == "curved":
            change["back_gap"] = 0.0
    elif kind == "lounge":
        width = u(0.6, 0.85)
        change.update(seat_width=width, seat_depth=width * u(0.85, 1.05), seat_height=u(0.3, 0.42), seat_thickness=u(0.1, 0.18),
                      leg_thickness=u(0.03, 0.06), back_height=u(0.3, 0.55), back_thickness=u(0.08, 0.16), back_tilt_deg=u(6.0, 18.0),
                      back_width_ratio=u(0.95, 1.0), arm_style="panel" if rng.random() < 0.7 else "bar", arm_width=u(0.07, 0.15),
                      arm_height=u(0.15, 0.26), back_arch=0.0, back_gap=0.0)
    elif kind == "bench":
        change.update(seat_width=u(0.9, 1.4), seat_depth=u(0.35, 0.5), seat_height=u(0.4, 0.48), back_width_ratio=u(0.9, 1.0),
                      back_height=u(0.25, 0.45) if has_back else 0.0, has_stretchers=bool(rng.random() < 0.5))
    elif kind in ("bar_stool", "stool"):
        tall = kind == "bar_stool"
        change.update(seat_height=u(0.62, 0.8) if tall else u(0.42, 0.6), has_footrest=tall or bool(rng.random() < 0.2),
                      footrest_height_frac=u(0.28, 0.42), back_height=u(0.15, 0.3) if has_back else 0.0,
                      back_tilt_deg=u(2.0, 10.0) if has_back else 0.0, has_arms=False, back_gap=u(0.3, 0.6) if has_back else 0.0)
    elif kind == "rocking":
        change.update(rocker_radius=u(0.9, 1.6), back_height=u(0.45, 0.8), back_tilt_deg=u(8.0, 18.0))
    elif kind == "cantilever":
        change.update(seat_thickness=u(0.02, 0.08), back_height=u(0.3, 0.5))
    if not change.get("has_arms", base.has_arms):
        change["arm_style"] = "bar"
    return replace(base, **change)


def chair_params(seed: int, index: int, version: int = 1) -> ChairParams:
    """The parameters of chair ``index`` of the sequence seeded by ``seed`` (see :func:`generate_chairs`).

    ``version=1`` is the original generator (five leg styles, six backs; the published
    ``procedural_chair_4``/``_16`` results), ``version=2`` the wider one (:data:`KINDS`, cycled
    in seeded shuffles so every aligned block of ``len(KINDS)`` chairs has one of each kind).
    Chair ``index`` depends only on ``(seed, index, version)``. Raises ``ValueError`` for negative
    values or an unknown version.
    """
    if index < 0 or seed < 0:
        raise ValueError(f"seed={seed!r} and index={index!r} must be >= 0")
    if version == 2:
        return sample_chair_params_v2(np.random.default_rng([seed, index, 2]), _cycled_choice(KINDS, seed, index, 4))
    if version != 1:
        raise ValueError(f"procedural generator version={version!r}; accepted: 1, 2")
    return sample_chair_params(
        np.random.default_rng([seed, index]),
        leg_style=_cycled_choice(_LEG_STYLES_V1, seed, index, 1),
        seat_shape=_cycled_choice(SEAT_SHAPES, seed, index, 2),
        back_style=_cycled_choice(BACK_STYLES, seed, index, 3),
    )


def generate_chair(seed: int, index: int, version: int = 1) -> tuple[ChairParams, trimesh.Trimesh]:
    """Chair ``index`` of the sequence seeded by ``seed``: ``generate_chairs(n, seed)[index]``
    (``version``: see :func:`chair_params`)."""
    params = chair_params(seed, index, version)
    return params, build_chair_mesh(params)
