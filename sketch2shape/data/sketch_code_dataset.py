"""Sketches of a DeepSDF checkpoint's training shapes, paired with the row of each shape's code.

For the sketch encoder (``sketch2shape.models.sketch_encoder``): item = one view of one training
shape, ``{"sketch": (1, R, R) float in [0, 1] (ink 0), "code_index": row in the DeepSDF code table,
"view": view index}`` and, when SDF points are asked for, ``"points": (P, 3)`` random points from
the shape's ``sdf_samples.npy`` (for an SDF-space loss term).

Only the DeepSDF training shapes have learned codes, so there are two validations:

* ``val_views`` of the training shapes are held out from training (latent-space metrics);
* the shapes of ``val_split`` (never seen) in every view, with ``val_shape_points`` of their SDF
  samples: item ``{"sketch", "view", "shape": position, "points": (P, 3), "sdf": (P,)}``, to score
  the decoded code against the true SDF (what DeepSDF itself fits), no meshing needed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import obj_ids_of, read_metainfo
from sketch2shape.data.siamese_dataset import _read, count_views
from sketch2shape.data.sketch_pairs import SketchPairs
from sketch2shape.utils.config import dataclass_kwargs

log = logging.getLogger(__name__)


@dataclass
class SketchCodeLoaderSettings:
    """``loader:`` in ``sketch2shape/conf/model/sketch_encoder.yaml``."""

    load_resolution: int | None = 128  # sketches are resized once on load (null: keep the files' size)
    batch_size: int = 32
    eval_batch_size: int = 64
    repeats: int = 1  # passes over the training items per epoch (fewer, longer epochs on tiny datasets)
    val_views: list[int] = field(default_factory=lambda: [4, 16])  # held out from training; [] trains on all views
    sdf_cache_points: int = 4096  # SDF sample points kept in memory per shape (for the SDF loss term)
    val_split: str | None = "val"  # unseen shapes scored in SDF space every epoch (null: off)
    val_shape_points: int = 2048  # SDF samples per unseen shape for that score
    num_workers: int = 0  # everything is cached in memory; workers only add process overhead

    @classmethod
    def from_config(cls, node: Mapping[str, Any] | None, where: str = "model.loader") -> SketchCodeLoaderSettings:
        """From a ``loader:`` node; an unknown key raises :class:`~sketch2shape.utils.config.ConfigError`."""
        node = dataclass_kwargs(cls, node, where)
        if "val_views" in node:
            node["val_views"] = [int(v) for v in node["val_views"] or []]
        return cls(**node)


class ShapeSketches:
    """All views' sketches ``(K, V, 1, R, R)`` uint8 of ``obj_ids`` (in code-table order), in memory.

    With ``sdf_points > 0`` also ``samples (K, sdf_points, 4)``: a seeded random subset of each
    shape's SDF samples (xyz, signed distance).
    """

    def __init__(
        self,
        layout: DatasetLayout,
        obj_ids: Sequence[str],
        resolution: int | None = 128,
        sdf_points: int = 0,
        seed: int = 0,
    ) -> None:
        if not obj_ids:
            raise ValueError("no training shapes: the DeepSDF checkpoint lists no train_obj_ids")
        self.layout, self.obj_ids = layout, [str(o) for o in obj_ids]
        missing = [o for o in self.obj_ids if not layout.shape(o).sketches_dir.is_dir()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} training shape(s) of the DeepSDF checkpoint have no sketches under {layout.shapes_dir} "
                f"(e.g. {missing[0]}): is the checkpoint trained on data={layout.name}? Otherwise run "
                f"`python scripts/preprocess_data.py data={layout.name}`"
            )
        views = {count_views(layout, o) for o in self.obj_ids}
        if len(views) != 1:
            raise ValueError(f"shapes of {layout.root} have different numbers of views {sorted(views)}: re-run preprocessing")
        self.num_views = views.pop()
        self.sketches = torch.stack([
            torch.stack([_read(layout.shape(o).sketch(v), 1, resolution) for v in range(self.num_views)]) for o in self.obj_ids
        ])
        self.samples: Tensor | None = None
        if sdf_points > 0:
            rng = np.random.default_rng(seed)
            self.samples = torch.stack([self._sample_sdf(o, sdf_points, rng) for o in self.obj_ids])

    def _sample_sdf(self, obj_id: str, count: int, rng: np.random.Generator) -> Tensor:
        path = self.layout.shape(obj_id).sdf_samples
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing (needed by model.loss.sdf_weight > 0 and model.loader.val_split): "
                f"run `python scripts/preprocess_data.py data={self.layout.name}`, or set model.loss.sdf_weight=0 model.loader.val_split=null"
            )
        samples = np.load(path, mmap_mode="r")
        rows = np.sort(rng.choice(len(samples), size=min(count, len(samples)), replace=False))
        return torch.from_numpy(np.asarray(samples[rows, :4], dtype=np.float32))

    def __len__(self) -> int:
        return len(self.obj_ids)

    def sketch(self, shape: int, view: int) -> Tensor:
        """``(1, R, R)`` float in [0, 1]."""
        return self.sketches[shape, view].float() / 255.0


class SketchCodeDataset(Dataset):
    """Items ``(shape, view)`` for every shape and the given views, ``repeats`` times over."""

    def __init__(self, shapes: ShapeSketches, views: Sequence[int], points_per_item: int = 0, repeats: int = 1) -> None:
        self.shapes, self.views = shapes, [int(v) for v in views]
        self.points_per_item, self.repeats = int(points_per_item), max(1, int(repeats))
        if self.points_per_item > 0 and shapes.samples is None:
            raise ValueError("points_per_item > 0 needs ShapeSketches(..., sdf_points > 0)")
        self._items = [(s, v) for s in range(len(shapes)) for v in self.views]

    def __len__(self) -> int:
        return len(self._items) * self.repeats

    def __getitem__(self, index: int) -> dict:
        shape, view = self._items[int(index) % len(self._items)]
        item = {"sketch": self.shapes.sketch(shape, view), "code_index": shape, "view": view}
        if self.points_per_item > 0:
            cache = self.shapes.samples[shape]
            item["points"] = cache[torch.randint(len(cache), (self.points_per_item,)), :3]  # torch's seeded global RNG
        return item


class UnseenShapeDataset(Dataset):
    """Every view of shapes without codes, with their cached SDF samples (fixed, for scoring)."""

    def __init__(self, shapes: ShapeSketches) -> None:
        if shapes.samples is None:
            raise ValueError("UnseenShapeDataset needs ShapeSketches(..., sdf_points > 0)")
        self.shapes = shapes

    def __len__(self) -> int:
        return len(self.shapes) * self.shapes.num_views

    def __getitem__(self, index: int) -> dict:
        shape, view = divmod(int(index), self.shapes.num_views)
        samples = self.shapes.samples[shape]
        return {"sketch": self.shapes.sketch(shape, view), "shape": shape, "view": view, "points": samples[:, :3], "sdf": samples[:, 3]}


def split_views(num_views: int, val_views: Sequence[int]) -> tuple[list[int], list[int]]:
    """(training views, held-out views) of ``num_views``; errors name the bad ``loader.val_views``."""
    held = sorted({int(v) for v in val_views})
    bad = [v for v in held if not 0 <= v < num_views]
    if bad:
        raise ValueError(f"loader.val_views={list(val_views)}: views {bad} do not exist (0..{num_views - 1})")
    train = [v for v in range(num_views) if v not in held]
    if not train:
        raise ValueError(f"loader.val_views={list(val_views)} holds out every view; keep some for training")
    return train, held


class SketchCodeDataModule(L.LightningDataModule):
    """Training: the DeepSDF training shapes' sketches from the training views (shuffled).
    Validation: the same shapes from ``loader.val_views`` (none if empty) and every view of the
    ``loader.val_split`` shapes with SDF samples (none if null or the split is empty)."""

    def __init__(
        self,
        data_dir: str | Path,
        obj_ids: Sequence[str],
        loader: SketchCodeLoaderSettings | Mapping[str, Any] | None = None,
        sdf_points: int = 0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.layout = DatasetLayout(Path(str(data_dir)))
        self.obj_ids = [str(o) for o in obj_ids]
        self.settings = loader if isinstance(loader, SketchCodeLoaderSettings) else SketchCodeLoaderSettings.from_config(loader)
        self.sdf_points, self.seed = int(sdf_points), int(seed)
        self.shapes: ShapeSketches | None = None
        self.unseen: ShapeSketches | None = None
        self.train_views: list[int] = []
        self.val_views: list[int] = []

    def setup(self, stage: str | None = None) -> None:
        if self.shapes is not None:
            return
        s = self.settings
        cache = s.sdf_cache_points if self.sdf_points > 0 else 0
        self.shapes = ShapeSketches(self.layout, self.obj_ids, s.load_resolution, cache, self.seed)
        self.train_views, self.val_views = split_views(self.shapes.num_views, s.val_views)
        log.info("sketch encoder data: %d shapes, training views %s, held-out views %s", len(self.shapes), self.train_views, self.val_views)
        if s.val_split:
            unseen = [o for o in obj_ids_of(read_metainfo(self.layout.metainfo), s.val_split) if o not in set(self.obj_ids)]
            if unseen and s.val_shape_points > 0:
                self.unseen = ShapeSketches(self.layout, unseen, s.load_resolution, s.val_shape_points, self.seed)
                log.info("unseen %s shapes scored in SDF space: %d x %d views", s.val_split, len(unseen), self.unseen.num_views)
            else:
                log.warning("no %s shapes without codes in %s: the unseen-shape validation is off", s.val_split, self.layout.metainfo)

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        dataset = SketchCodeDataset(self.shapes, self.train_views, self.sdf_points, s.repeats)
        return DataLoader(
            dataset, batch_size=min(s.batch_size, len(dataset)), shuffle=True, drop_last=True,
            num_workers=s.num_workers, persistent_workers=s.num_workers > 0,
        )

    def val_dataloader(self) -> list[DataLoader]:
        """Held-out views of the training shapes (items with ``code_index``), then the unseen
        shapes (items with ``sdf``); either may be absent."""
        s = self.settings
        datasets: list[Dataset] = []
        if self.val_views:
            datasets.append(SketchCodeDataset(self.shapes, self.val_views, 0))
        if self.unseen is not None:
            datasets.append(UnseenShapeDataset(self.unseen))
        return [DataLoader(d, batch_size=s.eval_batch_size, shuffle=False, num_workers=s.num_workers) for d in datasets]


class SketchPairsDataModule(SketchCodeDataModule):
    """Training on a pairs folder (:mod:`sketch2shape.data.sketch_pairs`: random-view sketches of
    the training shapes and of decoded in-between shapes, each with its code) instead of the
    preprocessed views.

    Validation: the pairs of the held-out shards (``holdout``: a share of the shards, novel views
    and decoded shapes: ``val/latent_rel_mse``), then, as in :class:`SketchCodeDataModule`, every
    preprocessed view of the ``loader.val_split`` shapes scored in SDF space. ``loader.val_views``
    is not used (the pairs have no fixed views).
    """

    def __init__(self, data_dir, obj_ids, pairs_dir: str | Path, loader=None, sdf_points: int = 0, seed: int = 0, holdout: float = 0.05) -> None:
        super().__init__(data_dir, obj_ids, loader, sdf_points=0, seed=seed)
        if sdf_points > 0:
            raise ValueError("model.loss.sdf_weight > 0 is not supported with pairs_dir (decoded shapes have no SDF samples); set model.loss.sdf_weight=0")
        self.pairs_dir, self.holdout = Path(str(pairs_dir)), float(holdout)
        self.pairs: dict[str, Dataset] = {}

    def setup(self, stage: str | None = None) -> None:
        if self.pairs:
            return

        self.pairs = {split: SketchPairs(self.pairs_dir, split, self.holdout) for split in ("train", "val")}
        log.info("sketch encoder pairs from %s: %d training, %d held out", self.pairs_dir, len(self.pairs["train"]), len(self.pairs["val"]))
        s = self.settings
        if s.val_split:
            unseen = [o for o in obj_ids_of(read_metainfo(self.layout.metainfo), s.val_split) if o not in set(self.obj_ids)]
            if unseen and s.val_shape_points > 0:
                self.unseen = ShapeSketches(self.layout, unseen, s.load_resolution, s.val_shape_points, self.seed)

    def train_dataloader(self) -> DataLoader:
        s = self.settings
        return DataLoader(self.pairs["train"], batch_size=s.batch_size, shuffle=True, drop_last=True, num_workers=s.num_workers, persistent_workers=s.num_workers > 0)

    def val_dataloader(self) -> list[DataLoader]:
        s = self.settings
        datasets: list[Dataset] = [self.pairs["val"]] if len(self.pairs["val"]) else []
        if self.unseen is not None:
            datasets.append(UnseenShapeDataset(self.unseen))
        return [DataLoader(d, batch_size=s.eval_batch_size, shuffle=False, num_workers=s.num_workers) for d in datasets]
