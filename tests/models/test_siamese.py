"""The Siamese network, its training module, the pair data and the augmentations."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from sketch2shape.data.augment import PairAugment, paired_affine, paired_flip
from sketch2shape.data.siamese_dataset import SiameseDataModule
from sketch2shape.models.siamese import SiameseNet, untrained_net
from sketch2shape.models.siamese_module import SiameseModule
from tests.conftest import REPO_ROOT
from tests.models.tiny_siamese_data import TINY_NET, normal_map, write_tiny_dataset


@pytest.fixture
def tiny_net() -> SiameseNet:
    return untrained_net(TINY_NET, seed=0).eval()


def test_embeddings_of_identical_inputs_are_identical(tiny_net):
    sketch = torch.rand(1, 1, 64, 64)
    normal = torch.rand(1, 3, 64, 64)
    other = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        batch = tiny_net.embed_normal(torch.cat([normal, other, normal]))
        alone = tiny_net.embed_normal(normal)
        sketches = tiny_net.embed_sketch(torch.cat([sketch, sketch]))
        again = tiny_net.embed_normal(torch.cat([normal, other, normal]))
    assert torch.equal(batch, again)  # deterministic: the same call gives bit-identical embeddings
    # Same input at another batch position: equal up to float summation order (SIMD lanes).
    torch.testing.assert_close(batch[0], batch[-1], rtol=0, atol=1e-6)
    torch.testing.assert_close(sketches[0], sketches[1], rtol=0, atol=1e-6)
    # GroupNorm: an embedding does not depend on the rest of the batch.
    torch.testing.assert_close(batch[0], alone[0], rtol=1e-5, atol=1e-6)
    assert not torch.allclose(batch[0], batch[1])
    assert batch.shape == (5, 16)
    torch.testing.assert_close(batch.norm(dim=1), torch.ones(5))


def test_inputs_are_resized_inside_and_sketch_channels_agree(tiny_net):
    sketch = torch.ones(2, 1, 256, 256)
    sketch[:, :, 100:110, 40:200] = 0.0
    with torch.no_grad():
        gray = tiny_net.embed_sketch(sketch)
        rgb = tiny_net.embed_sketch(sketch.expand(-1, 3, -1, -1))
        small = tiny_net.embed_normal(torch.rand(2, 3, 20, 20))  # smaller than the network: upsampled
    torch.testing.assert_close(gray, rgb)
    assert small.shape == (2, 16)
    with pytest.raises(TypeError, match="float"):
        tiny_net.embed_normal(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))
    with pytest.raises(ValueError, match="3 channels"):
        tiny_net.embed_normal(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="normal_input"):
        SiameseNet(**TINY_NET, normal_input="depth")


def test_normal_edges_draw_silhouette_and_creases_only():
    from sketch2shape.models.siamese import normal_edges

    image = torch.from_numpy(normal_map(0, 0, 64)).permute(2, 0, 1)[None].float().div(255)
    edges = normal_edges(image)[0, 0]
    foreground = (image[0] < 0.999).any(0)
    assert edges[~foreground].max() > 0.9  # outside pixels next to the silhouette
    assert edges[0:2, 0:2].max() < 1e-3  # blank paper stays blank
    assert edges[foreground].mean() < 0.5  # flat faces are mostly blank


@pytest.mark.parametrize("variant", [{}, {"normal_input": "rgb", "share_weights": False}, {"normal_input": "rgb_edges", "share_weights": False}])
def test_gradient_flows_from_distance_to_the_normal_map(variant):
    tiny_net = untrained_net(TINY_NET | variant, seed=0).eval()
    sketch = torch.from_numpy(np.ones((1, 1, 256, 256), np.float32))
    sketch[..., 60:200, 120:124] = 0.0
    normal = torch.from_numpy(normal_map(1, 0, 256)).permute(2, 0, 1)[None].float().div(255).requires_grad_(True)
    distance = tiny_net.distance(tiny_net.embed_sketch(sketch), tiny_net.embed_normal(normal))
    assert distance.shape == (1,) and 0.0 <= distance.item() <= 2.0
    distance.sum().backward()
    assert normal.grad is not None and torch.isfinite(normal.grad).all()
    assert normal.grad.abs().sum() > 0
    pairwise = tiny_net.pairwise_distance(tiny_net.embed_sketch(sketch.expand(3, -1, -1, -1)), tiny_net.embed_normal(normal.detach()))
    assert pairwise.shape == (3, 1)
    torch.testing.assert_close(pairwise[0, 0], distance[0].detach())


def _batch(layout, labels_views, size=32):
    from sketch2shape.data.siamese_dataset import load_split_views

    views = load_split_views(layout, ["train"])
    sketches = torch.stack([views.sketch(s, v) for s, v in labels_views])
    normals = torch.stack([views.normal(s, v) for s, v in labels_views])
    labels = torch.tensor([views.labels[s] for s, _ in labels_views])
    return sketches, normals, labels


def test_loss_decreases_on_a_tiny_set(tmp_path):
    layout = write_tiny_dataset(tmp_path / "tiny", {"train": 4}, views=4)
    sketches, normals, labels = _batch(layout, [(s, v) for s in range(4) for v in range(4)])
    torch.manual_seed(0)
    module = SiameseModule(net=TINY_NET, augment={"enabled": False})
    optimizer = torch.optim.Adam(module.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        loss = module.metric_loss(module.net.embed_sketch(sketches), module.net.embed_normal(normals), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:3])


def test_cross_modal_positives_include_the_same_view():
    # pytorch-metric-learning drops the diagonal when ref_labels is the labels object itself;
    # the module must count sketch i <-> normal i (same shape, same view) as a positive pair.
    module = SiameseModule(net=TINY_NET, miner=None)
    labels = torch.tensor([0, 1])
    aligned = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0]]), dim=1)
    swapped = aligned.flip(0)
    assert module.metric_loss(aligned, aligned, labels) < module.metric_loss(aligned, swapped, labels)


def test_m_per_class_batches(tmp_path):
    layout = write_tiny_dataset(tmp_path / "tiny", {"train": 4, "val": 2}, views=4)
    dm = SiameseDataModule(layout.root, {"shapes_per_batch": 2, "views_per_shape": 2, "load_resolution": 32})
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert len(batches) == 4  # one pass: 4 shapes x 4 views = 16 pairs, batches of 4
    for batch in batches:
        assert batch["sketch"].shape == (4, 1, 32, 32) and batch["normal"].shape == (4, 3, 32, 32)
        _, counts = torch.unique(batch["label"], return_counts=True)
        assert counts.tolist() == [2, 2]
        assert set(batch["label"].tolist()) <= {0, 1, 2, 3}  # train shapes only
    query, gallery = dm.retrieval_datasets()
    assert len(query) == 2 * 4 and len(gallery) == 6 * 4
    assert query[0]["image"].shape == (1, 32, 32) and gallery[0]["image"].shape == (3, 32, 32)
    # more than the data has: lowered to it (issue 14 item 16), so small datasets train with the defaults
    big = SiameseDataModule(layout.root, {"shapes_per_batch": 5, "views_per_shape": 6, "load_resolution": 32})
    big.setup("fit")
    assert (big.settings.shapes_per_batch, big.settings.views_per_shape) == (4, 4)
    assert len(next(iter(big.train_dataloader()))["label"]) == 16


def test_paired_augmentations_keep_sketch_and_normal_map_aligned():
    normal = torch.from_numpy(normal_map(2, 1, 64)).permute(2, 0, 1)[None].float().div(255).repeat(8, 1, 1, 1)
    foreground = (normal < 0.999).any(1, keepdim=True).float()
    sketch = 1.0 - foreground  # a filled "sketch" equal to the silhouette: alignment is checkable
    torch.manual_seed(0)
    s, n = paired_affine(sketch, normal, rotate_deg=10.0, scale=(0.85, 1.15), shift=0.08, prob=1.0)
    s, n = paired_flip(s, n, prob=0.5)
    moved = ((n < 0.999).any(1, keepdim=True)).float()
    assert not torch.allclose(moved, foreground)  # something happened
    agreement = ((1.0 - s) > 0.5).eq(moved > 0.5).float().mean()
    assert agreement > 0.98


def test_augment_is_seeded_and_changes_only_sketches_when_unpaired():
    sketch = torch.ones(4, 1, 64, 64)
    sketch[:, :, 10:54, 30:32] = 0.0
    sketch[:, :, 30:32, 10:54] = 0.0
    normal = torch.rand(4, 3, 64, 64)
    augment = PairAugment({"paired_affine": {"prob": 0.0}, "paired_flip": {"prob": 0.0},
                           "thickness": {"prob": 1.0}, "breaks": {"prob": 1.0}, "jitter": {"prob": 1.0}})
    torch.manual_seed(3)
    a_s, a_n = augment(sketch, normal)
    torch.manual_seed(3)
    b_s, _ = augment(sketch, normal)
    assert torch.equal(a_s, b_s)
    assert torch.equal(a_n, normal)
    assert not torch.allclose(a_s, sketch)
    assert a_s.min() >= 0 and a_s.max() <= 1
    with pytest.raises(ValueError, match="unknown model.augment key .blur.; accepted: breaks, enabled"):
        PairAugment({"blur": {}})


@pytest.mark.slow
def test_train_then_eval_scripts(tmp_path):
    write_tiny_dataset(tmp_path / "data" / "procedural_chair_4", {"train": 4, "val": 2, "test": 1}, views=4)
    common = [
        "+data=procedural_chair_4", f"paths.root_dir={tmp_path}",
        "model.net.image_size=32", "model.net.embedding_dim=16",
        "model.net.encoder.widths=[8,16]", "model.net.encoder.blocks=[1,1]",
        "model.loader.load_resolution=32", "model.loader.shapes_per_batch=2", "model.loader.views_per_shape=2",
    ]
    train = subprocess.run(
        [sys.executable, "scripts/train_siamese.py", *common, "trainer.max_epochs=1", "trainer.enable_progress_bar=false"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert train.returncode == 0, train.stderr[-3000:]
    ckpts = list((tmp_path / "logs" / "train_siamese").glob("runs/*/checkpoints/last.ckpt"))
    assert len(ckpts) == 1
    run_dir = ckpts[0].parents[1]
    assert (run_dir / "training_curve.png").is_file()
    assert "val/hit@1" in pd.read_csv(run_dir / "csv" / "metrics.csv").columns

    net = SiameseModule.load_from_checkpoint(str(ckpts[0])).net  # no other input needed
    assert net.image_size == 32

    evaluate = subprocess.run(
        [sys.executable, "scripts/eval_siamese.py", *common, f"ckpt_path={ckpts[0]}", "gallery.image_size=32"],
        check=False, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    eval_dir = next((tmp_path / "logs" / "eval_siamese").glob("runs/*"))
    metrics = pd.read_csv(eval_dir / "metrics.csv")
    assert set(metrics["method"]) == {"trained", "untrained", "raw_pixels"}
    assert {"hit@1", "hit@5", "hit@10", "recall@1", "recall@5", "recall@10"} <= set(metrics["metric"])
    assert metrics["value"].between(0, 1).all()
    per_view = pd.read_csv(eval_dir / "per_view.csv")
    assert sorted(per_view.loc[per_view["method"] == "trained", "view"]) == [0, 1, 2, 3]
    assert (eval_dir / "gallery.png").is_file()
