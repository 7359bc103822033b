"""Reconstruct shapes from their sketches: DeepSDF codes steered by the Siamese distance.

python scripts/optimize_sketch.py +data=procedural_chair_16 split=val ckpt_path=... siamese_ckpt_path=...
python scripts/optimize_sketch.py +data=shapenet_chair_16 split=val ckpt_path=... siamese_ckpt_path=... init=encoder encoder_ckpt_path=...
"""

from sketch2shape.optimize.sketch import optimize_sketch
from sketch2shape.utils.hydra import hydra_task

main = hydra_task("optimize_sketch", optimize_sketch, __name__)

if __name__ == "__main__":
    main()
