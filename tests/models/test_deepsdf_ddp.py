"""DeepSDF trains under DDP (2 CPU processes, gloo) with the latent codes kept in sync."""

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO_ROOT

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import lightning as L
    import torch
    from sketch2shape.data.sdf_dataset import SDFSamples
    from sketch2shape.models.deepsdf_module import DeepSDF
    from sketch2shape.models.training import finish_distributed

    class Report(L.Callback):
        def on_train_end(self, trainer, module):
            flat = torch.cat([p.detach().flatten() for p in module.parameters()])
            gathered = trainer.strategy.all_gather(flat)  # (world_size, P)
            seen = trainer.strategy.all_gather(torch.tensor(float(module.seen)))
            if trainer.is_global_zero:
                json.dump({"world_size": trainer.world_size, "max_diff": (gathered - gathered[0]).abs().max().item(),
                           "latent_change": (module.latents.weight - module.initial).abs().max().item(),
                           "seen": seen.tolist()}, open(sys.argv[1], "w"))

    class Tracked(DeepSDF):
        seen = 0
        def training_step(self, batch, idx):
            self.seen += len(batch[0])
            return super().training_step(batch, idx)

    if __name__ == "__main__":
        L.seed_everything(0)
        g = torch.Generator().manual_seed(0)
        samples = []
        for r in (0.3, 0.4, 0.5, 0.6):
            p = torch.rand(2000, 3, generator=g) * 2 - 1
            samples.append(torch.cat([p, (p.norm(dim=-1) - r)[:, None]], 1))
        loader = torch.utils.data.DataLoader(SDFSamples(samples, range(4), 256), batch_size=2, shuffle=True)
        model = Tracked(num_shapes=4, decoder=dict(latent_dim=4, hidden_dim=16, num_layers=3, skip_layers=[2], dropout=0.0))
        model.initial = model.latents.weight.detach().clone()
        trainer = L.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_epochs=3, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, callbacks=[Report()])
        trainer.fit(model, loader)
        finish_distributed()  # as the training tasks do: no gloo threads left at exit
    """
)


@pytest.mark.slow
def test_ddp_two_cpu_processes_agree(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    result_file = tmp_path / "result.json"
    out = subprocess.run([sys.executable, str(script), str(result_file)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(result_file.read_text())
    assert result["world_size"] == 2
    assert result["max_diff"] == 0.0  # both ranks hold identical decoder weights and codes
    assert result["latent_change"] > 0  # the codes were trained
    assert result["seen"] == [6.0, 6.0]  # each rank saw half of the 4 shapes x 3 epochs


def test_ddp_trainer_config_composes():
    from sketch2shape.utils.hydra import compose

    cfg = compose("train_deepsdf", ["trainer=ddp", "trainer.devices=4", "trainer.num_nodes=2", "paths.output_dir=/tmp/x"])
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 4 and cfg.trainer.num_nodes == 2
