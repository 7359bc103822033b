import lightning as L
import pytest
import torch

from sketch2shape.data.sdf_dataset import SDFSamples
from sketch2shape.models.deepsdf import DeepSDFDecoder
from sketch2shape.models.deepsdf_module import DeepSDF, clamped_l1


def test_decoder_shapes_and_skip_connection():
    decoder = DeepSDFDecoder(latent_dim=16, hidden_dim=32, num_layers=4, skip_layers=[2], dropout=0.0)
    points, latent = torch.randn(10, 3), torch.randn(10, 16)
    assert decoder(latent, points).shape == (10,)
    assert decoder(latent[0], points).shape == (10,)  # one code shared by all points
    # The layer before the skip is narrowed so that the skip layer sees hidden_dim inputs.
    assert decoder.hidden[1].weight.shape == (32 - 19, 32)
    assert decoder.hidden[2].weight.shape == (32, 32)
    assert (decoder(latent, points).abs() < 1).all()  # tanh output
    # The skip connection carries the input: the output depends on the latent even if the
    # layers before the skip are cut off.
    with torch.no_grad():
        for layer in decoder.hidden[:2]:
            layer.parametrizations.weight.original1.zero_()
            layer.bias.zero_()
    out_a = decoder(torch.zeros(16), points)
    out_b = decoder(torch.ones(16), points)
    assert not torch.allclose(out_a, out_b)


def test_decoder_paper_configuration_size():
    decoder = DeepSDFDecoder()  # 8 x 512, latent 256, skip at 4
    assert len(decoder.hidden) == 8 and decoder.skip_layers == (4,)
    assert decoder.hidden[3].weight.shape[0] == 512 - 259
    assert 1.8e6 < sum(p.numel() for p in decoder.parameters()) < 2.0e6
    with pytest.raises(ValueError, match="skip_layers"):
        DeepSDFDecoder(num_layers=4, skip_layers=[4])


def test_clamped_l1():
    pred, target = torch.tensor([0.5, 0.05, -0.2]), torch.tensor([0.2, 0.0, -0.05])
    assert clamped_l1(pred, target, 0.1).item() == pytest.approx((0.0 + 0.05 + 0.05) / 3)


def sphere_samples(radius: float, n: int = 4000) -> torch.Tensor:
    points = torch.rand(n, 3) * 2 - 1
    return torch.cat([points, (points.norm(dim=-1) - radius)[:, None]], dim=1)


def test_training_drives_the_loss_down():
    L.seed_everything(0)
    samples = [sphere_samples(0.3), sphere_samples(0.6)]
    dataset = SDFSamples(samples, [0, 1], points_per_shape=512, repeats=4)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, shuffle=True)
    model = DeepSDF(num_shapes=2, decoder=dict(latent_dim=8, hidden_dim=64, num_layers=4, skip_layers=[2], dropout=0.0), lr_decoder=3e-3, lr_latent=3e-3)
    trainer = L.Trainer(max_epochs=40, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with torch.no_grad():
        before = clamped_l1(model.decoder(model.latents.weight[0], samples[0][:, :3]), samples[0][:, 3], 0.1).item()
    trainer.fit(model, loader)
    with torch.no_grad():
        after = [clamped_l1(model.decoder(model.latents.weight[i], s[:, :3]), s[:, 3], 0.1).item() for i, s in enumerate(samples)]
    assert max(after) < 0.3 * before
    assert model.mean_latent().shape == (8,)


def test_balanced_sampling():
    samples = sphere_samples(0.2, 10_000)  # few inside points
    item = SDFSamples([samples], [0], points_per_shape=1000)[0][1]
    assert (item[:, 3] < 0).sum() == 500
