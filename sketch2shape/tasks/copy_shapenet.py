"""Import a ShapeNetCore category into data/<name>/shapes + metainfo.csv.

sketch2shape copy_shapenet data=shapenet_chair_16 +source=/path/ShapeNetCore/03001627
sketch2shape copy_shapenet data=shapenet_chair_sample +source=../shared/data/shapenet_sample/03001627
"""

import logging

from sketch2shape.utils.hydra import hydra_entry

log = logging.getLogger("copy_shapenet")


@hydra_entry("copy_shapenet", cpu_only=True)
def main(cfg) -> None:
    from sketch2shape.data.layout import DatasetLayout
    from sketch2shape.data.shapenet import copy_shapenet
    from sketch2shape.utils.io import atomic_path

    source = cfg.get("source")
    if not source:
        raise SystemExit("copy_shapenet needs the ShapeNet category folder: +source=/path/ShapeNetCore/03001627")
    layout = DatasetLayout.from_config(cfg.data)
    report = copy_shapenet(source, layout, dict(cfg.data.splits), seed=int(cfg.data.split_seed))
    if len(report.failures):
        with atomic_path(layout.failures) as tmp:
            report.failures.to_csv(tmp, index=False)
        log.warning("%d unreadable source meshes were skipped, see %s", len(report.failures), layout.failures)
    counts = report.metainfo["split"].value_counts().to_dict()
    log.info("wrote %s: %s", layout.metainfo, counts)


if __name__ == "__main__":
    main()
