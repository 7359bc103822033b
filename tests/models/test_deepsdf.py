import lightning as L
import pytest
import torch

from sketch2shape.data.sdf_dataset import SDFSamples
from sketch2shape.models.deepsdf import DeepSDFDecoder, LatentField, sdf_field
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


@pytest.mark.parametrize("skip_layers, tanh_output", [((4,), True), ((2, 5), False), ((), True)])
def test_latent_field_equals_the_decoder_with_its_gradients(torch_device, skip_layers, tanh_output):
    """decoder.field(z) folds the code into biases: same values, same gradients to the code and
    the points, and the same double backward (normals whose loss reaches the code)."""
    torch.manual_seed(0)
    decoder = DeepSDFDecoder(latent_dim=16, hidden_dim=48, num_layers=6, skip_layers=skip_layers, dropout=0.0, tanh_output=tanh_output).to(torch_device).eval()
    decoder.requires_grad_(False)
    points = (torch.rand(300, 3, device=torch_device) * 2 - 1).requires_grad_(True)
    results = []
    for use_field in (False, True):
        latent = (torch.arange(16, device=torch_device, dtype=torch.float32) / 16 - 0.5).requires_grad_(True)
        sdf = decoder.field(latent)(points) if use_field else decoder(latent, points)
        grad_points = torch.autograd.grad(sdf.sum(), points, create_graph=True)[0]
        normals_loss = grad_points.pow(2).sum() + sdf.pow(2).sum()
        grad_latent = torch.autograd.grad(normals_loss, latent)[0]
        results.append((sdf.detach(), grad_points.detach(), grad_latent))
    (sdf_a, gp_a, gl_a), (sdf_b, gp_b, gl_b) = results
    torch.testing.assert_close(sdf_b, sdf_a, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gp_b, gp_a, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(gl_b, gl_a, atol=1e-4, rtol=1e-3)
    assert gl_a.abs().max() > 1e-3  # the code does reach the loss: the comparison above means something


def test_latent_field_follows_trainable_weights_and_refuses_a_batch_of_codes():
    torch.manual_seed(0)
    decoder = DeepSDFDecoder(latent_dim=8, hidden_dim=32, num_layers=4, skip_layers=[2], dropout=0.0)
    latent, points = torch.randn(8), torch.rand(50, 3)
    decoder.field(latent)(points).sum().backward()  # weights that require gradients get them through the field
    first = decoder.hidden[0].parametrizations.weight.original1.grad
    assert first is not None and first.abs().sum() > 0
    with pytest.raises(ValueError, match="one code of 8 values"):
        decoder.field(torch.randn(4, 8))


def test_sdf_field_falls_back_to_a_plain_decoder_call():
    class Sphere(torch.nn.Module):
        def forward(self, latent, points):
            return points.norm(dim=-1) - latent.reshape(-1)[0]

    field = sdf_field(Sphere(), torch.tensor([0.5]))
    torch.testing.assert_close(field(torch.tensor([[1.0, 0.0, 0.0]])), torch.tensor([0.5]))
    decoder = DeepSDFDecoder(latent_dim=4, hidden_dim=16, num_layers=2, skip_layers=[1], dropout=0.0)
    assert isinstance(sdf_field(decoder, torch.zeros(4)), LatentField)


def test_linearized_field_gives_the_same_values_and_gradients_in_one_backward(torch_device):
    """LatentField.linearized: the values, grad_x f and the code's gradient (exact, as a linear
    map) of a plain evaluation; None where weights require gradients."""
    torch.manual_seed(1)
    decoder = DeepSDFDecoder(latent_dim=16, hidden_dim=48, num_layers=6, skip_layers=(3,), dropout=0.0).to(torch_device).eval().requires_grad_(False)
    points = torch.rand(200, 3, device=torch_device) * 2 - 1
    upstream = torch.randn(200, device=torch_device)
    latent = torch.randn(16, device=torch_device, requires_grad=True)
    field = decoder.field(latent)
    x = points.clone().requires_grad_(True)
    plain = field(x)
    grad_x = torch.autograd.grad(plain.sum(), x, retain_graph=True)[0]
    grad_z = torch.autograd.grad((plain * upstream).sum(), latent)[0]
    value, gradient = decoder.field(latent).linearized(points)
    torch.testing.assert_close(value.detach(), plain.detach(), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(gradient, grad_x, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.autograd.grad((value * upstream).sum(), latent)[0], grad_z, atol=1e-5, rtol=1e-4)
    assert grad_z.abs().max() > 1e-3
    decoder.hidden[0].requires_grad_(True)
    assert decoder.field(latent).linearized(points) is None  # trainable weights: the caller evaluates as usual
