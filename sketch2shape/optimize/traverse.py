"""Latent traversal: decode codes on the segment between two codes of a trained DeepSDF."""

from __future__ import annotations

from pathlib import Path

import torch

from sketch2shape.models.checkpoints import load_deepsdf
from sketch2shape.models.shape_space import ShapeSpace
from sketch2shape.optimize.reconstruct import MeshSettings, mesh_latent
from sketch2shape.utils.config import check_keys, plain
from sketch2shape.utils.device import resolve_device
from sketch2shape.utils.io import save_image, save_mesh
from sketch2shape.utils.training import save_config
from sketch2shape.viz import image_grid, render_mesh


def code_at(model: ShapeSpace, index: int | None, key: str) -> torch.Tensor:
    """Row ``index`` of the latent table, or the mean code for None."""
    if index is None:
        return model.mean_latent()
    rows = model.latents.num_embeddings
    if not -rows <= int(index) < rows:
        raise ValueError(f"{key}={index} is out of range: the checkpoint has {rows} latent codes (0..{rows - 1}) or null for the mean code")
    return model.latents.weight.detach()[int(index)]


def interpolate(start: torch.Tensor, end: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps, D) codes from ``start`` to ``end`` inclusive."""
    if steps < 2:
        raise ValueError(f"traversal_steps={steps} must be >= 2")
    t = torch.linspace(0.0, 1.0, steps, device=start.device)[:, None]
    return (1 - t) * start[None] + t * end[None]


def traverse_latent(cfg) -> str:
    settings = MeshSettings.from_config(cfg.mesh)  # a wrong key stops the task before any work
    check_keys(plain(cfg.model), ("prior_idx_start", "prior_idx_end"), "model")
    out_dir = Path(cfg.paths.output_dir)
    save_config(cfg, out_dir)
    model = load_deepsdf(cfg.ckpt_path, resolve_device(cfg.device))
    start = code_at(model, cfg.model.prior_idx_start, "model.prior_idx_start")
    end = code_at(model, cfg.model.prior_idx_end, "model.prior_idx_end")
    renders = []
    for step, latent in enumerate(interpolate(start, end, int(cfg.traversal_steps))):
        mesh = mesh_latent(model, latent, settings)
        save_mesh(out_dir / "mesh" / f"step={step:03d}.obj", mesh)
        renders.append(render_mesh(mesh))
    per_row = 10
    save_image(out_dir / "traversal.png", image_grid([renders[i : i + per_row] for i in range(0, len(renders), per_row)]))
    return f"{len(renders)} meshes in {out_dir / 'mesh'}, strip {out_dir / 'traversal.png'}"
