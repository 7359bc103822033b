"""The sketch encoder (sketch -> DeepSDF code): network, training module, data, checkpoint, script."""

import subprocess
import sys
from pathlib import Path

import lightning as L
import numpy as np
import pandas as pd
import pytest
import torch

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.sketch_code_dataset import SketchCodeDataModule, split_views
from sketch2shape.models.deepsdf_module import DeepSDF
from sketch2shape.models.siamese import SiameseNet
from sketch2shape.models.sketch_encoder import (
    SketchEncoderNet,
    check_deepsdf_data,
    deepsdf_record,
    latents_fingerprint,
    require_deepsdf_ckpt,
)
from sketch2shape.models.sketch_encoder_module import SketchEncoderModule, load_sketch_encoder
from sketch2shape.utils.io import save_npy
from tests.conftest import REPO_ROOT
from tests.models.tiny_siamese_data import TINY_NET, write_tiny_dataset

LATENT_DIM = 8
TINY_DECODER = {"latent_dim": LATENT_DIM, "hidden_dim": 32, "num_layers": 4, "skip_layers": [2], "dropout": 0.0}
TINY_ENCODER_NET = {"image_size": 32, "hidden_dim": 32, "dropout": 0.0, "encoder": TINY_NET["encoder"]}
NO_AUGMENT = {"enabled": False}


def fake_deepsdf(obj_ids: list[str], data_name: str = "procedural_chair_4", seed: int = 0) -> DeepSDF:
    """A tiny untrained DeepSDF whose codes are distinct seeded random vectors (one per shape)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DeepSDF(num_shapes=len(obj_ids), decoder=TINY_DECODER, train_obj_ids=list(obj_ids), data_name=data_name)
        with torch.no_grad():
            model.latents.weight.copy_(torch.randn(len(obj_ids), LATENT_DIM) * 0.3)
    return model.eval()


def save_fake_checkpoint(model: DeepSDF, path: Path) -> Path:
    """A checkpoint ``DeepSDF.load_from_checkpoint`` reads, without running a Trainer."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams), "pytorch-lightning_version": L.__version__}, path)
    return path


def write_sdf_samples(layout: DatasetLayout, obj_ids: list[str], count: int = 512) -> None:
    rng = np.random.default_rng(0)
    for obj_id in obj_ids:
        points = rng.uniform(-0.8, 0.8, (count, 3)).astype(np.float32)
        sdf = (np.linalg.norm(points, axis=1) - 0.5).astype(np.float32)
        save_npy(layout.shape(obj_id).sdf_samples, np.concatenate([points, sdf[:, None]], 1))
        sphere = rng.normal(size=(2000, 3))
        save_npy(layout.shape(obj_id).surface_samples, (0.5 * sphere / np.linalg.norm(sphere, axis=1, keepdims=True)).astype(np.float32))


@pytest.fixture
def tiny(tmp_path):
    """(layout, train obj_ids, fake DeepSDF) of a tiny 4-train-shape, 4-view dataset."""
    layout = write_tiny_dataset(tmp_path / "data" / "procedural_chair_4", {"train": 4, "val": 1, "test": 1}, views=4)
    meta = pd.read_csv(layout.metainfo)
    write_sdf_samples(layout, meta["obj_id"].tolist())
    obj_ids = meta.query("split == 'train'")["obj_id"].tolist()
    return layout, obj_ids, fake_deepsdf(obj_ids)


def make_module(model: DeepSDF, **kwargs) -> SketchEncoderModule:
    net = TINY_ENCODER_NET | kwargs.pop("net", {})
    module = SketchEncoderModule(net=net, deepsdf=deepsdf_record(model), augment=NO_AUGMENT, **kwargs)
    module.set_codes(model.latents.weight)
    return module


def training_batch(layout: DatasetLayout, obj_ids: list[str]) -> dict:
    dm = SketchCodeDataModule(layout.root, obj_ids, {"load_resolution": 32, "val_views": []})
    dm.setup("fit")
    items = [dm.shapes.sketch(s, v) for s in range(len(obj_ids)) for v in range(dm.shapes.num_views)]
    index = torch.tensor([s for s in range(len(obj_ids)) for _ in range(dm.shapes.num_views)])
    return {"sketch": torch.stack(items), "code_index": index}


@pytest.mark.parametrize("output", ["direct", "blend"])
def test_forward_shapes_any_size_and_start_at_the_mean_code(tiny, output):
    _, _, model = tiny
    torch.manual_seed(0)
    net = make_module(model, net={"output": output}).net.eval()
    mean = model.latents.weight.mean(0)
    with torch.no_grad():
        for shape in [(2, 1, 64, 64), (3, 1, 20, 30), (1, 3, 256, 256)]:
            codes = net.encode_sketch(torch.rand(shape))
            assert codes.shape == (shape[0], LATENT_DIM)
            torch.testing.assert_close(codes, mean.expand_as(codes))  # zero-initialized last layer
    with pytest.raises(TypeError, match="float"):
        net.encode_sketch(torch.zeros(1, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\(B, 1 or 3, H, W\)"):
        net.encode_sketch(torch.rand(1, 32, 32))
    with pytest.raises(ValueError, match="output"):
        SketchEncoderNet(latent_dim=4, num_codes=2, output="classify")


def test_sketch_preprocessing_is_the_siamese_sketch_branch(tiny):
    _, _, model = tiny
    net = make_module(model, net={"image_size": 48}).net
    siamese = SiameseNet(**(TINY_NET | {"image_size": 48}))
    sketch = torch.ones(2, 1, 200, 150)
    sketch[:, :, 40:160, 70:73] = 0.0
    torch.testing.assert_close(net.prepare_sketch(sketch), siamese.prepare_sketch(sketch), rtol=0, atol=0)


@pytest.mark.parametrize("output", ["direct", "blend"])
def test_tiny_training_fits_the_codes_better_than_the_mean_code(tiny, output):
    layout, obj_ids, model = tiny
    batch = training_batch(layout, obj_ids)
    torch.manual_seed(0)
    module = make_module(model, net={"output": output})
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = module.losses(batch, augment=False)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.2 * losses[0]
    module.eval()
    with torch.no_grad():
        pred = module.net.encode_sketch(batch["sketch"])
    truth = model.latents.weight[batch["code_index"]]
    error = (pred - truth).pow(2).sum(1)
    baseline = (model.latents.weight.mean(0) - truth).pow(2).sum(1)
    assert error.mean() < 0.2 * baseline.mean()
    assert (error < baseline).all()


def test_sdf_term_trains_the_encoder_only(tiny):
    layout, obj_ids, model = tiny
    dm = SketchCodeDataModule(layout.root, obj_ids, {"load_resolution": 32, "batch_size": 8, "val_views": [3]}, sdf_points=16)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["points"].shape == (8, 16, 3)
    module = make_module(model, loss={"sdf_weight": 1.0, "sdf_points": 16})
    module.attach_decoder(model.decoder)
    terms = module.losses(batch, augment=False)
    assert set(terms) == {"latent", "sdf", "loss"}
    terms["loss"].backward()
    assert all(p.grad is None for p in model.decoder.parameters())
    assert module.net.head[-1].weight.grad.abs().sum() > 0
    assert "decoder" not in " ".join(module.state_dict())  # the decoder stays out of the checkpoint


def test_views_are_held_out_for_validation(tiny):
    layout, obj_ids, _ = tiny
    assert split_views(4, [1]) == ([0, 2, 3], [1])
    with pytest.raises(ValueError, match="do not exist"):
        split_views(4, [7])
    with pytest.raises(ValueError, match="every view"):
        split_views(2, [0, 1])
    dm = SketchCodeDataModule(layout.root, obj_ids, {"load_resolution": 32, "batch_size": 4, "val_views": [1, 3], "val_shape_points": 64})
    dm.setup("fit")
    held_out, unseen = dm.val_dataloader()
    assert len(dm.train_dataloader().dataset) == 4 * 2 and len(held_out.dataset) == 4 * 2
    batch = next(iter(held_out))
    assert set(batch["view"].tolist()) == {1, 3} and batch["sketch"].shape[1:] == (1, 32, 32)
    # the val shape (no code) in every view, with SDF samples to score the decoded code
    batch = next(iter(unseen))
    assert len(unseen.dataset) == 1 * 4 and batch["points"].shape == (4, 64, 3) and batch["sdf"].shape == (4, 64)
    no_validation = SketchCodeDataModule(layout.root, obj_ids, {"val_views": [], "val_split": None})
    no_validation.setup("fit")
    assert no_validation.val_dataloader() == []
    with pytest.raises(FileNotFoundError, match="no sketches"):
        SketchCodeDataModule(layout.root, ["not_a_shape"], {}).setup("fit")
    with pytest.raises(ValueError, match="unknown model.loader key .views. \(did you mean .val_views.\?\); accepted"):
        SketchCodeDataModule(layout.root, obj_ids, {"views": [1]})


def test_checkpoint_round_trip_and_compatibility(tiny, tmp_path):
    layout, obj_ids, model = tiny
    deepsdf_path = save_fake_checkpoint(model, tmp_path / "deepsdf.ckpt")
    record = deepsdf_record(DeepSDF.load_from_checkpoint(deepsdf_path), deepsdf_path)
    assert record["latents_sha256"] == latents_fingerprint(model.latents.weight)
    assert record["data_name"] == "procedural_chair_4" and record["latent_dim"] == LATENT_DIM
    L.seed_everything(0)
    module = SketchEncoderModule(net=TINY_ENCODER_NET, deepsdf=record, augment=NO_AUGMENT, data_name="procedural_chair_4", seed=0)
    module.set_codes(model.latents.weight)
    module.attach_decoder(model.decoder)
    dm = SketchCodeDataModule(layout.root, obj_ids, {"load_resolution": 32, "batch_size": 4, "val_views": [2], "val_shape_points": 64})
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, accelerator="cpu", num_sanity_val_steps=0)
    trainer.fit(module, datamodule=dm)
    assert {"train/loss", "val/latent_rel_mse", "val/code_acc", "val_shapes/sdf_l1", "val_shapes/mean_code_sdf_l1"} <= set(trainer.logged_metrics)
    assert "decoder" not in " ".join(module.state_dict())
    ckpt = tmp_path / "encoder.ckpt"
    trainer.save_checkpoint(ckpt)

    encoder = load_sketch_encoder(ckpt, "cpu")  # nothing else needed: the codes travel with it
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    assert encoder.deepsdf["ckpt_path"] == str(deepsdf_path.resolve())
    torch.testing.assert_close(encoder.codes, model.latents.weight)
    sketch = torch.rand(2, 1, 40, 40)
    module.eval()
    with torch.no_grad():
        torch.testing.assert_close(encoder.encode_sketch(sketch), module.net(sketch))
    encoder.check_compatible(model, "procedural_chair_4")
    assert encoder.hparams["data_name"] == "procedural_chair_4" and encoder.hparams["latent_dim"] == LATENT_DIM
    with pytest.raises(ValueError, match="not data=procedural_chair_16"):
        encoder.check_compatible(model, "procedural_chair_16")
    with pytest.raises(ValueError, match="hash differs"):
        encoder.check_compatible(fake_deepsdf(obj_ids, seed=1))
    with pytest.raises(FileNotFoundError, match="train_sketch_encoder"):
        load_sketch_encoder(tmp_path / "missing.ckpt")


def test_missing_or_wrong_deepsdf_checkpoint_is_a_clear_error(tiny, tmp_path):
    _, _, model = tiny
    with pytest.raises(ValueError, match="deepsdf_ckpt_path is required"):
        require_deepsdf_ckpt(None)
    with pytest.raises(FileNotFoundError, match="deepsdf_ckpt_path=.*missing.ckpt does not exist"):
        require_deepsdf_ckpt(tmp_path / "missing.ckpt")
    with pytest.raises(ValueError, match="trained on data=procedural_chair_4, not data=shapenet_chair_16"):
        check_deepsdf_data(model, "shapenet_chair_16")
    out = subprocess.run(
        [sys.executable, "scripts/train_sketch_encoder.py", f"paths.root_dir={tmp_path}"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )
    assert out.returncode != 0 and "deepsdf_ckpt_path is required" in out.stderr
    assert not (tmp_path / "logs" / "train_sketch_encoder" / "runs").exists() or not any(
        (tmp_path / "logs" / "train_sketch_encoder" / "runs").glob("*/checkpoints")
    )


@pytest.mark.slow
def test_train_script_end_to_end(tmp_path):
    layout = write_tiny_dataset(tmp_path / "data" / "procedural_chair_4", {"train": 4, "val": 1, "test": 1}, views=4)
    meta = pd.read_csv(layout.metainfo)
    write_sdf_samples(layout, meta["obj_id"].tolist())
    model = fake_deepsdf(meta.query("split == 'train'")["obj_id"].tolist())
    deepsdf_path = save_fake_checkpoint(model, tmp_path / "deepsdf.ckpt")
    out = subprocess.run(
        [
            sys.executable, "scripts/train_sketch_encoder.py", "+data=procedural_chair_4", f"paths.root_dir={tmp_path}",
            f"deepsdf_ckpt_path={deepsdf_path}", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
            "model.net.image_size=32", "model.net.hidden_dim=32", "model.net.encoder.widths=[8,16]", "model.net.encoder.blocks=[1,1]",
            "model.loader.load_resolution=32", "model.loader.batch_size=4", "model.loader.val_views=[3]",
            "model.loss.sdf_weight=0.5", "model.loss.sdf_points=16", "model.loader.sdf_cache_points=64",
            "final_eval.mesh_resolution=16", "final_eval.chamfer_points=200", "final_eval.views=[0,1]", "device=cpu",
        ],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    run_dir = next((tmp_path / "logs" / "train_sketch_encoder" / "runs").iterdir())
    for name in ("checkpoints/last.ckpt", "config.yaml", "training_curve.png", "final_eval.csv", "final_eval_summary.csv"):
        assert (run_dir / name).is_file(), name
    metrics = pd.read_csv(run_dir / "csv" / "metrics.csv")
    assert {"train/loss", "train/latent", "train/sdf", "val/latent_rel_mse", "val/code_acc", "val_shapes/sdf_l1"} <= set(metrics.columns)
    table = pd.read_csv(run_dir / "final_eval.csv")
    assert sorted(table["method"].unique()) == ["encoder", "encoder_nearest_code", "mean_code"]
    assert len(table.query("method == 'encoder'")) == 2  # 1 val shape x 2 views
    encoder = load_sketch_encoder(run_dir / "checkpoints" / "last.ckpt")
    assert encoder.deepsdf["ckpt_path"] == str(deepsdf_path.resolve())
    assert encoder.deepsdf["data_name"] == "procedural_chair_4" and encoder.latent_dim == LATENT_DIM
    hparams = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["hyper_parameters"]
    assert hparams["seed"] == 42 and hparams["deepsdf"]["ckpt_sha256"]
