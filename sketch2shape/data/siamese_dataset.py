"""Sketches and normal maps of a preprocessed dataset for the Siamese network.

Training items are aligned pairs ``(sketch of view v, normal map of view v)`` of one shape; an
m-per-class sampler puts ``views_per_shape`` views of each of ``shapes_per_batch`` shapes in a
batch, so every batch has positives (same shape: the same view and other views) and negatives
(other shapes). The label of an item is its shape's label from metainfo.csv.

Validation / evaluation is retrieval: query sketches of one split against the normal maps of all
views of several splits (by default val sketches against train+val normal maps).

Tensors (all float in [0, 1], see ``sketch2shape.models.siamese`` for the conventions):
sketches ``(1, H, W)``, normal maps ``(3, H, W)``; ``H = W = load_resolution`` or the files' size.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import SPLITS, obj_ids_of, read_metainfo, usable_shapes
from sketch2shape.utils.config import dataclass_kwargs

log = logging.getLogger(__name__)


def count_views(layout: DatasetLayout, obj_id: str) -> int:
    """Number of views of a shape: the normal maps 00000.png, 00001.png, ... that exist."""
    files = layout.shape(obj_id)
    count = 0
    while files.normal_map(count).is_file():
        count += 1
    if count == 0:
        raise FileNotFoundError(
            f"no normal maps in {files.normals_dir}: run `python scripts/preprocess_data.py data={layout.name}` first"
        )
    return count


def _read(path: Path, channels: int, resolution: int | None) -> Tensor:
    """A uint8 PNG as a uint8 tensor ``(channels, R, R)``; resized by area averaging if asked."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/preprocess_data.py` for this dataset")
    image = Image.open(path).convert("L" if channels == 1 else "RGB")
    array = torch.from_numpy(np.asarray(image).copy())
    array = array[None] if channels == 1 else array.permute(2, 0, 1)
    if resolution is not None and tuple(array.shape[-2:]) != (resolution, resolution):
        resized = F.interpolate(array[None].float(), size=(resolution, resolution), mode="area")[0]
        array = resized.round().clamp(0, 255).to(torch.uint8)
    return array.contiguous()


class ShapeViews:
    """The sketches and normal maps of some shapes, indexed by ``(shape position, view)``.

    ``cache=True`` reads every image once, as uint8 (24 views of 1000 shapes at 128 px are
    about 1.5 GB); ``cache=False`` reads files on demand for datasets that do not fit in memory.
    """

    def __init__(
        self,
        layout: DatasetLayout,
        obj_ids: Sequence[str],
        labels: Sequence[int],
        resolution: int | None = None,
        cache: bool = True,
    ) -> None:
        if not obj_ids:
            raise ValueError(f"no shapes selected from {layout.root}: check the splits in {layout.metainfo}")
        self.layout, self.obj_ids, self.labels = layout, list(obj_ids), [int(x) for x in labels]
        self.resolution = resolution
        views = {count_views(layout, obj_id) for obj_id in self.obj_ids}
        if len(views) != 1:
            raise ValueError(f"shapes of {layout.root} have different numbers of views {sorted(views)}: re-run preprocessing")
        self.num_views = views.pop()
        self._sketches: Tensor | None = None
        self._normals: Tensor | None = None
        if cache:
            self._sketches = torch.stack([torch.stack([self._load(i, v, True) for v in range(self.num_views)]) for i in range(len(self))])
            self._normals = torch.stack([torch.stack([self._load(i, v, False) for v in range(self.num_views)]) for i in range(len(self))])

    def __len__(self) -> int:
        return len(self.obj_ids)

    def _load(self, shape: int, view: int, sketch: bool) -> Tensor:
        files = self.layout.shape(self.obj_ids[shape])
        return _read(files.sketch(view) if sketch else files.normal_map(view), 1 if sketch else 3, self.resolution)

    def sketch(self, shape: int, view: int) -> Tensor:
        """``(1, H, W)`` float in [0, 1]."""
        raw = self._sketches[shape, view] if self._sketches is not None else self._load(shape, view, True)
        return raw.float() / 255.0

    def normal(self, shape: int, view: int) -> Tensor:
        """``(3, H, W)`` float in [0, 1]."""
        raw = self._normals[shape, view] if self._normals is not None else self._load(shape, view, False)
        return raw.float() / 255.0


def load_split_views(
    layout: DatasetLayout, splits: Sequence[str], resolution: int | None = None, cache: bool = True
) -> ShapeViews:
    """The shapes of ``splits`` (in label order) with their sketches and normal maps."""
    bad = sorted(set(splits) - set(SPLITS))
    if bad:
        raise ValueError(f"unknown split(s) {bad}; accepted: {', '.join(SPLITS)}")
    metainfo = read_metainfo(layout.metainfo)
    label_of = dict(zip(metainfo["obj_id"], metainfo["label"]))
    obj_ids = [obj_id for split in splits for obj_id in obj_ids_of(metainfo, split)]
    if not obj_ids:
        raise ValueError(f"{layout.metainfo} has no shapes in split(s) {list(splits)}")
    # shapes preprocessing failed on are left out with a warning; unprocessed ones are an error
    obj_ids = usable_shapes(layout, obj_ids, lambda f: [f.normal_map(0), f.sketch(0)], "normal maps and sketches", skip_setting=None)
    return ShapeViews(layout, obj_ids, [label_of[o] for o in obj_ids], resolution, cache)


class PairDataset(Dataset):
    """Item ``i`` = shape ``i // V``, view ``i % V``: ``{sketch, normal, label, view}``, aligned."""

    def __init__(self, views: ShapeViews) -> None:
        self.views = views

    def __len__(self) -> int:
        return len(self.views) * self.views.num_views

    def __getitem__(self, index: int) -> dict:
        shape, view = divmod(int(index), self.views.num_views)
        return {
            "sketch": self.views.sketch(shape, view),
            "normal": self.views.normal(shape, view),
            "label": self.views.labels[shape],
            "view": view,
        }

    @property
    def item_labels(self) -> list[int]:
        """The label of every item, for the m-per-class sampler."""
        return [label for label in self.views.labels for _ in range(self.views.num_views)]


class ImageDataset(Dataset):
    """One modality of some shapes: item = ``{image, label, view}``; ``image`` is ``(1|3, H, W)``."""

    def __init__(self, views: ShapeViews, modality: str) -> None:
        if modality not in ("sketch", "normal"):
            raise ValueError(f"modality={modality!r}; accepted: sketch, normal")
        self.views, self.modality = views, modality

    def __len__(self) -> int:
        return len(self.views) * self.views.num_views

    def __getitem__(self, index: int) -> dict:
        shape, view = divmod(int(index), self.views.num_views)
        image = self.views.sketch(shape, view) if self.modality == "sketch" else self.views.normal(shape, view)
        return {"image": image, "label": self.views.labels[shape], "view": view}


@dataclass
class LoaderSettings:
    """``loader:`` in ``sketch2shape/conf/model/siamese.yaml``."""

    load_resolution: int | None = 256  # images are resized once on load (null: keep the files' size)
    shapes_per_batch: int = 8
    views_per_shape: int = 4
    samples_per_epoch: int | None = None  # null: one pass worth of items (shapes x views)
    eval_batch_size: int = 64
    num_workers: int = 0  # images are cached in memory: workers only add process overhead on small data
    cache: bool = True
    query_split: str = "val"
    gallery_splits: tuple[str, ...] = ("train", "val")

    @classmethod
    def from_config(cls, node, where: str = "model.loader") -> LoaderSettings:
        """From a ``loader:`` node; an unknown key raises :class:`~sketch2shape.utils.config.ConfigError`."""
        node = dataclass_kwargs(cls, node, where)
        if "gallery_splits" in node:
            node["gallery_splits"] = tuple(node["gallery_splits"])
        return cls(**node)


def fit_batch_to_data(settings: LoaderSettings, train_shapes: int, views: int, name: str = "the dataset") -> LoaderSettings:
    """``settings`` with ``shapes_per_batch`` / ``views_per_shape`` lowered to what the data has
    (a small dataset then trains with the defaults), each change logged."""
    from dataclasses import replace

    if settings.shapes_per_batch > train_shapes:
        log.warning("loader.shapes_per_batch=%d but %s has %d train shapes: using shapes_per_batch=%d",
                    settings.shapes_per_batch, name, train_shapes, train_shapes)
        settings = replace(settings, shapes_per_batch=train_shapes)
    if settings.views_per_shape > views:
        log.warning("loader.views_per_shape=%d but the shapes of %s have %d views: using views_per_shape=%d",
                    settings.views_per_shape, name, views, views)
        settings = replace(settings, views_per_shape=views)
    return settings


class SiameseDataModule(L.LightningDataModule):
    """Train pairs of the train split; validation retrieval (query sketches vs gallery normal maps).

    ``val_dataloader`` returns two loaders: index 0 = query sketches, 1 = gallery normal maps.
    """

    def __init__(self, data_dir: str | Path, loader=None) -> None:
        super().__init__()
        self.layout = DatasetLayout(Path(str(data_dir)))
        self.settings = loader if isinstance(loader, LoaderSettings) else LoaderSettings.from_config(loader)
        self.train_views: ShapeViews | None = None
        self.query_views: ShapeViews | None = None
        self.gallery_views: ShapeViews | None = None

    def setup(self, stage: str | None = None) -> None:
        s = self.settings
        if stage in (None, "fit") and self.train_views is None:
            self.train_views = load_split_views(self.layout, ["train"], s.load_resolution, s.cache)
            self.settings = s = fit_batch_to_data(s, len(self.train_views), self.train_views.num_views, self.layout.name)
        if stage in (None, "fit", "validate", "test", "predict") and self.query_views is None:
            self.query_views = load_split_views(self.layout, [s.query_split], s.load_resolution, s.cache)
            self.gallery_views = load_split_views(self.layout, list(s.gallery_splits), s.load_resolution, s.cache)
            log.info(
                "retrieval: %d query sketches (%s) vs %d normal maps (%s)",
                len(self.query_views) * self.query_views.num_views, s.query_split,
                len(self.gallery_views) * self.gallery_views.num_views, "+".join(s.gallery_splits),
            )

    def train_dataloader(self) -> DataLoader:
        # The sampler draws from numpy's global RNG and augmentation (in the training step) from
        # torch's: both are seeded by lightning.seed_everything, so runs are reproducible.
        from pytorch_metric_learning.samplers import MPerClassSampler

        s = self.settings
        dataset = PairDataset(self.train_views)
        batch_size = s.shapes_per_batch * s.views_per_shape
        length = max(batch_size, s.samples_per_epoch or len(dataset))
        sampler = MPerClassSampler(dataset.item_labels, m=s.views_per_shape, batch_size=batch_size, length_before_new_iter=length)
        return DataLoader(
            dataset, batch_size=batch_size, sampler=sampler, drop_last=True,
            num_workers=s.num_workers, persistent_workers=s.num_workers > 0,
        )

    def retrieval_datasets(self) -> tuple[ImageDataset, ImageDataset]:
        """(query sketches, gallery normal maps)."""
        if self.query_views is None:
            self.setup("validate")
        return ImageDataset(self.query_views, "sketch"), ImageDataset(self.gallery_views, "normal")

    def val_dataloader(self) -> list[DataLoader]:
        s = self.settings
        return [
            DataLoader(dataset, batch_size=s.eval_batch_size, shuffle=False, num_workers=s.num_workers)
            for dataset in self.retrieval_datasets()
        ]
