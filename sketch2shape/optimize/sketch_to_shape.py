"""Sketch -> 3D shape, the way every caller does it (``sketch2shape reconstruct``, the app, the
benchmarks, :meth:`SketchToShape.pretrained` from Python): a coarse preview and the encoder's answer
at once, then a search among candidate codes scored against the drawing's lines, then, only when
asked for (``RefineSettings.steps``, 0 by default), a gradient refinement kept only when it passes
a keep-rule.

1. **Encode**: one forward pass of the sketch encoder gives a DeepSDF latent code; the decoder's
   zero level set is meshed coarse-to-fine. This is the *first answer*.
2. **View**: unless the caller gives a camera, the view is estimated: the first mesh's
   silhouette is ray-cast from candidate cameras (:class:`ViewSearch`) and compared with the area
   the sketch's strokes enclose, both framed on their bounding boxes; the best IoU wins.
3. **Search** (:class:`CodeSearch`, on by default): other readings of the drawing are tried (the
   encoder's code for the drawing mirrored left-right, the nearest training codes, blends
   towards them); each is meshed coarsely, drawn from its best views as the training sketches are
   drawn (contours and creases), and compared with the drawing's strokes by line chamfer
   (:mod:`sketch2shape.metrics.lines`); the candidate that draws the sketch closest is the answer
   when it beats the encoder's own code by a margin (10% of its score), and no candidate in more
   pieces than the encoder's shape is taken. Line chamfer ranks answers for one sketch by their 3D error
   (``benchmarks/results/human_drawings/``: on synthetic sketches of known chairs the true chair
   ranked first 32 of 32 times, Spearman 0.72), which a filled outline's IoU does not; the gain in
   3D is measured in ``benchmarks/results/code_search/``.
4. **Refine** (optional, off by default): the sketch is placed where the first shape's
   silhouette lies from that camera, and the code is optimized by differentiable sphere tracing
   against the sketch's filled outline (silhouette BCE: missing and extra shape both cost, so
   removing the shape never helps), kept near its start (the search's answer, else the encoder's
   code) by an anchor term (``||z - z_start||^2 / s^2``, ``s`` the spread of the training codes).
   The refined code is meshed and scored like the first one (silhouette IoU from the same camera, same placement) and kept
   only if it passes the keep-rule (:meth:`RefineSettings.rejection`): its IoU beats the first
   one's by more than ``min_iou_gain`` and it is not more broken into pieces (no more connected
   components holding over ``piece_share`` of the faces, and a largest component whose share of
   them is not lower by more than ``piece_share``); otherwise ``result.rejected`` says why.
   A higher IoU alone is no evidence of a better 3D shape: on 96 paired sketches IoU gain and
   chamfer change were barely correlated (Spearman 0.05 dev, 0.17 held-out), and refined shapes
   with detached leg pieces scored higher IoUs. Even with the keep-rule the kept answer was on
   average no better than the first shape in 3D (chamfer, ``benchmarks/results/refine_keep_rule.md``):
   the refinement bends the shape to one view's outline, which a hand-drawn outline gets wrong
   and which says nothing about depth. So it is off unless a caller sets ``steps``
   (``sketch2shape reconstruct --steps 30``, ``steps`` of ``sketch2shape/conf/app.yaml``).
5. **Check**: an answer whose lines lie farther from the drawing's than ``max_line_chamfer`` (line
   chamfer; the silhouette IoU below ``min_iou`` when that is set) is flagged as a poor match, so
   the CLI and the app say so instead of reporting success.

Everything is a function of the sketch, the models and the settings (no randomness).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
import trimesh

from sketch2shape.models.checkpoints import load_deepsdf_file, load_sketch_encoder_file
from sketch2shape.optimize.latent import LatentOptimSettings, optimize_latent
from sketch2shape.optimize.meshing import MeshSettings, mesh_latent
from sketch2shape.optimize.sketch_objective import SketchLoss, SketchObjective, SketchView
from sketch2shape.render.camera import Camera, view_camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import from_uint8
from sketch2shape.render.sphere_tracing import TracingSettings
from sketch2shape.utils.config import check_keys, dataclass_kwargs, field_names, plain

FRAME_FILL = 0.85  # share of a framed image the content's bounding square fills
DEFAULT_MESH_RESOLUTION = 128  # marching cubes grid of every answer
# The SDF level meshed for every answer (MeshSettings.level): 0.01 of the unit sphere joins thin legs
# and caster arms that the chairs model's field leaves just above zero. On the first 48 human
# drawings (chairs model, code search on) answers in one piece went from 65% to 83%, the line
# chamfer from 0.0299 to 0.0304 (benchmarks/human_drawings.py --mesh-level).
DEFAULT_MESH_LEVEL = 0.01
ANSWER_MESH = MeshSettings(resolution=DEFAULT_MESH_RESOLUTION, level=DEFAULT_MESH_LEVEL)
DEFAULT_PREVIEW_RESOLUTION = 64  # marching cubes grid of the preview shown before the first answer (0: none)
DEFAULT_MIN_IOU = 0.0  # silhouette IoU with the sketch below which an answer is a poor match (0: not used; it flagged stick-figure drawings)
DEFAULT_MAX_LINE_CHAMFER = 0.05  # line chamfer to the drawing above which an answer is a poor match (every answer to a synthetic sketch of a real chair was below 0.045)
DEFAULT_PIECE_SHARE = 0.01  # share of a mesh's faces above which a connected component is a piece


@dataclass(frozen=True)
class ViewSearch:
    """Candidate cameras for estimating the view (degrees; azimuth 0 looks at the chair's front,
    elevation above the horizon), and the silhouette resolution used to score them.

    ``front_prior`` is added to the IoU of the cameras in the front half (|azimuth| <= 90) when the
    cameras are ranked: seen from near the horizon, a left-right symmetric chair has nearly the same
    silhouette from azimuth ``a`` and from ``180 - a`` (front-left and back-left look alike in
    outline), and people draw chairs from the front; the IoU an answer reports stays the plain IoU.
    """

    azimuths_deg: tuple[float, ...] = tuple(float(a) for a in range(-180, 180, 15))
    elevations_deg: tuple[float, ...] = (5.0, 20.0, 35.0)
    resolution: int = 96
    distance: float = 2.5
    fov_deg: float = 50.0
    front_prior: float = 0.02

    def prior(self, camera: Camera) -> float:
        """The ranking bonus of ``camera`` (:attr:`front_prior` in the front half, else 0)."""
        return self.front_prior if abs((camera.azimuth_deg + 180.0) % 360.0 - 180.0) <= 90.0 else 0.0

    def cameras(self) -> list[Camera]:
        return [Camera(azimuth_deg=a, elevation_deg=e, distance=self.distance, fov_deg=self.fov_deg, resolution=self.resolution)
                for e in self.elevations_deg for a in self.azimuths_deg]


@dataclass(frozen=True)
class CodeSearch:
    """Candidate codes scored against the drawing's lines (module docstring, step 3). Sketch2Mesh
    (Guillard et al. 2021) compares the rendered contour with the drawing's by a 2D chamfer too, and
    descends its gradient; this search only chooses among whole shapes, so it cannot tear one. Off when
    ``neighbours`` is 0 and ``mirror`` is false.

    Candidates: the encoder's code; with ``mirror`` the encoder's code of the drawing mirrored
    left-right (a chair is left-right symmetric, so the mirrored drawing shows the same chair from
    the mirrored view: a second reading of the same strokes); the ``neighbours`` training codes
    nearest the encoder's (Euclidean, in code space; not the encoder's code itself); and for each of those, the code ``blends``
    of the way from the encoder's towards it. Each is meshed at ``resolution``^3 and ray-cast from
    its ``views`` best cameras by silhouette IoU (or the given camera), its contour and crease lines
    drawn as the training sketches are, and compared with the drawing by line chamfer
    (:func:`~sketch2shape.metrics.lines.line_chamfer`). The best other candidate replaces the
    encoder's code only when its score is lower by more than ``margin`` (a share of the encoder's
    score), so the search never answers with a candidate that draws the sketch worse, and not on
    a difference that wobbly strokes make: on 35 dev sketches of the procedural model
    (``benchmarks/code_search.py``) choosing on any difference made hand-drawn-style sketches 16%
    worse in 3D while synthetic ones gained 34%; with a 10% margin both gained (7% and 31%). A
    candidate in more pieces than the encoder's shape (:func:`mesh_pieces`, at the same grid) is
    not taken: detached parts can draw the right lines and still be wrong in 3D.
    """

    neighbours: int = 6
    blends: tuple[float, ...] = (0.5,)
    mirror: bool = True
    resolution: int = 48
    views: int = 3
    crease_angle_deg: float = 35.0
    margin: float = 0.1

    def __post_init__(self) -> None:
        for key, low in (("neighbours", 0), ("views", 1), ("resolution", 8)):
            value = getattr(self, key)
            if isinstance(value, bool) or not float(value).is_integer() or value < low:
                raise ValueError(f"search {key}={value}: must be a whole number >= {low} (default {getattr(CodeSearch, key)})")
            object.__setattr__(self, key, int(value))
        if isinstance(self.blends, (int, float)):
            object.__setattr__(self, "blends", (float(self.blends),))
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(f"search margin={self.margin}: a share of the encoder's score in [0, 1) (default {CodeSearch.margin})")
        if any(not 0.0 < t <= 1.0 for t in self.blends):
            raise ValueError(f"search blends={self.blends}: each must lie in (0, 1] (1: the neighbour itself, already a candidate)")

    @property
    def enabled(self) -> bool:
        return self.neighbours > 0 or self.mirror

    @classmethod
    def from_config(cls, node, where: str = "search") -> "CodeSearch":
        values = dataclass_kwargs(cls, node, where)
        if "blends" in values:
            values["blends"] = tuple(float(t) for t in values["blends"])
        return cls(**values)


@dataclass(frozen=True)
class RefineSettings:
    """Refinement of the encoder's (or the search's) code (module docstring, step 4). ``steps=0`` (the default)
    turns it off; 30 steps is what it was measured with.

    ``resolution``: rendering size in pixels; ``loss``: the weights of the sketch loss terms
    (:class:`~sketch2shape.optimize.sketch.SketchLoss`: silhouette BCE, anchor to the encoder's
    code, optionally the Siamese distance); ``lr`` and ``lr_decay`` (applied at 70% of the
    steps): Adam on the code; ``prior_weight``: DeepSDF's code prior; ``min_iou_gain`` and
    ``piece_share``: the keep-rule (:meth:`rejection`).
    """

    steps: int = 0
    resolution: int = 64
    loss: SketchLoss = SketchLoss(silhouette_weight=1.0, distance_weight=0.0, anchor_weight=0.05)
    lr: float = 1e-2
    lr_decay: float = 0.3
    prior_weight: float = 1e-4
    min_iou_gain: float = 0.05
    piece_share: float = DEFAULT_PIECE_SHARE

    def __post_init__(self) -> None:
        if int(self.steps) != self.steps or self.steps < 0:
            raise ValueError(f"refinement steps={self.steps}: must be a whole number >= 0 (0: the encoder's shape only; 30 to refine)")
        if self.resolution < 8:
            raise ValueError(f"refinement resolution={self.resolution}: must be at least 8 pixels (default {RefineSettings.resolution})")
        if self.lr <= 0:
            raise ValueError(f"refinement lr={self.lr}: must be > 0 (default {RefineSettings.lr})")

    def rejection(self, first: "ShapeAnswer", refined: "ShapeAnswer") -> str:
        """Why the refined answer may not replace the first one (``""``: it may). The keep-rule:

        * its silhouette IoU must exceed the first's by more than ``min_iou_gain`` (0.05, chosen
          on dev: nearly every refinement gains some IoU, whatever it does to the 3D shape);
        * it may not have more *pieces* (connected components with over ``piece_share`` of the
          faces, :func:`mesh_pieces`) than the first shape, nor a largest piece whose share of the
          faces is lower by more than ``piece_share`` (what specks may take): detached legs or
          floating slabs raise the IoU but are wrong in 3D.

        Measured at 30 steps (``benchmarks/results/refine_keep_rule.md``, chamfer x1000, mean of
        the paired sketches; chosen on dev, checked on held-out chairs):

        ==============  ===========  =====================  ========================
        subset          first shape  old rule (IoU higher)  this rule (refined kept)
        ==============  ===========  =====================  ========================
        dev (48)        11.03        11.85                  11.15 (31)
        held-out (48)   10.35        10.48                  10.88 (29)
        ==============  ===========  =====================  ========================

        No rule tried kept a shape as good as the first on average, hence ``steps`` defaults to
        0. This rule is what refinement, when asked for, is kept by: it stops the visible failure
        (a shape in more pieces, as in a user's trial: IoU 0.64 -> 0.78 with detached legs), which
        chamfer barely weighs; it is not a 3D-quality gain.
        """
        if len(refined.mesh.faces) == 0:
            return "the refined shape is empty"
        if refined.iou <= first.iou + self.min_iou_gain:
            return f"its IoU gain {refined.iou - first.iou:+.3f} is not above {self.min_iou_gain:.3f}"
        (first_count, first_largest), (count, largest) = mesh_pieces(first.mesh, self.piece_share), mesh_pieces(refined.mesh, self.piece_share)
        if count > first_count:
            return f"it is in {count} pieces, the first shape in {first_count}"
        if largest < first_largest - self.piece_share:
            return f"its largest piece holds {largest:.0%} of the faces, the first shape's {first_largest:.0%}"
        return ""

    @classmethod
    def from_config(cls, node, where: str = "refine") -> "RefineSettings":
        """From a mapping (``loss`` a nested mapping of :class:`SketchLoss` weights, merged over
        this class's default weights); unknown keys raise :class:`~sketch2shape.utils.config.ConfigError`."""
        values = dataclass_kwargs(cls, node, where)
        if "loss" in values:
            loss = {**dataclasses.asdict(cls.loss), **dataclass_kwargs(SketchLoss, values["loss"], f"{where}.loss")}
            values["loss"] = SketchLoss(**{k: float(v) for k, v in loss.items()})
        return cls(**values)

    def optim(self) -> LatentOptimSettings:
        return LatentOptimSettings(steps=self.steps, lr=self.lr, lr_decay=self.lr_decay, lr_decay_every=max(1, int(0.7 * self.steps)),
                                   prior_weight=self.prior_weight, keep_best=True)


@dataclass
class ShapeAnswer:
    """One answer: the code ``(D,)`` (CPU), its mesh (unit-sphere coordinates, +Y up, front +Z),
    and the IoU of its silhouette with the sketch's filled outline from the chosen camera."""

    latent: torch.Tensor
    mesh: trimesh.Trimesh
    iou: float
    seconds: float
    line_chamfer: float | None = None  # its lines from the answer's camera against the main drawing's (sketch2shape.metrics.lines)
    search_score: float | None = None  # the code search's score (line chamfer at the search's grid, mean over the drawings)
    source: str = "encoder"  # which candidate it is (CodeSearch): encoder, mirrored drawing, neighbour k, blend t k


@dataclass
class SketchToShapeResult:
    """What :class:`SketchToShape` returns. ``best`` is the answer to show (``chosen`` says which)."""

    first: ShapeAnswer
    camera: Camera
    view_estimated: bool
    searched: ShapeAnswer | None = None  # the code search's winner when it is not the encoder's code
    refined: ShapeAnswer | None = None
    chosen: str = "first"  # first | searched | refined
    rejected: str = ""  # why the refined shape was not kept (RefineSettings.rejection); "" when kept or absent
    min_iou: float = 0.0
    max_line_chamfer: float = float("inf")
    history: list[dict[str, float]] = field(default_factory=list)

    @property
    def best(self) -> ShapeAnswer:
        if self.chosen == "refined" and self.refined is not None:
            return self.refined
        return self.searched if self.chosen == "searched" and self.searched is not None else self.first

    @property
    def start(self) -> ShapeAnswer:
        """The answer a refinement starts from: the search's winner, else the first shape."""
        return self.searched if self.searched is not None else self.first

    @property
    def poor_match(self) -> bool:
        """True when the best answer ignores the drawing: its lines lie farther from the drawing's
        than ``max_line_chamfer`` (or its silhouette IoU is below ``min_iou``, when that is set),
        or it has no surface."""
        lines = self.best.line_chamfer
        return len(self.best.mesh.faces) == 0 or self.best.iou < self.min_iou or (lines is not None and lines > self.max_line_chamfer)

    def match_problem(self) -> str:
        """Why :attr:`poor_match` holds, in words with the measure ("" when it does not)."""
        best = self.best
        if len(best.mesh.faces) == 0:
            return "the answer has no surface"
        if best.line_chamfer is not None and best.line_chamfer > self.max_line_chamfer:
            if not np.isfinite(best.line_chamfer):
                return "it draws no lines from the drawing's view"
            calibrated = ", farther than any answer to a synthetic sketch of a real chair" if self.max_line_chamfer == DEFAULT_MAX_LINE_CHAMFER else ""
            return (f"its lines lie {best.line_chamfer:.3f} of the drawing's size from the drawing's on average "
                    f"(line chamfer; above {self.max_line_chamfer:.3f}{calibrated})")
        if best.iou < self.min_iou:
            return f"its silhouette IoU with the drawing's outline is {best.iou:.2f}, below {self.min_iou:.2f}"
        return ""

    def describe(self) -> str:
        view = f"azimuth {self.camera.azimuth_deg:.0f}, elevation {self.camera.elevation_deg:.0f}" + (" (estimated)" if self.view_estimated else " (given)")
        text = f"view {view}; first shape IoU {self.first.iou:.2f} ({self.first.seconds:.1f} s)"
        if self.searched is not None:
            text += (f"; code search chose {self.searched.source} (score {self.searched.search_score:.3f}, the encoder's {self.first.search_score:.3f}; "
                     f"{self.searched.seconds:.1f} s; view {self.camera.azimuth_deg:.0f}, {self.camera.elevation_deg:.0f})")
        elif self.first.search_score is not None:
            text += "; code search kept the encoder's code"
        if self.refined is not None:
            text += f", refined IoU {self.refined.iou:.2f} ({self.refined.seconds:.1f} s); kept the {self.chosen} shape"
            if self.rejected:
                text += f" (refined shape rejected: {self.rejected})"
        if self.best.line_chamfer is not None:
            text += f"; line chamfer to the drawing {self.best.line_chamfer:.3f}"
        pieces, largest = mesh_pieces(self.best.mesh)
        if pieces > 1:
            text += f"; the {self.chosen} shape is in {pieces} separate pieces (the largest holds {largest:.0%} of it)"
        return text


class RefinementStopped(Exception):
    """Raised by a progress callback to stop the refinement (the best code so far is kept)."""


def mesh_pieces(mesh: trimesh.Trimesh, min_share: float = DEFAULT_PIECE_SHARE) -> tuple[int, float]:
    """``(pieces, largest share)`` of a mesh: how many connected components (faces joined by
    shared vertices) hold more than ``min_share`` of its faces, and the share of the largest one
    (``(0, 0.0)`` for an empty mesh). Marching cubes' specks (a few faces) are not pieces."""
    faces = len(mesh.faces)
    if faces == 0:
        return 0, 0.0
    shares = np.array([len(part.faces) for part in mesh.split(only_watertight=False)], dtype=float) / faces
    return int((shares > min_share).sum()), float(shares.max())


# ------------------------------------------------------------------------------------------ images


def filled_outline(sketch: np.ndarray, gap: float = 0.04) -> np.ndarray:
    """Bool ``(H, W)``: the area the strokes of a uint8 sketch (ink < 128) enclose, strokes included.

    Hand-drawn strokes rarely meet: gaps up to ``gap`` times the drawing's size are bridged first
    (a morphological closing of the ink), so a broken outline still encloses its area.
    """
    ink = (sketch < 128).astype(np.uint8)
    box = bounding_box(ink > 0)
    if box is not None and gap > 0:
        size = max(box[1] - box[0], box[3] - box[2]) + 1
        k = max(1, int(round(gap * size)))
        ink = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1)))
    contours, _ = cv2.findContours(ink, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    filled = np.zeros_like(ink)
    cv2.drawContours(filled, contours, -1, 1, thickness=cv2.FILLED)
    return filled > 0


def bounding_box(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(y0, y1, x0, x1)`` inclusive of a bool mask's True pixels, or None when empty."""
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        return None
    return int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())


def place_box(image: np.ndarray, box: tuple[int, int, int, int], target: tuple[float, float, float], size: int, fill_value: int) -> np.ndarray:
    """Move and scale ``image`` so that ``box`` (its content) gets centre ``(cy, cx)`` and longer
    side ``target[2]`` pixels in a ``size x size`` output (``fill_value`` outside; area resampling
    when shrinking, linear when growing)."""
    y0, y1, x0, x1 = box
    cy, cx, side = target
    scale = side / max(y1 - y0 + 1, x1 - x0 + 1)
    matrix = np.array([[scale, 0.0, cx - scale * (x0 + x1 + 1) / 2.0], [0.0, scale, cy - scale * (y0 + y1 + 1) / 2.0]])
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, matrix, (size, size), flags=interpolation, borderValue=fill_value)


def framed(mask: np.ndarray, size: int) -> np.ndarray:
    """A bool mask re-framed on its bounding square (centred, filling :data:`FRAME_FILL`)."""
    box = bounding_box(mask)
    if box is None:
        return np.zeros((size, size), bool)
    out = place_box(mask.astype(np.uint8) * 255, box, (size / 2.0, size / 2.0, FRAME_FILL * size), size, 0)
    return out > 127


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks of one shape (0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def mesh_silhouette(raycaster: MeshRaycaster | None, camera: Camera) -> np.ndarray:
    """Bool ``(R, R)`` silhouette of a mesh from ``camera`` (all False for an empty mesh)."""
    if raycaster is None:
        return np.zeros((camera.resolution, camera.resolution), bool)
    return np.isfinite(raycaster.depth(camera))


def view_scores(raycaster: MeshRaycaster | None, outline: np.ndarray, search: ViewSearch) -> list[tuple[Camera, float]]:
    """Every candidate camera of ``search`` with the IoU of the mesh's framed silhouette from it and
    the framed sketch outline, best first by IoU plus the front prior (:attr:`ViewSearch.front_prior`;
    ties keep the candidates' order)."""
    target = framed(outline, search.resolution)
    scores = [(camera, iou(framed(mesh_silhouette(raycaster, camera), search.resolution), target)) for camera in search.cameras()]
    return sorted(scores, key=lambda pair: -(pair[1] + search.prior(pair[0])))


def estimate_view(raycaster: MeshRaycaster | None, outline: np.ndarray, search: ViewSearch) -> tuple[Camera, float]:
    """The candidate camera whose framed silhouette of the mesh best matches the framed sketch
    outline, and that IoU."""
    return view_scores(raycaster, outline, search)[0]


# ------------------------------------------------------------------------------------------ method


@dataclass(frozen=True)
class SketchToShapeSettings:
    """Every setting of :class:`SketchToShape` (no models): refinement, meshing, view search,
    sphere tracing and the poor-match threshold, each with its one default."""

    refine: RefineSettings = RefineSettings()
    mesh: MeshSettings = ANSWER_MESH
    view_search: ViewSearch = ViewSearch()
    tracing: TracingSettings = TracingSettings()
    min_iou: float = DEFAULT_MIN_IOU
    search: CodeSearch = CodeSearch()
    preview: int = DEFAULT_PREVIEW_RESOLUTION
    max_line_chamfer: float = DEFAULT_MAX_LINE_CHAMFER

    @classmethod
    def from_config(cls, node=None, where: str = "method") -> "SketchToShapeSettings":
        """From ``{refine: {steps, resolution, loss: {silhouette_weight, ...}, lr, ...}, mesh:
        {resolution, ...}, view_search: {azimuths_deg, ...}, tracing: {...}, min_iou, search:
        {neighbours, ...} or false, preview, max_line_chamfer}``; a
        missing or ``null`` entry keeps the default. An unknown key raises
        :class:`~sketch2shape.utils.config.ConfigError` naming it and the accepted keys."""
        node = dict(plain(node) or {})
        check_keys(node, field_names(cls), where)
        values: dict = {}
        if node.get("refine") is not None:
            values["refine"] = RefineSettings.from_config(node["refine"], f"{where}.refine")
        if node.get("mesh") is not None:
            values["mesh"] = MeshSettings.from_config({"resolution": DEFAULT_MESH_RESOLUTION, "level": DEFAULT_MESH_LEVEL, **node["mesh"]}, f"{where}.mesh")
        if node.get("view_search") is not None:
            search = dataclass_kwargs(ViewSearch, node["view_search"], f"{where}.view_search")
            values["view_search"] = ViewSearch(**{k: tuple(v) if isinstance(v, list) else v for k, v in search.items()})
        if node.get("tracing") is not None:
            values["tracing"] = TracingSettings(**dataclass_kwargs(TracingSettings, node["tracing"], f"{where}.tracing"))
        if node.get("min_iou") is not None:
            values["min_iou"] = float(node["min_iou"])
        if node.get("search") is False:  # off: the encoder's shape (second drawings still choose among their codes)
            values["search"] = CodeSearch(neighbours=0, mirror=False)
        elif node.get("search") is not None and node.get("search") is not True:
            values["search"] = CodeSearch.from_config(node["search"], f"{where}.search")
        if node.get("preview") is not None:
            values["preview"] = int(node["preview"])
        if node.get("max_line_chamfer") is not None:
            values["max_line_chamfer"] = float(node["max_line_chamfer"])
        return cls(**values)


def method_node(steps: int | None = None, render_resolution: int | None = None, silhouette_weight: float | None = None,
                resolution: int | None = None, min_iou: float | None = None, search: bool | None = None,
                max_line_chamfer: float | None = None) -> dict:
    """The :meth:`SketchToShapeSettings.from_config` mapping of the flat settings that
    ``sketch2shape reconstruct``'s flags and the app's settings name; ``None`` leaves a setting to
    the method's default."""
    refine: dict = {}
    if steps is not None:
        refine["steps"] = int(steps)
    if render_resolution is not None:
        refine["resolution"] = int(render_resolution)
    if silhouette_weight is not None:
        refine["loss"] = {"silhouette_weight": float(silhouette_weight)}
    node: dict = {"refine": refine, "min_iou": min_iou, "max_line_chamfer": max_line_chamfer}
    if resolution is not None:
        node["mesh"] = {"resolution": int(resolution)}
    if search is False:
        node["search"] = {"neighbours": 0, "mirror": False}
    return node


class SketchToShape:
    """Sketch -> shape with a DeepSDF model and a sketch encoder (module docstring).

    Args:
        deepsdf: the shape space, a :class:`sketch2shape.models.shape_space.ShapeSpace` (eval mode;
            :func:`~sketch2shape.models.checkpoints.load_deepsdf_file`).
        encoder: a :class:`sketch2shape.models.sketch_encoder.SketchEncoderNet` predicting codes of
            that DeepSDF (checked with ``check_compatible``; ``ValueError`` otherwise).
        refine: refinement settings (default ``steps=0``: encoder only) and the keep-rule.
        mesh: meshing of every answer (default 128^3, coarse-to-fine).
        view_search: candidate cameras when no camera is given.
        tracing: sphere-tracing settings of the refinement.
        min_iou: silhouette IoU below which an answer is a poor match (0: not used).
        max_line_chamfer: line chamfer to the drawing above which an answer is a poor match.
        siamese: optional Siamese network, for ``refine.loss.distance_weight > 0``.
        search: the code search after the first shape (:class:`CodeSearch`).
        preview: marching cubes grid of the coarse shape passed to ``on_preview`` (0: none).

    Call it with a normalized sketch (uint8 ``(H, W)``, ink 0 on 255; see
    :func:`sketch2shape.data.user_sketch.normalize_sketch`) and optionally a camera.
    """

    def __init__(self, deepsdf, encoder, refine: RefineSettings = RefineSettings(), mesh: MeshSettings = ANSWER_MESH,
                 view_search: ViewSearch = ViewSearch(), tracing: TracingSettings = TracingSettings(), min_iou: float = DEFAULT_MIN_IOU, siamese=None,
                 search: CodeSearch = CodeSearch(), preview: int = DEFAULT_PREVIEW_RESOLUTION,
                 max_line_chamfer: float = DEFAULT_MAX_LINE_CHAMFER) -> None:
        if not 0.0 <= min_iou <= 1.0:
            raise ValueError(f"min_iou={min_iou}: a silhouette IoU lies between 0 and 1 (default {DEFAULT_MIN_IOU})")
        encoder.check_compatible(deepsdf)
        self.deepsdf, self.encoder, self.siamese = deepsdf, encoder, siamese
        self.refine_settings, self.mesh_settings, self.view_search, self.tracing = refine, mesh, view_search, tracing
        self.search = search
        if preview != 0 and preview < 8:
            raise ValueError(f"preview={preview}: a marching-cubes grid of at least 8 points a side, or 0 for no preview (default {DEFAULT_PREVIEW_RESOLUTION})")
        self.preview = int(preview)
        if not max_line_chamfer > 0:
            raise ValueError(f"max_line_chamfer={max_line_chamfer}: must be > 0 (default {DEFAULT_MAX_LINE_CHAMFER}; inf: never flag)")
        self.max_line_chamfer = float(max_line_chamfer)
        self.min_iou = float(min_iou)

    @classmethod
    def from_config(cls, deepsdf, encoder, node=None, siamese=None) -> "SketchToShape":
        """The method with :meth:`SketchToShapeSettings.from_config` settings: the one place where
        ``sketch2shape reconstruct``, the app and the benchmarks get theirs (a setting left out
        keeps its default). A misspelled key raises :class:`~sketch2shape.utils.config.ConfigError`."""
        return cls.with_settings(deepsdf, encoder, SketchToShapeSettings.from_config(node), siamese)

    @classmethod
    def with_settings(cls, deepsdf, encoder, settings: SketchToShapeSettings, siamese=None) -> "SketchToShape":
        """The method with every setting taken from ``settings``."""
        return cls(deepsdf, encoder, siamese=siamese, **{f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)})

    @classmethod
    def pretrained(cls, model: str | None = None, device: str | torch.device = "auto", **settings) -> "SketchToShape":
        """The method with a release model shipped in the package, the Python entry point::

            from sketch2shape.optimize.sketch_to_shape import SketchToShape
            method = SketchToShape.pretrained()              # or model="procedural"
            result = method.reconstruct("my_chair.png")      # a path, a PIL image or an array
            result.best.mesh.export("chair.obj")            # trimesh; result.best.latent: the code

        ``model``: a name of :data:`~sketch2shape.models.checkpoints.PRETRAINED_MODELS` (None: the
        default model); ``device``: ``auto`` (CUDA when available), ``cpu``, ``cuda[:i]``;
        ``settings``: the mapping of :meth:`from_config` as keywords (``refine={"steps": 30}``,
        ``mesh={"resolution": 96}``, ``min_iou=0.4``). Raises ValueError for an unknown model or
        device, FileNotFoundError when the package lacks the model's files (train them with
        ``sketch2shape train-release``)."""
        from sketch2shape.models.checkpoints import pretrained_model
        from sketch2shape.utils.device import resolve_device

        chosen = pretrained_model(model)
        if not chosen.available():
            raise FileNotFoundError(f"the pretrained model {chosen.name!r} is not in this installation ({chosen.folder}); "
                                    f"train it with `sketch2shape train-release --data {chosen.data}`")
        files = chosen.files()
        return sketch_to_shape_from_files(files["deepsdf"], files["sketch_encoder"], resolve_device(device, key="device"), config=settings)

    def reconstruct(self, sketch, view=None, refine: bool = True, on_first: Callable[[SketchToShapeResult], None] | None = None,
                    also: Sequence = ()) -> SketchToShapeResult:
        """Answer any drawing: ``sketch`` is a file path, a PIL image or an array (uint8 ``(H, W)``
        gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA; dark lines on light paper or light on dark,
        any size, photos of paper included: :func:`~sketch2shape.data.user_sketch.normalize_sketch`
        brings it to the training form). ``view``: where it is drawn from (None: estimated; a
        preprocessing view index 0..23, ``(azimuth, elevation)`` in degrees or a Camera;
        :func:`~sketch2shape.render.camera.view_camera`). Returns a :class:`SketchToShapeResult`:
        ``best.mesh`` (trimesh, unit-sphere coordinates, +Y up, front +Z), ``best.latent`` ``(D,)``,
        ``camera``, ``best.iou`` and ``poor_match``. Raises
        :class:`~sketch2shape.data.user_sketch.SketchInputError` (a ValueError naming the input)
        for a file that is no image or a drawing without lines, ValueError for a bad ``view``.
        ``also``: more drawings of the same chair, a list of drawings as ``sketch`` or of
        ``(drawing, view)`` pairs (one drawing or one pair may be given alone); one code is chosen
        against all of them (``__call__``'s ``also``)."""
        from PIL import Image

        drawing_types = (str, Path, np.ndarray, Image.Image)
        if isinstance(also, drawing_types) or (isinstance(also, tuple) and len(also) == 2 and isinstance(also[0], drawing_types)):
            also = [also]  # one drawing, or one (drawing, view) pair: several go in a list
        extra = []
        for number, item in enumerate(also, start=2):
            drawing, drawn_view = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
            extra.append((prepare_sketch(drawing, None if isinstance(drawing, (str, Path)) else f"drawing {number}"), view_camera(drawn_view)))
        return self(prepare_sketch(sketch), camera=view_camera(view), refine=refine, on_first=on_first, also=extra)

    @property
    def device(self) -> torch.device:
        return self.deepsdf.latents.weight.device

    def encode(self, sketch: np.ndarray) -> torch.Tensor:
        """The encoder's code ``(D,)`` of a uint8 sketch (ink 0), on the model's device."""
        with torch.no_grad():
            return self.encoder.encode_sketch(from_uint8(sketch)[None, None].to(self.device))[0].to(self.device)

    def mesh(self, latent: torch.Tensor) -> trimesh.Trimesh:
        with torch.no_grad():
            return mesh_latent(self.deepsdf, latent.to(self.device), self.mesh_settings)

    def __call__(
        self,
        sketch: np.ndarray,
        camera: Camera | None = None,
        refine: bool = True,
        on_first: Callable[[SketchToShapeResult], None] | None = None,
        on_step: Callable[[int, dict[str, float]], None] | None = None,
        search: bool = True,
        on_preview: Callable[[torch.Tensor, trimesh.Trimesh], None] | None = None,
        also: Sequence[tuple[np.ndarray, Camera | None]] = (),
    ) -> SketchToShapeResult:
        """Answer a sketch (module docstring). ``on_first(result)`` runs as soon as the first
        shape exists (before the code search and any refinement); ``on_step(step, terms)`` after
        each refinement step and may raise :class:`RefinementStopped` to stop it (the best code so
        far is used). ``search=False`` skips the code search, ``refine=False`` the refinement.
        ``on_preview(code, mesh)`` runs first, with the encoder's code meshed at ``preview``^3 (a
        coarse shape to show while the full one is meshed; not called when ``preview`` is 0).
        ``also``: more drawings of the same chair ``[(sketch, camera or None), ...]`` (normalized
        like ``sketch``): the first shape is still the main drawing's, and the code search (run
        even when ``search`` is off) scores every candidate against all the drawings, the other
        drawings' codes and the mean of all codes among the candidates."""
        start = time.perf_counter()
        latent = self.encode(sketch)
        if on_preview is not None and 0 < self.preview < self.mesh_settings.resolution:
            with torch.no_grad():
                on_preview(latent.detach().cpu(), mesh_latent(self.deepsdf, latent, dataclasses.replace(self.mesh_settings, resolution=self.preview)))
        first_mesh = self.mesh(latent)
        raycaster = MeshRaycaster(first_mesh) if len(first_mesh.faces) else None
        outline = filled_outline(sketch)
        estimated = camera is None
        if estimated:
            camera, _ = estimate_view(raycaster, outline, self.view_search)
        score_camera = camera.with_resolution(self.view_search.resolution)
        silhouette = mesh_silhouette(raycaster, score_camera)
        target = self._place(outline, silhouette, score_camera.resolution) > 0.5
        first = ShapeAnswer(latent.detach().cpu(), first_mesh, iou(silhouette, target), time.perf_counter() - start,
                            line_chamfer=self.lines(first_mesh, camera, sketch))
        result = SketchToShapeResult(first=first, camera=camera, view_estimated=estimated, min_iou=self.min_iou, max_line_chamfer=self.max_line_chamfer)
        if on_first is not None:
            on_first(result)
        if (also or (search and self.search.enabled)) and raycaster is not None:
            self._search(result, [(sketch, outline, None if estimated else camera), *[(other, filled_outline(other), view) for other, view in also]])
            if result.searched is not None:
                result.chosen = "searched"
                latent, camera = result.searched.latent.to(self.device), result.camera
                score_camera = camera.with_resolution(self.view_search.resolution)
        if not refine or self.refine_settings.steps <= 0 or raycaster is None:
            return result
        if result.searched is not None:  # the refinement starts from the searched shape: its outline is the reference
            silhouette = mesh_silhouette(MeshRaycaster(result.searched.mesh), score_camera)
            target = self._place(outline, silhouette, score_camera.resolution) > 0.5
        first_answer = result.start
        start = time.perf_counter()
        refined_latent, history = self._refine(latent, sketch, outline, silhouette, camera, on_step)
        refined_mesh = self.mesh(refined_latent)
        refined_silhouette = mesh_silhouette(MeshRaycaster(refined_mesh), score_camera) if len(refined_mesh.faces) else np.zeros_like(silhouette)
        result.refined = ShapeAnswer(refined_latent.detach().cpu(), refined_mesh, iou(refined_silhouette, target), time.perf_counter() - start,
                                     line_chamfer=self.lines(refined_mesh, camera, sketch), source="refined")
        result.history = history
        result.rejected = self.refine_settings.rejection(first_answer, result.refined)
        result.chosen = ("searched" if result.searched is not None else "first") if result.rejected else "refined"
        return result

    def lines(self, mesh: trimesh.Trimesh, camera: Camera, sketch: np.ndarray) -> float:
        """Line chamfer between ``sketch`` (uint8, ink < 128) and the contour and crease lines of
        ``mesh`` from ``camera`` at the sketch's resolution (:mod:`sketch2shape.metrics.lines`;
        ``inf`` for an empty mesh)."""
        from sketch2shape.metrics.lines import line_chamfer
        from sketch2shape.render.mesh_raycast import answer_lines

        if len(mesh.faces) == 0:
            return float("inf")
        return line_chamfer(sketch < 128, answer_lines(mesh, camera.with_resolution(sketch.shape[0]), self.search.crease_angle_deg))

    def candidates(self, latent: torch.Tensor, sketch: np.ndarray, also: Sequence[np.ndarray] = ()) -> list[tuple[str, torch.Tensor]]:
        """The code search's candidates ``[(source, code (D,)), ...]`` (:class:`CodeSearch`), the
        encoder's code ``latent`` of ``sketch`` first. ``also``: more drawings of the same chair;
        their encoder codes (and mirrored drawings' codes) and the mean of all the drawings' codes
        are candidates too."""
        settings = self.search
        out = [("encoder", latent)]
        if settings.mirror:
            out.append(("mirrored drawing", self.encode(np.ascontiguousarray(sketch[:, ::-1]))))
        codes = [latent]
        for number, other in enumerate(also, start=2):
            codes.append(self.encode(other))
            out.append((f"encoder, drawing {number}", codes[-1]))
            if settings.mirror:
                out.append((f"mirrored drawing {number}", self.encode(np.ascontiguousarray(other[:, ::-1]))))
        if len(codes) > 1:
            out.append(("mean of the drawings' codes", torch.stack(codes).mean(0)))
        if settings.neighbours > 0:
            table = self.deepsdf.latents.weight.detach()
            distance = (table - latent[None]).norm(dim=1)
            order = distance.argsort()
            nearest = order[distance[order] > 1e-6][: settings.neighbours].tolist()  # not the encoder's code itself
            for k, row in enumerate(nearest):
                out.append((f"neighbour {k + 1}", table[row]))
                out += [(f"blend {t:g} to neighbour {k + 1}", latent + t * (table[row] - latent)) for t in settings.blends if t < 1.0]
        return out

    def _search(self, result: SketchToShapeResult, drawings: Sequence[tuple[np.ndarray, np.ndarray, Camera | None]]) -> None:
        """Score the candidates by line chamfer against the drawings ``[(sketch, filled outline,
        camera or None), ...]``, the main one first (:class:`CodeSearch`; with several, the mean
        over the drawings of each one's best view); set ``result.first.search_score`` and, when
        another candidate draws them better, ``result.searched`` (meshed at the method's
        resolution) and, unless the main drawing's camera was given, ``result.camera`` (its view)."""

        start = time.perf_counter()
        settings = self.search
        coarse = dataclasses.replace(self.mesh_settings, resolution=settings.resolution)
        (sketch, outline, camera), others = drawings[0], drawings[1:]
        best: tuple[float, str, torch.Tensor, Camera] | None = None
        most_pieces = None  # the encoder's shape's pieces at the search grid
        for source, code in self.candidates(result.first.latent.to(self.device), sketch, [d[0] for d in others]):
            with torch.no_grad():
                mesh = mesh_latent(self.deepsdf, code, coarse)
            if len(mesh.faces) == 0:
                if source == "encoder":  # too thin for the search's grid: any candidate that draws lines may replace it
                    result.first.search_score, most_pieces = float("inf"), 0
                continue
            pieces = mesh_pieces(mesh)[0]
            if source == "encoder":
                most_pieces = pieces
            elif most_pieces is not None and pieces > most_pieces:
                continue
            raycaster = MeshRaycaster(mesh)
            scores, main_view = [], None
            for drawing, drawn_outline, drawn_camera in drawings:
                cameras = [drawn_camera] if drawn_camera is not None else [c for c, _ in view_scores(raycaster, drawn_outline, self.view_search)[: settings.views]]
                scored = [(self.lines(mesh, c, drawing), c) for c in cameras]
                score, view = min(scored, key=lambda pair: pair[0])
                scores.append(score)
                main_view = view if main_view is None else main_view
            score = float(np.mean(scores))
            if source == "encoder":
                result.first.search_score = score
            elif best is None or score < best[0]:
                best = (score, source, code, main_view)
        encoder_score = result.first.search_score
        if best is None or (encoder_score is not None and best[0] >= (1.0 - settings.margin) * encoder_score):
            return
        score, source, code, view = best
        mesh = self.mesh(code)
        if len(mesh.faces) == 0:  # no surface at the answer's grid: keep the encoder's shape
            return
        view = view.with_resolution(result.camera.resolution)
        raycaster = MeshRaycaster(mesh) if len(mesh.faces) else None
        score_camera = view.with_resolution(self.view_search.resolution)
        silhouette = mesh_silhouette(raycaster, score_camera)
        target = self._place(outline, silhouette, score_camera.resolution) > 0.5
        result.searched = ShapeAnswer(code.detach().cpu(), mesh, iou(silhouette, target), time.perf_counter() - start,
                                      line_chamfer=self.lines(mesh, view, sketch), search_score=score, source=source)
        if camera is None:
            result.camera = view

    @staticmethod
    def _placement(outline: np.ndarray, silhouette: np.ndarray, size: int):
        """``(box, target)`` for :func:`place_box` that puts the outline's bounding box onto the
        silhouette's in a ``size`` image, or None when either is empty."""
        outline_box, shape_box = bounding_box(outline), bounding_box(silhouette)
        if outline_box is None or shape_box is None:
            return None
        y0, y1, x0, x1 = shape_box
        ratio = size / silhouette.shape[0]
        return outline_box, ((y0 + y1 + 1) / 2.0 * ratio, (x0 + x1 + 1) / 2.0 * ratio, max(y1 - y0 + 1, x1 - x0 + 1) * ratio)

    @classmethod
    def _place(cls, outline: np.ndarray, silhouette: np.ndarray, size: int) -> np.ndarray:
        """The sketch's filled outline (bool, any size) moved and scaled onto the silhouette's
        bounding box, as float coverage ``(size, size)`` in [0, 1] (area resampling)."""
        placement = cls._placement(outline, silhouette, size)
        image = outline.astype(np.float32)
        if placement is None:
            return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
        return place_box(image, *placement, size, 0)

    def _refine(self, latent: torch.Tensor, sketch: np.ndarray, outline: np.ndarray, silhouette: np.ndarray, camera: Camera, on_step) -> tuple[torch.Tensor, list[dict[str, float]]]:
        settings = self.refine_settings
        resolution = settings.resolution
        render_camera = camera.with_resolution(resolution)
        region = torch.from_numpy(self._place(outline, silhouette, resolution)).clamp(0, 1).to(self.device)
        placement = self._placement(outline, silhouette, resolution)
        placed = place_box(sketch, *placement, resolution, 255) if placement else cv2.resize(sketch, (resolution, resolution), interpolation=cv2.INTER_AREA)
        sketch_t = from_uint8(placed)
        embedding = None
        if settings.loss.distance_weight > 0 and self.siamese is not None:
            with torch.no_grad():
                embedding = self.siamese.embed_sketch(sketch_t[None, None].to(self.device))[0]
        view = SketchView(-1, render_camera, sketch_t, embedding, region)
        objective = SketchObjective(self.deepsdf.decoder, self.siamese, [view], self.tracing, settings.loss, anchor=latent, anchor_scale=float(self.encoder.code_scale))
        seen: dict[str, object] = {"best": latent.detach().clone(), "loss": float("inf")}

        def tracked(z: torch.Tensor, step: int) -> dict[str, torch.Tensor]:
            terms = objective(z, step)
            if float(terms["loss"].detach()) < seen["loss"]:
                seen["best"], seen["loss"] = z.detach().clone(), float(terms["loss"].detach())
            if on_step is not None:
                on_step(step, {k: float(v.detach()) for k, v in terms.items()})
            return terms

        try:
            result = optimize_latent(tracked, latent, settings.optim())
            return result.latent, result.history
        except RefinementStopped:
            return seen["best"], []


def prepare_sketch(sketch, name: str | None = None) -> np.ndarray:
    """A drawing in any form :meth:`SketchToShape.reconstruct` takes (path, PIL image, array) ->
    the normalized uint8 ``(R, R)`` sketch (ink 0 on 255). Raises
    :class:`~sketch2shape.data.user_sketch.SketchInputError` naming ``name`` (default: the path, or
    ``sketch``)."""
    from PIL import Image

    from sketch2shape.data.user_sketch import Framing, SketchInputError, image_to_gray, normalize_sketch, read_sketch_file

    if isinstance(sketch, (str, Path)):
        name = name or str(sketch)
        gray = read_sketch_file(sketch)
    elif isinstance(sketch, Image.Image):
        gray = image_to_gray(sketch, name or "sketch")
    elif isinstance(sketch, np.ndarray) and sketch.ndim == 3 and sketch.shape[2] in (3, 4):
        if sketch.dtype != np.uint8:  # colour of another type: scaled by its range (floats 0..1), never wrapped
            values = sketch.astype(np.float64)
            full = 1.0 if np.issubdtype(sketch.dtype, np.floating) and values.max() <= 1.0 else (np.iinfo(sketch.dtype).max if np.issubdtype(sketch.dtype, np.integer) else 255.0)
            sketch = np.clip(np.round(values / full * 255.0), 0, 255).astype(np.uint8)
        gray = image_to_gray(Image.fromarray(np.ascontiguousarray(sketch)), name or "sketch")
    elif isinstance(sketch, np.ndarray) and sketch.ndim == 2:
        gray = sketch
    else:
        kind = f"an array of shape {sketch.shape}" if isinstance(sketch, np.ndarray) else f"a {type(sketch).__name__}"
        raise SketchInputError(f"{name or 'sketch'}: {kind} is not a drawing; pass a file path, a PIL image, or an array (H, W), (H, W, 3) or (H, W, 4)")
    return normalize_sketch(gray, Framing(), name=name or "sketch")


def sketch_to_shape_from_files(deepsdf_path, encoder_path, device: str | torch.device = "cpu", config=None, **kwargs) -> SketchToShape:
    """A :class:`SketchToShape` from two model files (release files or Lightning checkpoints; see
    :mod:`sketch2shape.models.checkpoints`), with settings from ``config`` (the mapping of
    :meth:`SketchToShape.from_config`) or, without it, ``kwargs`` for the constructor."""

    deepsdf = load_deepsdf_file(deepsdf_path, device)
    encoder = load_sketch_encoder_file(encoder_path, device)
    if config is not None:
        if kwargs:
            raise TypeError(f"pass either config or keyword settings, not both (got {sorted(kwargs)})")
        return SketchToShape.from_config(deepsdf, encoder, config)
    return SketchToShape(deepsdf, encoder, **kwargs)


__all__: Sequence[str] = ["ViewSearch", "RefineSettings", "SketchToShapeSettings", "ShapeAnswer", "SketchToShapeResult", "RefinementStopped", "SketchToShape",
                          "sketch_to_shape_from_files", "prepare_sketch", "method_node", "estimate_view", "filled_outline", "iou", "mesh_pieces"]
