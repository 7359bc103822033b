"""Fit DeepSDF latent codes so that their sphere-traced normal maps match the ground truth.

python scripts/optimize_normals.py +data=procedural_chair_16 ckpt_path=...
python scripts/optimize_normals.py +data=shapenet_chair_16 ckpt_path=... split=val obj_ids=[<obj_id>]
"""

from sketch2shape.optimize.normals import optimize_normals
from sketch2shape.utils.hydra import hydra_task

main = hydra_task("optimize_normals", optimize_normals, __name__)

if __name__ == "__main__":
    main()
