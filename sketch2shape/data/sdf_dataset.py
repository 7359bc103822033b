"""SDF samples of a dataset split, for DeepSDF training and latent optimization."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.metainfo import obj_ids_of, read_metainfo, usable_shapes


def load_sdf_samples(layout: DatasetLayout, obj_id: str) -> torch.Tensor:
    """(N, 4) float32 tensor: xyz, sdf. A clear error if the shape was not preprocessed."""
    path = layout.shape(obj_id).sdf_samples
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run `python scripts/preprocess_data.py data={layout.name}` first")
    samples = np.load(path)
    if samples.ndim != 2 or samples.shape[1] != 4:
        raise ValueError(f"{path}: expected an (N, 4) array of xyz + sdf, got shape {samples.shape}")
    return torch.from_numpy(samples.astype(np.float32))


class SDFSamples(Dataset):
    """Item ``i`` is (label ``i % num_shapes``, ``points_per_shape`` random SDF samples of it).

    There are ``repeats`` items per shape, so one epoch sees each shape ``repeats`` times in
    small batches: CPUs run an MLP fastest on a few thousand points at a time (the activations
    stay in cache), and more optimizer steps per epoch help convergence.

    Half of the points are drawn from samples outside the surface and half from inside when
    both exist (DeepSDF's balanced sampling), the rest uniformly. The randomness comes from
    torch's global generator, seeded by Lightning's ``seed_everything``.
    """

    def __init__(self, samples: Sequence[torch.Tensor], labels: Sequence[int], points_per_shape: int, repeats: int = 1) -> None:
        self.labels = list(labels)
        self.points_per_shape = int(points_per_shape)
        self.repeats = int(repeats)
        self.positive = [s[s[:, 3] >= 0] for s in samples]
        self.negative = [s[s[:, 3] < 0] for s in samples]

    def __len__(self) -> int:
        return len(self.labels) * self.repeats

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor]:
        index = index % len(self.labels)
        pos, neg = self.positive[index], self.negative[index]
        half = self.points_per_shape // 2
        if len(pos) == 0 or len(neg) == 0:
            pool = pos if len(neg) == 0 else neg
            chosen = pool[torch.randint(len(pool), (self.points_per_shape,))]
        else:
            chosen = torch.cat([
                pos[torch.randint(len(pos), (half,))],
                neg[torch.randint(len(neg), (self.points_per_shape - half,))],
            ])
        return self.labels[index], chosen


class SDFDataModule(L.LightningDataModule):
    """Training shapes of a dataset (labels = rows of the latent table, in ``train_ids`` order).

    Train shapes that preprocessing failed on (``failures.csv``) are left out with a warning
    naming them; train shapes without ``sdf_samples.npy`` and no recorded failure stop the run
    with a message saying what to run, unless ``skip_missing`` (then they are left out too).
    See :func:`sketch2shape.data.metainfo.usable_shapes`.
    """

    def __init__(
        self, data_dir: str | Path, shapes_per_batch: int = 8, points_per_shape: int = 1024, repeats: int = 8,
        num_workers: int = 0, skip_missing: bool = False,
    ) -> None:
        super().__init__()
        self.repeats = repeats
        self.layout = DatasetLayout(Path(data_dir))
        self.shapes_per_batch = shapes_per_batch
        self.points_per_shape = points_per_shape
        self.num_workers = num_workers
        all_train = obj_ids_of(read_metainfo(self.layout.metainfo), "train")
        if not all_train:
            raise ValueError(f"{self.layout.metainfo} has no train shapes")
        self.train_ids: list[str] = usable_shapes(
            self.layout, all_train, lambda files: [files.sdf_samples], "sdf_samples.npy", skip_missing=bool(skip_missing)
        )
        self._dataset: SDFSamples | None = None

    @property
    def num_shapes(self) -> int:
        return len(self.train_ids)

    def setup(self, stage: str | None = None) -> None:
        if self._dataset is None:
            samples = [load_sdf_samples(self.layout, obj_id) for obj_id in self.train_ids]
            self._dataset = SDFSamples(samples, range(len(samples)), self.points_per_shape, self.repeats)

    def train_dataloader(self) -> DataLoader:
        assert self._dataset is not None
        return DataLoader(
            self._dataset,
            batch_size=min(self.shapes_per_batch, len(self._dataset)),
            shuffle=True,
            drop_last=False,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )
