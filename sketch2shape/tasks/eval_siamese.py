"""Evaluate a Siamese checkpoint by sketch -> normal-map retrieval, beside two baselines.

sketch2shape eval_siamese +data=procedural_chair_16 ckpt_path=/path/to/checkpoints/last.ckpt
sketch2shape eval_siamese +data=procedural_chair_16      # newest train_siamese checkpoint of that dataset

Val sketches query the normal maps of all views of the train+val shapes. Writes metrics.csv
(method, metric, value for trained / untrained / raw_pixels), per_view.csv, metrics_table.txt and
gallery.png into the run folder (<log_dir>/eval_siamese/runs/<time>/).
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("eval_siamese")


@hydra_entry("eval_siamese")
def main(cfg) -> None:
    import torch

    from sketch2shape.eval.siamese_eval import run_eval

    if cfg.get("torch_threads"):
        torch.set_num_threads(int(cfg.torch_threads))

    table = run_eval(cfg)
    log.info("retrieval on %s (results in %s):\n%s", cfg.data.name, cfg.paths.output_dir, table.to_string(float_format="%.3f"))


if __name__ == "__main__":
    main()
