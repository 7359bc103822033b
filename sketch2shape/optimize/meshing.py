"""Meshing a latent code: the one place that defines how every answer and reconstruction is
meshed (:class:`MeshSettings`, :func:`mesh_latent`). Imports no training stack."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import trimesh

from sketch2shape.mesh.marching_cubes import extract_mesh
from sketch2shape.models.deepsdf import sdf_field
from sketch2shape.utils.config import dataclass_kwargs


@dataclass(frozen=True)
class MeshSettings:
    """How a code is meshed: ``resolution`` grid points a side over ``[-1, 1]^3``; with
    ``coarse_to_fine`` the SDF is evaluated on lattices of the given ``strides`` and only near the
    surface at finer ones (``margin``: how many coarse cells count as near); ``batch_size``
    points per decoder call; ``level``: the SDF value whose level set is meshed (units of the unit
    sphere; 0: the surface itself; a small positive value thickens every part by about that much,
    which joins thin legs that a learned field leaves just above zero). Raises ValueError below 8
    points a side."""

    resolution: int = 256
    coarse_to_fine: bool = True
    strides: tuple[int, ...] = (16, 4, 2, 1)
    margin: float = 1.5
    batch_size: int = 65536
    level: float = 0.0

    def __post_init__(self) -> None:
        if self.resolution < 8:
            raise ValueError(f"mesh resolution={self.resolution}: the marching-cubes grid needs at least 8 points a side (128-256 for a usable mesh)")

    @classmethod
    def from_config(cls, node, where: str = "mesh") -> "MeshSettings":
        """From a ``mesh:`` config node; a key that is no field raises
        :class:`~sketch2shape.utils.config.ConfigError` naming it, ``where`` and the fields."""
        values = dataclass_kwargs(cls, node, where)
        if "strides" in values:
            values["strides"] = tuple(int(s) for s in values["strides"])
        return cls(**values)


def mesh_latent(model, latent: torch.Tensor, settings: MeshSettings) -> trimesh.Trimesh:
    """The mesh of the zero level set of code ``latent`` ``(D,)`` under ``model`` (a shape space:
    anything with a ``decoder``, e.g. :class:`~sketch2shape.models.shape_space.ShapeSpace`),
    by marching cubes over ``settings.resolution^3`` points of the cube ``[-1, 1]^3``
    (coarse-to-fine unless turned off; :func:`~sketch2shape.mesh.marching_cubes.extract_mesh`).
    Unit-sphere coordinates; an empty mesh when the level set is empty."""
    field = sdf_field(model.decoder, latent)
    level = float(settings.level)
    mesh, _ = extract_mesh(
        field if level == 0.0 else (lambda points: field(points) - level),
        resolution=settings.resolution,
        coarse_to_fine=settings.coarse_to_fine,
        strides=settings.strides,
        margin=settings.margin,
        batch_size=settings.batch_size,
        device=latent.device,
    )
    return mesh
