"""Fit DeepSDF latent codes so that their sphere-traced normal maps match the ground truth.

sketch2shape optimize_normals +data=procedural_chair_16 ckpt_path=...
sketch2shape optimize_normals +data=shapenet_chair_16 ckpt_path=... split=val obj_ids=[<obj_id>]
"""

from sketch2shape.utils.hydra import hydra_task


def run(cfg) -> str:
    """:func:`sketch2shape.optimize.normals.optimize_normals`, imported when the task runs (so ``--help`` needs no torch)."""
    from sketch2shape.optimize.normals import optimize_normals

    return optimize_normals(cfg)


main = hydra_task("optimize_normals", run, __name__)

if __name__ == "__main__":
    main()
