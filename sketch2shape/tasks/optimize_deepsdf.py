"""Fit DeepSDF latent codes to the SDF samples of a split with the decoder frozen.

sketch2shape optimize_deepsdf +data=procedural_chair_16 ckpt_path=... train=False split=train prior_idx=True
sketch2shape optimize_deepsdf +data=procedural_chair_16 ckpt_path=... train=True split=val
"""

from sketch2shape.utils.hydra import hydra_task


def run(cfg) -> str:
    """:func:`sketch2shape.optimize.sdf.optimize_deepsdf`, imported when the task runs (so ``--help`` needs no torch)."""
    from sketch2shape.optimize.sdf import optimize_deepsdf

    return optimize_deepsdf(cfg)


main = hydra_task("optimize_deepsdf", run, __name__)

if __name__ == "__main__":
    main()
