"""Meshes along a straight line between two DeepSDF latent codes (or the mean code).

python scripts/traverse_latent.py data=procedural_chair_16 ckpt_path=... model.prior_idx_end=0
python scripts/traverse_latent.py data=... ckpt_path=... model.prior_idx_start=0 model.prior_idx_end=1
"""

import logging

from sketch2shape.optimize.traverse import traverse_latent
from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("traverse_latent")


@hydra_entry("traverse_latent")
def main(cfg) -> None:
    log.info(traverse_latent(cfg))


if __name__ == "__main__":
    main()
