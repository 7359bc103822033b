"""Model files: the shipped release models, safe loading, and clear errors for files that are not
a sketch2shape checkpoint of the expected kind."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sketch2shape.models.checkpoints import (
    PRETRAINED,
    CheckpointError,
    export_deepsdf,
    export_sketch_encoder,
    load_deepsdf_file,
    load_sketch_encoder_file,
)
from sketch2shape.models.deepsdf_module import DeepSDF
from sketch2shape.models.sketch_encoder import SketchEncoderNet

REPO = Path(__file__).resolve().parents[2]


def tiny_models() -> tuple[DeepSDF, SketchEncoderNet, dict]:
    torch.manual_seed(0)
    deepsdf = DeepSDF(num_shapes=3, decoder={"latent_dim": 4, "hidden_dim": 16, "num_layers": 3, "skip_layers": [1]}, train_obj_ids=["a", "b", "c"], data_name="tiny")
    args = {"latent_dim": 4, "num_codes": 3, "image_size": 32, "framing": "ink_box", "encoder": {"_target_": "sketch2shape.models.siamese.ResNetEncoder", "widths": [8, 8], "blocks": [1, 1]}}
    encoder = SketchEncoderNet(**args)
    encoder.set_codes(deepsdf.latents.weight)
    return deepsdf, encoder, args


def test_release_files_round_trip(tmp_path: Path) -> None:
    deepsdf, encoder, args = tiny_models()
    export_deepsdf(deepsdf, tmp_path / "deepsdf.pt")
    export_sketch_encoder(encoder, args, tmp_path / "encoder.pt")
    loaded = load_deepsdf_file(tmp_path / "deepsdf.pt")
    assert loaded.train_obj_ids == ["a", "b", "c"] and torch.equal(loaded.latents.weight, deepsdf.latents.weight)
    points = torch.rand(5, 3)
    assert torch.allclose(loaded.decoder(deepsdf.latents.weight[0], points), deepsdf.eval().decoder(deepsdf.latents.weight[0], points))
    net = load_sketch_encoder_file(tmp_path / "encoder.pt")
    sketch = torch.ones(1, 1, 40, 40)
    sketch[..., 10:30, 18:22] = 0.0
    assert torch.allclose(net(sketch), encoder.eval()(sketch))
    assert net.framing == "ink_box" and not any(p.requires_grad for p in net.parameters())


def test_a_release_file_is_reproducible_and_left_alone_when_unchanged(tmp_path: Path) -> None:
    """The same model exports to the same bytes wherever it is written, a file that already holds
    it is not rewritten, and a changed model replaces it."""
    import os

    deepsdf, _, _ = tiny_models()
    first, second = export_deepsdf(deepsdf, tmp_path / "a" / "deepsdf.pt"), export_deepsdf(deepsdf, tmp_path / "b" / "deepsdf.pt")
    assert first.read_bytes() == second.read_bytes() and b".tmp" not in first.read_bytes()
    os.utime(first, (1_000_000_000, 1_000_000_000))
    export_deepsdf(deepsdf, first)
    assert first.stat().st_mtime == 1_000_000_000  # same values: not rewritten
    with torch.no_grad():
        deepsdf.latents.weight[0, 0] += 1.0
    export_deepsdf(deepsdf, first)
    assert first.stat().st_mtime != 1_000_000_000 and torch.equal(load_deepsdf_file(first).latents.weight, deepsdf.latents.weight)


def test_files_that_are_not_matching_checkpoints_are_named(tmp_path: Path) -> None:
    deepsdf, encoder, args = tiny_models()
    export_sketch_encoder(encoder, args, tmp_path / "encoder.pt")
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    broken = tmp_path / "broken.pt"
    broken.write_bytes((tmp_path / "encoder.pt").read_bytes()[:200])
    cases = [(text, load_deepsdf_file, "not a readable PyTorch checkpoint"), (tensor, load_deepsdf_file, "holds a Tensor"),
             (tmp_path / "encoder.pt", load_deepsdf_file, "sketch2shape.sketch_encoder"), (broken, load_sketch_encoder_file, "truncated")]
    for path, loader, reason in cases:
        with pytest.raises(CheckpointError) as info:
            loader(path)
        message = str(info.value)
        assert str(path) in message and "not a sketch2shape checkpoint" in message and reason in message, message
        assert "weights_only" not in message
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_deepsdf_file(tmp_path / "missing.pt")
    assert zipfile.is_zipfile(tmp_path / "encoder.pt")


def test_pickled_objects_are_not_loaded(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "sketch2shape.deepsdf", "hparams": Evil()}, path)
    with pytest.raises(CheckpointError, match="holds objects other than tensors"):
        load_deepsdf_file(path)


@pytest.mark.slow
def test_shipped_models_turn_an_example_sketch_into_a_chair_sized_mesh() -> None:
    from sketch2shape.data.user_sketch import Framing, normalize_sketch, read_sketch_file
    from sketch2shape.optimize.reconstruct import MeshSettings
    from sketch2shape.optimize.sketch_to_shape import sketch_to_shape_from_files

    method = sketch_to_shape_from_files(PRETRAINED["deepsdf"], PRETRAINED["sketch_encoder"], "cpu", mesh=MeshSettings(resolution=64))
    sketch = normalize_sketch(read_sketch_file(REPO / "examples" / "dining_chair.png"), Framing())
    result = method(sketch, refine=False)
    mesh = result.first.mesh
    assert len(mesh.faces) > 500
    extents = np.ptp(mesh.vertices, axis=0)
    assert 0.6 < extents.max() < 2.0 and extents.min() > 0.2  # fills the unit sphere like the training chairs
    assert not result.poor_match, result.describe()


@pytest.mark.slow
def test_a_non_editable_install_ships_the_pretrained_models(tmp_path: Path) -> None:
    wheel_dir = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(REPO)], check=True, timeout=600)
    wheel = next(wheel_dir.glob("sketch2shape-*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True, timeout=600)
    code = ("import sketch2shape.models.checkpoints as c; print(c.PRETRAINED_DIR); print(c.pretrained_available()); "
            "c.load_deepsdf_file(c.PRETRAINED['deepsdf']); c.load_sketch_encoder_file(c.PRETRAINED['sketch_encoder'])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    where, available = out.stdout.split()[:2]
    assert where.startswith(str(target)) and available == "True"


def test_the_shipped_models_name_no_folder_of_the_machine_that_trained_them():
    """The release files travel to every user: the encoder's record of its DeepSDF names the
    shipped sibling file (and its hash), not the training run's absolute path."""
    from sketch2shape.models.checkpoints import pretrained_available
    from sketch2shape.models.sketch_encoder import file_sha256

    if not pretrained_available():
        pytest.fail("the package's pretrained models are missing (sketch2shape/pretrained/)")
    texts = []

    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                strings(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                strings(item)
        elif isinstance(value, str):
            texts.append(value)

    for path in PRETRAINED.values():
        strings({k: v for k, v in torch.load(path, weights_only=True, map_location="cpu").items() if k != "state_dict"})
    assert texts and not [t for t in texts if Path(t).is_absolute() or "/" in t or "\\" in t]
    record = torch.load(PRETRAINED["sketch_encoder"], weights_only=True, map_location="cpu")["net_args"]["deepsdf"]
    assert record["ckpt_path"] == "deepsdf.pt" and record["ckpt_sha256"] == file_sha256(PRETRAINED["deepsdf"])
