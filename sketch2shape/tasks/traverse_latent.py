"""Meshes along a straight line between two DeepSDF latent codes (or the mean code).

sketch2shape traverse_latent data=procedural_chair_16 ckpt_path=... model.prior_idx_end=0
sketch2shape traverse_latent data=... ckpt_path=... model.prior_idx_start=0 model.prior_idx_end=1
"""

from sketch2shape.utils.hydra import hydra_task


def run(cfg) -> str:
    """:func:`sketch2shape.optimize.traverse.traverse_latent`, imported when the task runs (so ``--help`` needs no torch)."""
    from sketch2shape.optimize.traverse import traverse_latent

    return traverse_latent(cfg)


main = hydra_task("traverse_latent", run, __name__)

if __name__ == "__main__":
    main()
