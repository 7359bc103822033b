"""Make (sketch, latent code) pairs for training the sketch encoder at scale.

Each DeepSDF training shape is sketched from random views (a continuous range of azimuth and
elevation), and shapes decoded from interpolated or perturbed training codes are meshed and
sketched the same way (sketch2shape.data.sketch_pairs). Resumable; a finished folder is reused.

sketch2shape make_sketch_pairs data=procedural_chair_1024 deepsdf_ckpt_path=logs/train_deepsdf/runs/<time>/checkpoints/last.ckpt
sketch2shape make_sketch_pairs data=procedural_chair_1024 deepsdf_ckpt_path=... pairs.views_per_shape=4 pairs.decoded_shapes=0
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("make_sketch_pairs")


@hydra_entry("make_sketch_pairs")
def main(cfg) -> None:
    import torch
    from omegaconf import OmegaConf

    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.sketch_pairs import PairSettings, make_sketch_pairs
    from sketch2shape.models.checkpoints import load_deepsdf
    from sketch2shape.models.sketch_encoder import check_deepsdf_data, deepsdf_record, require_deepsdf_ckpt

    path = require_deepsdf_ckpt(cfg.get("deepsdf_ckpt_path"))
    settings = PairSettings.from_config(OmegaConf.to_container(cfg.pairs, resolve=True))
    deepsdf = load_deepsdf(path, torch.device("cpu"))
    check_deepsdf_data(deepsdf, cfg.data.name)
    counts = make_sketch_pairs(DatasetLayout.from_config(cfg.data), deepsdf, cfg.out_dir, settings, int(cfg.seed), int(cfg.workers), deepsdf_record(deepsdf, path))
    log.info("sketch pairs in %s: %s", cfg.out_dir, counts)
    print(f"pairs: {cfg.out_dir} {counts}")


if __name__ == "__main__":
    main()
