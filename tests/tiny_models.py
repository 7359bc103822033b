"""Tiny trained models for end-to-end tests: tiny procedural_chair_4 data, a DeepSDF and a Siamese
network trained by the project's own scripts, and an untrained sketch encoder for that DeepSDF.

The ``tiny_run`` fixture (``tests/conftest.py``) builds them once per test session (about a minute).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch

from tests.conftest import REPO_ROOT
from tests.data.test_preprocess_pipeline import TINY

DATA = [a for a in TINY if a.startswith("data.") or a.startswith("data=")]
# Small, but trained enough to have a surface: at hidden_dim 32 the untrained decoder tends to start
# above the clamp (0.1) everywhere, where the clamped L1 has no gradient, and never learns.
TINY_DEEPSDF = [
    "model.decoder.latent_dim=8", "model.decoder.hidden_dim=64", "model.decoder.num_layers=4", "model.decoder.skip_layers=[2]",
    "datamodule.points_per_shape=512", "datamodule.repeats=32", "trainer.max_epochs=4", "model.lr_decoder=5e-3", "model.lr_latent=5e-3",
    "report.shapes=2", "report.resolution=24",
]
TINY_ENCODER = {"_target_": "sketch2shape.models.siamese.ResNetEncoder", "widths": [8, 16], "blocks": [1, 1], "pool_size": 2}
TINY_SIAMESE = [
    "model.net.image_size=32", "model.net.embedding_dim=16", "model.net.encoder.widths=[8,16]", "model.net.encoder.blocks=[1,1]",
    "model.loader.load_resolution=32", "model.loader.shapes_per_batch=2", "model.loader.views_per_shape=2",
    "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "model.ks=[1,5]",  # 3 shapes x 2 views to retrieve from
]


def _run(script: str, *args: str, root: Path) -> None:
    out = subprocess.run([sys.executable, f"scripts/{script}", *args, f"paths.root_dir={root}"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"{script} failed:\n{out.stderr[-3000:]}"


def tiny_encoder(deepsdf_ckpt: Path, out: Path) -> Path:
    """A tiny untrained sketch encoder for that DeepSDF, exported as a release file: it predicts the
    mean of the DeepSDF's training codes for every sketch (the head starts at zero)."""
    from sketch2shape.models.checkpoints import encoder_net_args, export_sketch_encoder, load_deepsdf_file
    from sketch2shape.models.sketch_encoder import SketchEncoderNet, deepsdf_record

    deepsdf = load_deepsdf_file(deepsdf_ckpt)
    codes = deepsdf.latents.weight.detach()
    torch.manual_seed(0)
    spec = {"encoder": TINY_ENCODER, "image_size": 32, "hidden_dim": 16, "framing": "ink_box"}
    net = SketchEncoderNet(latent_dim=codes.shape[1], num_codes=codes.shape[0], deepsdf=deepsdf_record(deepsdf, deepsdf_ckpt), **spec)
    net.set_codes(codes)
    return export_sketch_encoder(net, encoder_net_args(net, spec), out)


def build_tiny_run(root: Path) -> dict[str, Path]:
    """Tiny DeepSDF + Siamese checkpoints trained by the project's scripts on tiny procedural_chair_4
    data, and a tiny sketch encoder for the DeepSDF (release file).

    Written under ``root`` (data/, logs/, sketch_encoder.pt).
    """
    _run("preprocess_data.py", *DATA, root=root)
    _run("train_deepsdf.py", "+data=procedural_chair_4", *DATA[1:], *TINY_DEEPSDF, root=root)
    _run("train_siamese.py", "+data=procedural_chair_4", *DATA[1:], *TINY_SIAMESE, root=root)

    def newest(task: str) -> Path:
        return sorted((root / "logs" / task / "runs").iterdir())[-1] / "checkpoints" / "last.ckpt"

    deepsdf = newest("train_deepsdf")
    return {"root": root, "deepsdf": deepsdf, "siamese": newest("train_siamese"), "encoder": tiny_encoder(deepsdf, root / "sketch_encoder.pt")}


