"""Meshes along a straight line between two DeepSDF latent codes (or the mean code).

python scripts/traverse_latent.py data=procedural_chair_16 ckpt_path=... model.prior_idx_end=0
python scripts/traverse_latent.py data=... ckpt_path=... model.prior_idx_start=0 model.prior_idx_end=1
"""

from sketch2shape.optimize.traverse import traverse_latent
from sketch2shape.utils.hydra import hydra_task

main = hydra_task("traverse_latent", traverse_latent, __name__)

if __name__ == "__main__":
    main()
