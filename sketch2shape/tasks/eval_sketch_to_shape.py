"""Every sketch-to-shape method on the same shapes in one run: the comparison table.

python scripts/eval_sketch_to_shape.py data=procedural_chair_16 ckpt_path=... siamese_ckpt_path=... [encoder_ckpt_path=...]
python scripts/eval_sketch_to_shape.py data=procedural_chair_16 ckpt_path=... siamese_ckpt_path=... resume_from=<run folder>
"""

from sketch2shape.eval.sketch_to_shape import eval_sketch_to_shape
from sketch2shape.utils.hydra import hydra_task

main = hydra_task("eval_sketch_to_shape", eval_sketch_to_shape, __name__)

if __name__ == "__main__":
    main()
