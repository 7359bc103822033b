"""Fit DeepSDF latent codes to the SDF samples of a split with the decoder frozen.

python scripts/optimize_deepsdf.py +data=procedural_chair_16 ckpt_path=... train=False split=train prior_idx=True
python scripts/optimize_deepsdf.py +data=procedural_chair_16 ckpt_path=... train=True split=val
"""

from sketch2shape.optimize.sdf import optimize_deepsdf
from sketch2shape.utils.hydra import hydra_task

main = hydra_task("optimize_deepsdf", optimize_deepsdf, __name__)

if __name__ == "__main__":
    main()
