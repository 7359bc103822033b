"""The one camera model of the project, shared by preprocessing and the differentiable renderer.

Conventions
-----------
* World frame: ShapeNetCore v2's. +Y is up, the front of a chair faces +Z.
* A :class:`Camera` sits on a sphere around the origin and looks at the origin. ``azimuth_deg=0``
  puts it on +Z (looking at the front), positive azimuth turns it towards +X, positive
  ``elevation_deg`` lifts it above the XZ plane.
* Camera frame (OpenGL style): x right, y up, the camera looks along -z. Normal maps are stored in
  this frame, so a surface facing the camera has normal (0, 0, 1).
* Pixels: ``(row, col)`` with row 0 at the top; the center of pixel ``(i, j)`` is at continuous
  image coordinates ``(u, v) = (j + 0.5, i + 0.5)``. Square pixels, principal point at the image
  center, field of view ``fov_deg`` across the full image width (= height).
* Depth is the distance along the ray from the camera center (not the z coordinate).

:class:`CameraBatch` holds N such cameras (one resolution) as tensors, like a PyTorch3D camera
batch: its rays are ``(N, H*W, 3)`` and :func:`sketch2shape.render.sphere_tracing.render_batch`
traces all views in one call. ``CameraBatch(...)[i]`` is the ``Camera`` of view ``i``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import torch

MAX_ELEVATION_DEG = 89.0


@dataclass(frozen=True)
class Camera:
    azimuth_deg: float = 0.0
    elevation_deg: float = 20.0
    distance: float = 2.5
    fov_deg: float = 50.0
    resolution: int = 256

    def __post_init__(self) -> None:
        if abs(self.elevation_deg) > MAX_ELEVATION_DEG:
            raise ValueError(f"elevation_deg={self.elevation_deg} must be within +-{MAX_ELEVATION_DEG} (the up vector is Y)")
        if not 0.0 < self.fov_deg < 180.0:
            raise ValueError(f"fov_deg={self.fov_deg} must be in (0, 180)")
        if self.distance <= 1.0:
            raise ValueError(f"distance={self.distance} must exceed 1 (the shape fills the unit sphere)")
        if self.resolution < 1:
            raise ValueError(f"resolution={self.resolution} must be a positive number of pixels")

    @property
    def focal_px(self) -> float:
        """Focal length in pixels."""
        return 0.5 * self.resolution / math.tan(math.radians(self.fov_deg) / 2.0)

    def to_dict(self) -> dict:
        return asdict(self)

    def with_resolution(self, resolution: int) -> "Camera":
        return Camera(self.azimuth_deg, self.elevation_deg, self.distance, self.fov_deg, resolution)

    def batch(self) -> "CameraBatch":
        """This camera as a batch of one view."""
        return CameraBatch.from_cameras([self])

    def position(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """Camera center in world coordinates, shape (3,)."""
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        xyz = [math.cos(el) * math.sin(az), math.sin(el), math.cos(el) * math.cos(az)]
        return torch.tensor(xyz, dtype=dtype, device=device) * self.distance

    def rotation(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """World-to-camera rotation R, shape (3, 3): ``x_cam = R @ (x_world - position)``.

        Rows are the camera's x (right), y (up) and z (backwards) axes in world coordinates.
        """
        back = self.position(torch.float64)
        back = back / back.norm()
        up_world = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64)
        right = torch.linalg.cross(up_world, back)
        right = right / right.norm()
        up = torch.linalg.cross(back, right)
        return torch.stack([right, up, back]).to(dtype=dtype, device=device)

    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """Points (..., 3) in world coordinates to camera coordinates (..., 3)."""
        rot = self.rotation(points.dtype, points.device)
        return (points - self.position(points.dtype, points.device)) @ rot.T

    def directions_to_camera(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rotate direction vectors (..., 3), e.g. normals, from world into the camera frame."""
        return vectors @ self.rotation(vectors.dtype, vectors.device).T

    def rays(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """One ray per pixel through the pixel center, row-major.

        Returns:
            origins: (H*W, 3) world coordinates (all the camera center).
            directions: (H*W, 3) unit vectors in world coordinates.
        """
        n = self.resolution
        centers = torch.arange(n, dtype=dtype, device=device) + 0.5
        v, u = torch.meshgrid(centers, centers, indexing="ij")
        x = (u - 0.5 * n) / self.focal_px
        y = -(v - 0.5 * n) / self.focal_px
        dirs_cam = torch.stack([x, y, -torch.ones_like(x)], dim=-1).reshape(-1, 3)
        dirs = dirs_cam @ self.rotation(dtype, device)  # R^T applied to row vectors
        dirs = dirs / dirs.norm(dim=-1, keepdim=True)
        origins = self.position(dtype, device).expand_as(dirs)
        return origins, dirs

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points (N, 3) to continuous image coordinates.

        Returns:
            uv: (N, 2) with u = column, v = row, in pixels (pixel (i, j) spans [j, j+1) x [i, i+1)).
            depth: (N,) distance from the camera center; points behind the camera get depth <= 0.
        """
        cam = self.world_to_camera(points)
        z = -cam[:, 2]
        u = self.focal_px * cam[:, 0] / z + 0.5 * self.resolution
        v = -self.focal_px * cam[:, 1] / z + 0.5 * self.resolution
        depth = cam.norm(dim=-1) * torch.sign(z)
        return torch.stack([u, v], dim=-1), depth


def view_grid(
    azimuth_count: int,
    elevations_deg: Sequence[float],
    azimuth_start_deg: float = 0.0,
    distance: float = 2.5,
    fov_deg: float = 50.0,
    resolution: int = 256,
) -> list[Camera]:
    """Cameras on an azimuth x elevation grid, elevation-major: view index = e * azimuth_count + a."""
    if azimuth_count < 1:
        raise ValueError(f"azimuth_count={azimuth_count} must be >= 1")
    step = 360.0 / azimuth_count
    return [
        Camera(azimuth_start_deg + a * step, float(el), distance, fov_deg, resolution)
        for el in elevations_deg
        for a in range(azimuth_count)
    ]


GRID_VIEWS = 24
"""The preprocessing views (sketch2shape/conf/data/base.yaml ``views``): 12 azimuths 30 degrees
apart x elevations 15 and 35; view ``i`` has azimuth ``30 * (i % 12)``, elevation 15 for
``i < 12`` else 35."""


def grid_view(index: int) -> Camera:
    """The preprocessing view ``index`` (0..23, :data:`GRID_VIEWS`); ValueError otherwise."""
    if not 0 <= int(index) < GRID_VIEWS:
        raise ValueError(f"view {index}: the preprocessing views are 0..{GRID_VIEWS - 1} (or give AZIMUTH,ELEVATION in degrees)")
    return Camera(azimuth_deg=30.0 * (int(index) % 12), elevation_deg=15.0 if int(index) < 12 else 35.0)


def view_camera(view) -> Camera | None:
    """The camera a user names for a drawing: None, ``"auto"`` or ``""`` -> None (estimate it);
    a :class:`Camera` as is; an int or ``"i"`` -> :func:`grid_view`; ``(azimuth, elevation)`` or
    ``"AZIMUTH,ELEVATION"`` in degrees (azimuth 0 looks at the chair's front, elevation above the
    horizon). Raises ValueError naming the value and the accepted forms."""
    if view is None or isinstance(view, Camera):
        return view
    forms = f"expected a view index 0..{GRID_VIEWS - 1}, AZIMUTH,ELEVATION in degrees, or auto"
    if isinstance(view, str):
        text = view.strip()
        if text.lower() in ("", "auto", "estimate"):
            return None
        try:
            view = tuple(float(v) for v in text.split(",")) if "," in text else int(text)
        except ValueError:
            raise ValueError(f"view {text!r}: {forms}") from None
    if isinstance(view, (tuple, list)):
        try:
            azimuth, elevation = (float(v) for v in view)
        except (TypeError, ValueError):
            raise ValueError(f"view {view!r}: {forms}") from None
        try:
            return Camera(azimuth_deg=azimuth, elevation_deg=elevation)
        except ValueError as err:  # e.g. an elevation beyond the poles
            raise ValueError(f"view {azimuth:g},{elevation:g}: {err}") from None
    if isinstance(view, numbers.Integral) and not isinstance(view, bool):
        return grid_view(int(view))
    raise ValueError(f"view {view!r}: {forms}")


def cameras_from_config(camera_cfg, views_cfg) -> list[Camera]:
    """The dataset's views from the ``data.camera`` and ``data.views`` config nodes."""
    return view_grid(
        azimuth_count=int(views_cfg.azimuth_count),
        elevations_deg=[float(e) for e in views_cfg.elevations_deg],
        azimuth_start_deg=float(views_cfg.get("azimuth_start_deg", 0.0)),
        distance=float(camera_cfg.distance),
        fov_deg=float(camera_cfg.fov_deg),
        resolution=int(camera_cfg.resolution),
    )


def sphere_cameras(count: int, distance: float = 2.5, fov_deg: float = 50.0, resolution: int = 256) -> list[Camera]:
    """``count`` cameras spread evenly over the sphere (Fibonacci lattice), poles clamped."""
    cams = []
    golden = math.pi * (3.0 - math.sqrt(5.0))
    for i in range(count):
        y = 1.0 - 2.0 * (i + 0.5) / count
        el = math.degrees(math.asin(max(-1.0, min(1.0, y))))
        el = max(-MAX_ELEVATION_DEG + 4.0, min(MAX_ELEVATION_DEG - 4.0, el))
        cams.append(Camera(math.degrees(golden * i) % 360.0, el, distance, fov_deg, resolution))
    return cams


def cameras_to_json(cameras: Iterable[Camera]) -> list[dict]:
    return [cam.to_dict() for cam in cameras]


def cameras_from_json(items: Iterable[dict]) -> list[Camera]:
    return [Camera(**item) for item in items]


_FIELDS = ("azimuth_deg", "elevation_deg", "distance", "fov_deg")


class CameraBatch:
    """N cameras of the :class:`Camera` model sharing one ``resolution``.

    The fields ``azimuth_deg``, ``elevation_deg``, ``distance`` and ``fov_deg`` are ``(N,)``
    float64 CPU tensors (no gradients); methods take ``dtype``/``device`` like ``Camera``'s and
    return tensors with a leading view dimension. The same checks as ``Camera`` apply to every
    view. ``len()``, indexing (a :class:`Camera`) and iteration work as on a list of cameras.
    """

    __slots__ = (*_FIELDS, "resolution")

    def __init__(self, azimuth_deg, elevation_deg, distance=2.5, fov_deg=50.0, resolution: int = 256) -> None:
        values = [torch.atleast_1d(torch.as_tensor(v, dtype=torch.float64)).detach().cpu() for v in (azimuth_deg, elevation_deg, distance, fov_deg)]
        if any(v.dim() != 1 for v in values):
            raise ValueError("CameraBatch: azimuth_deg, elevation_deg, distance and fov_deg must be scalars or 1-D sequences")
        try:
            values = torch.broadcast_tensors(*values)
        except RuntimeError as error:
            raise ValueError(f"CameraBatch: the per-view values have different lengths {[len(v) for v in values]}") from error
        if len(values[0]) == 0:
            raise ValueError("CameraBatch: needs at least one view")
        azimuth, elevation, dist, fov = (v.contiguous() for v in values)
        resolution = int(resolution)
        for i in range(len(azimuth)):  # the single camera's checks and messages, per view
            try:
                Camera(float(azimuth[i]), float(elevation[i]), float(dist[i]), float(fov[i]), resolution)
            except ValueError as error:
                raise ValueError(f"view {i}: {error}") from None
        for name, value in zip(_FIELDS, (azimuth, elevation, dist, fov)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "resolution", resolution)

    def __setattr__(self, name, value):
        raise AttributeError("CameraBatch is immutable")

    def __reduce__(self):
        return (CameraBatch, (*(getattr(self, n) for n in _FIELDS), self.resolution))

    @classmethod
    def from_views(cls, azimuths_deg, elevations_deg, distance=2.5, fov_deg=50.0, resolution: int = 256) -> "CameraBatch":
        """Views from azimuths and elevations (sequences or scalars, broadcast against each other)."""
        return cls(azimuths_deg, elevations_deg, distance, fov_deg, resolution)

    @classmethod
    def from_cameras(cls, cameras: Sequence[Camera]) -> "CameraBatch":
        cameras = list(cameras)
        if not cameras:
            raise ValueError("CameraBatch.from_cameras: needs at least one camera")
        resolutions = {cam.resolution for cam in cameras}
        if len(resolutions) > 1:
            raise ValueError(f"CameraBatch.from_cameras: the cameras must share one resolution, got {sorted(resolutions)}")
        columns = [[getattr(cam, name) for cam in cameras] for name in _FIELDS]
        return cls(*columns, resolution=cameras[0].resolution)

    def __len__(self) -> int:
        return len(self.azimuth_deg)

    def __getitem__(self, index: int) -> Camera:
        return Camera(*(float(getattr(self, name)[index]) for name in _FIELDS), self.resolution)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __eq__(self, other) -> bool:
        if not isinstance(other, CameraBatch):
            return NotImplemented
        return self.resolution == other.resolution and all(torch.equal(getattr(self, n), getattr(other, n)) for n in _FIELDS)

    __hash__ = None

    def __repr__(self) -> str:
        return f"CameraBatch({len(self)} views, resolution={self.resolution})"

    def cameras(self) -> list[Camera]:
        return list(self)

    def to_dicts(self) -> list[dict]:
        return cameras_to_json(self)

    def with_resolution(self, resolution: int) -> "CameraBatch":
        return CameraBatch(self.azimuth_deg, self.elevation_deg, self.distance, self.fov_deg, resolution)

    @property
    def focal_px(self) -> torch.Tensor:
        """(N,) focal lengths in pixels (float64)."""
        return 0.5 * self.resolution / torch.tan(torch.deg2rad(self.fov_deg) / 2.0)

    def position(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """(N, 3) camera centers in world coordinates."""
        az, el = torch.deg2rad(self.azimuth_deg), torch.deg2rad(self.elevation_deg)
        xyz = torch.stack([torch.cos(el) * torch.sin(az), torch.sin(el), torch.cos(el) * torch.cos(az)], dim=-1)
        return (xyz * self.distance[:, None]).to(dtype=dtype, device=device)

    def rotation(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> torch.Tensor:
        """(N, 3, 3) world-to-camera rotations, as :meth:`Camera.rotation` per view."""
        back = self.position(torch.float64)
        back = back / back.norm(dim=-1, keepdim=True)
        up_world = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64).expand_as(back)
        right = torch.linalg.cross(up_world, back)
        right = right / right.norm(dim=-1, keepdim=True)
        up = torch.linalg.cross(back, right)
        return torch.stack([right, up, back], dim=1).to(dtype=dtype, device=device)

    def world_to_camera(self, points: torch.Tensor) -> torch.Tensor:
        """Points (N, ..., 3) in world coordinates (view i's in row i) to camera coordinates."""
        rot = self.rotation(points.dtype, points.device)
        centered = points - self.position(points.dtype, points.device).reshape(len(self), *([1] * (points.dim() - 2)), 3)
        return self._rotate(centered, rot)

    def directions_to_camera(self, vectors: torch.Tensor) -> torch.Tensor:
        """Rotate direction vectors (N, ..., 3), view i's in row i, from world into camera frames."""
        return self._rotate(vectors, self.rotation(vectors.dtype, vectors.device))

    def _rotate(self, vectors: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
        if vectors.shape[0] != len(self) or vectors.shape[-1] != 3:
            raise ValueError(f"expected ({len(self)}, ..., 3) with one row per view, got {tuple(vectors.shape)}")
        flat = vectors.reshape(len(self), -1, 3)
        return torch.bmm(flat, rot.transpose(1, 2)).reshape(vectors.shape)

    def rays(self, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Per view one ray per pixel through the pixel center, row-major: origins and unit
        directions, both (N, H*W, 3) in world coordinates (as :meth:`Camera.rays` per view)."""
        n = self.resolution
        centers = torch.arange(n, dtype=dtype, device=device) + 0.5
        v, u = torch.meshgrid(centers, centers, indexing="ij")
        focal = self.focal_px.to(dtype=dtype, device=device)[:, None, None]
        x = (u - 0.5 * n) / focal
        y = -(v - 0.5 * n) / focal
        dirs_cam = torch.stack([x, y, -torch.ones_like(x)], dim=-1).reshape(len(self), -1, 3)
        dirs = torch.bmm(dirs_cam, self.rotation(dtype, device))  # R^T applied to row vectors
        dirs = dirs / dirs.norm(dim=-1, keepdim=True)
        origins = self.position(dtype, device)[:, None, :].expand_as(dirs)
        return origins, dirs

    def project(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Project world points (N, P, 3), view i's in row i, as :meth:`Camera.project`:
        uv (N, P, 2) and depth (N, P)."""
        cam = self.world_to_camera(points)
        z = -cam[..., 2]
        focal = self.focal_px.to(dtype=points.dtype, device=points.device).reshape(len(self), *([1] * (points.dim() - 2)))
        u = focal * cam[..., 0] / z + 0.5 * self.resolution
        v = -focal * cam[..., 1] / z + 0.5 * self.resolution
        depth = cam.norm(dim=-1) * torch.sign(z)
        return torch.stack([u, v], dim=-1), depth


def as_camera_batch(cameras: "Camera | CameraBatch | Sequence[Camera]") -> CameraBatch:
    """A :class:`CameraBatch` from a batch, one camera or a sequence of cameras."""
    if isinstance(cameras, CameraBatch):
        return cameras
    if isinstance(cameras, Camera):
        return cameras.batch()
    return CameraBatch.from_cameras(cameras)
