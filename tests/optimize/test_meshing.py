"""Meshing a latent code (sketch2shape.optimize.meshing): the level set meshed is the one asked for."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from sketch2shape.optimize.meshing import MeshSettings, mesh_latent
from sketch2shape.utils.config import ConfigError


def ball_model() -> SimpleNamespace:
    """A shape space whose code (1,) is a ball's radius: SDF(x) = |x| - code."""
    return SimpleNamespace(decoder=lambda latent, points: points.norm(dim=-1) - latent.reshape(-1)[0])


@pytest.mark.parametrize("level", [0.0, 0.05, -0.1])
def test_the_mesh_is_the_level_set_asked_for(level: float) -> None:
    mesh = mesh_latent(ball_model(), torch.tensor([0.5]), MeshSettings(resolution=64, level=level))
    radii = np.linalg.norm(mesh.vertices, axis=1)
    assert abs(radii.mean() - (0.5 + level)) < 0.01, (level, radii.mean())


def test_a_misspelled_mesh_setting_is_refused() -> None:
    assert MeshSettings.from_config({"level": 0.01}).level == 0.01
    with pytest.raises(ConfigError, match="'levle'.*level"):
        MeshSettings.from_config({"levle": 0.01})
