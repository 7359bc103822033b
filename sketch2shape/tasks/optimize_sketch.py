"""Reconstruct shapes from their sketches: DeepSDF codes steered by the Siamese distance.

python scripts/optimize_sketch.py +data=procedural_chair_16 split=val ckpt_path=... siamese_ckpt_path=...
python scripts/optimize_sketch.py +data=shapenet_chair_16 split=val ckpt_path=... siamese_ckpt_path=... init=encoder encoder_ckpt_path=...
"""

import logging

from sketch2shape.optimize.sketch import optimize_sketch
from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("optimize_sketch")


@hydra_entry("optimize_sketch")
def main(cfg) -> None:
    log.info(optimize_sketch(cfg))


if __name__ == "__main__":
    main()
