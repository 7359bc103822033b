"""Preprocess every shape of a dataset: normalized mesh, SDF and surface samples, normal maps, sketches.

python scripts/preprocess_data.py data=procedural_chair_16
python scripts/preprocess_data.py data=shapenet_chair_16 data.preprocess_synthetic.skip=False
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("preprocess_data")


@hydra_entry("preprocess_data")
def main(cfg) -> None:
    from sketch2shape.data.preprocess.pipeline import preprocess_dataset

    summary = preprocess_dataset(cfg)
    log.info(summary.describe())


if __name__ == "__main__":
    main()
