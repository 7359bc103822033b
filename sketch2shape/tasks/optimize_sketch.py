"""Reconstruct shapes from their sketches: DeepSDF codes steered by the Siamese distance.

sketch2shape optimize_sketch +data=procedural_chair_16 split=val ckpt_path=... siamese_ckpt_path=...
sketch2shape optimize_sketch +data=shapenet_chair_16 split=val ckpt_path=... siamese_ckpt_path=... init=encoder encoder_ckpt_path=...
"""

from sketch2shape.utils.hydra import hydra_task


def run(cfg) -> str:
    """:func:`sketch2shape.optimize.sketch.optimize_sketch`, imported when the task runs (so ``--help`` needs no torch)."""
    from sketch2shape.optimize.sketch import optimize_sketch

    return optimize_sketch(cfg)


main = hydra_task("optimize_sketch", run, __name__)

if __name__ == "__main__":
    main()
