"""Preprocess every shape of a dataset: normalized mesh, SDF and surface samples, normal maps, sketches.

sketch2shape preprocess_data data=procedural_chair_16
sketch2shape preprocess_data data=shapenet_chair_16 data.preprocess_synthetic.skip=False

One run per dataset at a time (lock=fail stops with the running one's pid, lock=wait waits for it);
SIGTERM / Ctrl-C stop the workers and exit with 143 / 130; rerunning resumes.
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("preprocess_data")


@hydra_entry("preprocess_data", cpu_only=True)
def main(cfg) -> None:
    from sketch2shape.data.preprocess.lock import DatasetBusyError
    from sketch2shape.data.preprocess.pipeline import preprocess_dataset
    from sketch2shape.utils.workers import exit_code

    try:
        summary = preprocess_dataset(cfg)
    except DatasetBusyError as err:
        raise SystemExit(f"preprocess_data: {err}") from None
    except KeyboardInterrupt as err:  # Ctrl-C, or SIGTERM / SIGHUP (workers.Terminated)
        raise SystemExit(exit_code(err)) from None
    log.info(summary.describe())


if __name__ == "__main__":
    main()
