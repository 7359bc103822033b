"""Every sketch-to-shape method on the same shapes in one run: the comparison table.

sketch2shape eval_sketch_to_shape data=procedural_chair_16 ckpt_path=... siamese_ckpt_path=... [encoder_ckpt_path=...]
sketch2shape eval_sketch_to_shape data=procedural_chair_16 ckpt_path=... siamese_ckpt_path=... resume_from=<run folder>
"""

from sketch2shape.utils.hydra import hydra_task


def run(cfg) -> str:
    """:func:`sketch2shape.eval.sketch_to_shape.eval_sketch_to_shape`, imported when the task runs (so ``--help`` needs no torch)."""
    from sketch2shape.eval.sketch_to_shape import eval_sketch_to_shape
    from sketch2shape.utils.logs import quiet_lightning

    quiet_lightning()  # Lightning's "Seed set to" line once (sketch2shape.utils.logs)
    return eval_sketch_to_shape(cfg)


main = hydra_task("eval_sketch_to_shape", run, __name__)

if __name__ == "__main__":
    main()
