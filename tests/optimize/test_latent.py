import lightning as L
import pandas as pd
import pytest
import torch

from sketch2shape.data.sdf_dataset import SDFSamples
from sketch2shape.models.deepsdf_module import DeepSDF, clamped_l1
from sketch2shape.optimize.latent import LatentOptimSettings, SDFObjective, optimize_latent
from sketch2shape.optimize.reconstruct import as_bool, select_shapes
from tests.models.test_deepsdf import sphere_samples


@pytest.fixture(scope="module")
def sphere_model():
    L.seed_everything(0)
    samples = [sphere_samples(r, 6000) for r in (0.25, 0.45, 0.65)]
    loader = torch.utils.data.DataLoader(SDFSamples(samples, [0, 1, 2], 512, repeats=4), batch_size=3, shuffle=True)
    model = DeepSDF(num_shapes=3, decoder=dict(latent_dim=4, hidden_dim=64, num_layers=4, skip_layers=[2], dropout=0.0), lr_decoder=3e-3, lr_latent=1e-2)
    L.Trainer(max_epochs=60, logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False).fit(model, loader)
    model.eval().requires_grad_(False)
    return model, samples


def test_latent_optimization_recovers_a_training_shape(sphere_model):
    model, samples = sphere_model
    target = samples[0]
    objective = SDFObjective(model.decoder, target, points_per_step=1000, seed=0)
    result = optimize_latent(objective, model.mean_latent(), LatentOptimSettings(steps=300, lr=2e-2, lr_decay_every=200))

    def error(latent):
        return clamped_l1(model.decoder(latent, target[:, :3]), target[:, 3], 0.1).item()

    learned = model.latents.weight[0]
    assert error(result.latent) < 0.5 * error(model.mean_latent())
    assert error(result.latent) < 2.0 * error(learned) + 1e-3
    assert (result.latent - learned).norm() < (model.mean_latent() - learned).norm()
    assert result.history[0]["total"] > result.history[-1]["total"]
    assert not model.decoder.hidden[0].parametrizations.weight.original1.requires_grad  # decoder stayed frozen


def test_prior_pulls_towards_zero():
    def objective(latent, step):
        return {"loss": torch.zeros((), requires_grad=True) + 0 * latent.sum()}

    result = optimize_latent(objective, torch.ones(4), LatentOptimSettings(steps=200, lr=1e-2, prior_weight=1.0))
    assert result.latent.norm() < 0.5 * torch.ones(4).norm()


def test_select_shapes_and_booleans():
    meta = pd.DataFrame({"obj_id": ["a", "b", "c", "d"], "label": [0, 1, 2, 3], "split": ["train", "train", "val", "test"]})
    assert select_shapes(meta, None, None) == ("val", ["c"])
    assert select_shapes(meta, "train", None) == ("train", ["a", "b"])
    assert select_shapes(meta, None, ["b"]) == ("train", ["b"])
    with pytest.raises(ValueError, match=r"obj_ids \['zz'\] are not in"):
        select_shapes(meta, None, ["zz"])
    with pytest.raises(ValueError, match="several splits"):
        select_shapes(meta, None, ["a", "c"])
    with pytest.raises(ValueError, match="in split 'train', not split='val'"):
        select_shapes(meta, "val", ["a"])
    assert as_bool("Train", "train") is True and as_bool(False, "x") is False and as_bool("false", "x") is False
    with pytest.raises(ValueError, match="train='maybe' is not a boolean"):
        as_bool("maybe", "train")


def test_nearest_training_code_picks_the_closest_learned_shape(sphere_model):
    from sketch2shape.optimize.sdf import nearest_training_code, start_latent_fn

    model, _ = sphere_model
    model.train_obj_ids = ["r25", "r45", "r65"]
    near_45 = sphere_samples(0.47, 6000)
    assert nearest_training_code(model, near_45) == "r45"
    # Its own code left out (a training shape in mode 2), the next closest sphere wins.
    assert nearest_training_code(model, near_45, exclude="r45") in {"r25", "r65"}
    assert nearest_training_code(model, sphere_samples(0.7, 6000), exclude="r45") == "r65"
    # auto: mean code on the train split, nearest code elsewhere
    samples_of = {"r45": near_45, "new": sphere_samples(0.27, 6000)}.get
    assert torch.equal(start_latent_fn(model, False, "train", "d", "auto", samples_of)("r45"), model.mean_latent())
    assert torch.equal(start_latent_fn(model, False, "val", "d", "auto", samples_of)("new"), model.latent_of("r25"))
    with pytest.raises(ValueError, match="init='closest'; accepted: auto, mean, nearest"):
        start_latent_fn(model, False, "val", "d", "closest", samples_of)


def test_keep_best_returns_the_lowest_loss_code_seen():
    # lr far too large: Adam overshoots the minimum at 1 and ends away from it.
    def objective(latent, step):
        return {"loss": (latent - 1.0).pow(2).sum()}

    settings = LatentOptimSettings(steps=4, lr=0.9, lr_decay_every=1000, prior_weight=0.0)
    last = optimize_latent(objective, torch.zeros(1), settings)
    best = optimize_latent(objective, torch.zeros(1), LatentOptimSettings(**{**settings.__dict__, "keep_best": True}))
    lowest = min(h["total"] for h in best.history)
    assert objective(best.latent, 0)["loss"].item() == pytest.approx(lowest)
    assert objective(last.latent, 0)["loss"].item() > lowest + 0.1
