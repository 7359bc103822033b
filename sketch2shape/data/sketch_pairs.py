"""(sketch, latent code) pairs for training a sketch encoder at scale.

The encoder must answer a sketch drawn from wherever a person likes, of a chair that is not in
the training set. So its training pairs are made here, not read from the 24 preprocessing views:

* **training shapes**: each DeepSDF training shape's normalized mesh sketched from
  ``views_per_shape`` random cameras (a continuous range of azimuth and elevation, see
  :class:`ViewSampling`), paired with the shape's learned code;
* **decoded shapes**: ``decoded_shapes`` new codes between the training codes (a random pair
  interpolated, or one code perturbed), decoded by the DeepSDF decoder, meshed by marching cubes
  and sketched the same way from ``decoded_views`` random cameras, paired with their own code.
  This fills the shape space between the training chairs (the recipe of the original project's
  final encoder).

Every sketch is made by the one camera model (:class:`sketch2shape.render.camera.Camera`), the
mesh ray caster and the preprocessing's sketch step (:func:`sketch_from_normal_map`), so the
pairs look like the dataset's synthetic sketches. Hand-drawing variation is added at training
time (:mod:`sketch2shape.data.augment`).

Files (``<out_dir>/``): ``manifest.json`` (settings, seed, which DeepSDF codes) and
``shards/<kind>_<index>.npz`` with ``sketches (N, R, R) uint8`` (ink 0, paper 255),
``codes (N, D) float32``, ``code_index (N,) int64`` (row of the training code table, -1 for
decoded shapes), ``azimuth_deg``, ``elevation_deg (N,) float32``. Each shard is written
atomically and depends only on (seed, kind, index), so an interrupted run resumes where it
stopped and a finished one is reused.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from sketch2shape.data.layout import DatasetLayout
from sketch2shape.data.preprocess.mesh import load_mesh
from sketch2shape.mesh.marching_cubes import extract_mesh
from sketch2shape.render.camera import Camera
from sketch2shape.render.mesh_raycast import MeshRaycaster
from sketch2shape.render.shading import normals_to_image, to_uint8
from sketch2shape.render.sketch import SketchSettings, sketch_from_normal_map
from sketch2shape.utils.config import dataclass_kwargs
from sketch2shape.utils.io import atomic_path, write_json
from sketch2shape.utils.progress import progress_bar

log = logging.getLogger(__name__)

KINDS = ("train", "decoded")


@dataclass(frozen=True)
class ViewSampling:
    """Random cameras around a shape (azimuth 0 looks at the chair's front, +Y up; degrees).

    A share ``front_fraction`` of the views has its azimuth in ``front_azimuth_deg`` (people
    mostly draw chairs from the front or three-quarter views), the rest anywhere in
    ``azimuth_deg``; elevations are uniform in ``elevation_deg``. ``distance`` and ``fov_deg``
    are the dataset camera's (``data.camera``), ``resolution`` the sketch size in pixels.
    """

    azimuth_deg: tuple[float, float] = (-180.0, 180.0)
    front_azimuth_deg: tuple[float, float] = (-90.0, 90.0)
    front_fraction: float = 0.7
    elevation_deg: tuple[float, float] = (0.0, 40.0)
    distance: float = 2.5
    fov_deg: float = 50.0
    resolution: int = 128

    def __post_init__(self) -> None:
        for name in ("azimuth_deg", "front_azimuth_deg", "elevation_deg"):
            low, high = getattr(self, name)
            if not low <= high:
                raise ValueError(f"ViewSampling.{name}={getattr(self, name)!r}: expected (low, high) with low <= high")
        if not 0.0 <= self.front_fraction <= 1.0:
            raise ValueError(f"ViewSampling.front_fraction={self.front_fraction!r} must be in [0, 1]")

    def sample(self, rng: np.random.Generator, count: int) -> list[Camera]:
        """``count`` cameras drawn from ``rng``."""
        front = rng.random(count) < self.front_fraction
        azimuth = np.where(front, rng.uniform(*self.front_azimuth_deg, count), rng.uniform(*self.azimuth_deg, count))
        elevation = rng.uniform(*self.elevation_deg, count)
        return [
            Camera(azimuth_deg=float(a), elevation_deg=float(e), distance=self.distance, fov_deg=self.fov_deg, resolution=self.resolution)
            for a, e in zip(azimuth, elevation)
        ]


@dataclass(frozen=True)
class PairSettings:
    """How many pairs of each kind, and how decoded shapes are made (see the module docstring).

    ``interpolate_fraction`` of the decoded codes are ``(1 - t) z_a + t z_b`` with ``t`` uniform in
    ``interpolate_t`` for a random pair of training codes; the rest are a training code plus
    Gaussian noise of ``perturb_scale`` times the codes' per-dimension spread. Decoded shapes are
    meshed at ``mesh_resolution`` (marching cubes over [-1, 1]^3) and dropped if the mesh is empty.
    """

    views_per_shape: int = 12
    decoded_shapes: int = 512
    decoded_views: int = 4
    interpolate_fraction: float = 0.7
    interpolate_t: tuple[float, float] = (0.15, 0.85)
    perturb_scale: float = 0.5
    mesh_resolution: int = 64
    shard_size: int = 64
    crease_angle_deg: float = 35.0
    stroke_width: int = 1
    views: ViewSampling = field(default_factory=ViewSampling)

    @classmethod
    def from_config(cls, node: Any) -> PairSettings:
        """From a mapping (``pairs:`` of ``sketch2shape/conf/make_sketch_pairs.yaml``); unknown keys raise
        ``ValueError`` naming them and the accepted keys."""
        values = dataclass_kwargs(cls, node, "pairs")
        view_values = dataclass_kwargs(ViewSampling, values.pop("views", None), "pairs.views")
        for key in ("azimuth_deg", "front_azimuth_deg", "elevation_deg"):
            if key in view_values:
                view_values[key] = tuple(float(v) for v in view_values[key])
        if "interpolate_t" in values:
            values["interpolate_t"] = tuple(float(v) for v in values["interpolate_t"])
        return cls(views=ViewSampling(**view_values), **values)


def mesh_sketch(raycaster: MeshRaycaster, camera: Camera, settings: SketchSettings) -> np.ndarray:
    """The synthetic sketch ``(R, R) uint8`` (ink 0 on 255) of a mesh from ``camera``: ray-cast
    normal map, then the preprocessing's sketch step (silhouette + creases)."""
    render = raycaster.render(camera)
    image = to_uint8(normals_to_image(torch.from_numpy(render.normals), torch.from_numpy(render.mask)))
    return sketch_from_normal_map(image, settings)


def _rng(seed: int, kind: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(kind.encode()), index])


def decoded_codes(codes: np.ndarray, count: int, settings: PairSettings, seed: int) -> np.ndarray:
    """``(count, D)`` new codes around the training codes ``(K, D)`` (interpolated or perturbed;
    see :class:`PairSettings`), a function of ``seed`` only."""
    rng = _rng(seed, "decoded_codes", 0)
    spread = codes.std(0, keepdims=True)
    first = rng.integers(len(codes), size=count)
    second = rng.integers(len(codes), size=count)
    t = rng.uniform(*settings.interpolate_t, size=(count, 1))
    interpolated = (1.0 - t) * codes[first] + t * codes[second]
    perturbed = codes[first] + settings.perturb_scale * spread * rng.standard_normal(codes[first].shape)
    use = rng.random((count, 1)) < settings.interpolate_fraction
    return np.where(use, interpolated, perturbed).astype(np.float32)


@dataclass
class _Job:
    kind: str
    index: int
    path: str
    items: list[Any]  # obj_ids (train) or (row, code) pairs (decoded)


class PairMaker:
    """Writes the shards of one pairs folder (see the module docstring); picklable for workers.

    The decoder travels as its class, constructor arguments and weights (``decoder_class``,
    ``decoder_args``, ``decoder_state``) and is rebuilt once per worker: a weight-normed module
    cannot be pickled itself. The class comes from the DeepSDF model the caller passes, so this
    data module needs no import of :mod:`sketch2shape.models`.
    """

    def __init__(
        self,
        layout_root: str,
        settings: PairSettings,
        seed: int,
        decoder_state: dict | None = None,
        decoder_args: dict | None = None,
        decoder_class: type | None = None,
    ) -> None:
        self.layout_root, self.settings, self.seed = layout_root, settings, int(seed)
        self.decoder_state, self.decoder_args, self.decoder_class = decoder_state, decoder_args, decoder_class
        self._decoder = None

    def decoder(self):
        if self._decoder is None:
            if self.decoder_class is None:
                raise ValueError("decoded shapes need the DeepSDF decoder: PairMaker(..., decoder_class=type(deepsdf.decoder))")
            decoder = self.decoder_class(**self.decoder_args)
            decoder.load_state_dict(self.decoder_state)
            self._decoder = decoder.eval().requires_grad_(False)
        return self._decoder

    def sketch_settings(self) -> SketchSettings:
        return SketchSettings(crease_angle_deg=self.settings.crease_angle_deg, stroke_width=self.settings.stroke_width)

    def __call__(self, job: _Job) -> tuple[str, int, list[str]]:
        """Make one shard; returns (path, pairs written, problems) - a shape that fails is named
        in ``problems`` and left out, the rest of the shard carries on."""
        torch.set_num_threads(1)

        rng = _rng(self.seed, job.kind, job.index)
        sketch_settings = self.sketch_settings()
        sketches, codes, rows, azimuths, elevations, problems = [], [], [], [], [], []
        layout = DatasetLayout(Path(self.layout_root))
        for item in job.items:
            try:
                if job.kind == "train":
                    row, code, obj_id = item
                    mesh = load_mesh(layout.shape(obj_id).normalized_mesh)
                    count = self.settings.views_per_shape
                else:
                    row, code = item
                    latent = torch.as_tensor(code)
                    decoder = self.decoder()
                    with torch.no_grad():
                        field = decoder.field(latent) if hasattr(decoder, "field") else (lambda p: decoder(latent, p))  # per-code work once
                        mesh, _ = extract_mesh(field, resolution=self.settings.mesh_resolution, strides=(4, 2, 1))
                    if len(mesh.faces) == 0:
                        problems.append(f"decoded code {row}: empty mesh")
                        continue
                    count = self.settings.decoded_views
                raycaster = MeshRaycaster(mesh)
                for camera in self.settings.views.sample(rng, count):
                    sketches.append(mesh_sketch(raycaster, camera, sketch_settings))
                    codes.append(np.asarray(code, np.float32))
                    rows.append(row if job.kind == "train" else -1)
                    azimuths.append(camera.azimuth_deg)
                    elevations.append(camera.elevation_deg)
            except Exception as err:  # one bad shape must not stop the run
                problems.append(f"{item[-1] if job.kind == 'train' else item[0]}: {type(err).__name__}: {err}")
        if not sketches:
            return job.path, 0, problems
        with atomic_path(job.path) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(
                    handle, sketches=np.stack(sketches), codes=np.stack(codes), code_index=np.asarray(rows, np.int64),
                    azimuth_deg=np.asarray(azimuths, np.float32), elevation_deg=np.asarray(elevations, np.float32),
                )
        return job.path, len(sketches), problems


def make_sketch_pairs(
    layout: DatasetLayout,
    deepsdf,
    out_dir: str | Path,
    settings: PairSettings,
    seed: int,
    workers: int = 1,
    deepsdf_record: dict | None = None,
) -> dict[str, int]:
    """Write the pairs of ``deepsdf`` (a :class:`sketch2shape.models.deepsdf_module.DeepSDF` with
    ``train_obj_ids``) into ``out_dir``; returns the number of pairs per kind.

    Resumable (existing shards are kept; ``manifest.json`` must match the settings, seed and code
    table, else ``ValueError`` says to use another folder). ``workers`` processes share the shards.
    A shape that fails is logged and written to ``failures.txt``; the others carry on.
    """
    out = Path(out_dir)
    codes = deepsdf.latents.weight.detach().cpu().numpy().astype(np.float32)
    manifest = {
        "settings": json.loads(json.dumps(asdict(settings))),
        "seed": int(seed),
        "data_name": deepsdf.hparams.get("data_name"),
        "latent_dim": int(codes.shape[1]),
        "deepsdf": dict(deepsdf_record or {}),
    }
    manifest_path = out / "manifest.json"
    if manifest_path.is_file():
        old = json.loads(manifest_path.read_text())
        same = {k: old.get(k) for k in ("settings", "seed", "latent_dim")} == {k: manifest[k] for k in ("settings", "seed", "latent_dim")}
        same = same and old.get("deepsdf", {}).get("latents_sha256") == manifest["deepsdf"].get("latents_sha256")
        if not same:
            raise ValueError(f"{manifest_path} was made with other settings, seed or DeepSDF codes: use another out_dir or delete {out}")
    write_json(manifest_path, manifest)
    shards = out / "shards"
    shards.mkdir(parents=True, exist_ok=True)
    ids = [str(o) for o in deepsdf.train_obj_ids]
    size = max(1, settings.shard_size)
    jobs = [
        _Job("train", i, str(shards / f"train_{i:05d}.npz"), [(row, codes[row], ids[row]) for row in range(start, min(start + size, len(ids)))])
        for i, start in enumerate(range(0, len(ids), size))
    ]
    new_codes = decoded_codes(codes, settings.decoded_shapes, settings, seed)
    per_shard = max(1, size // 4)  # decoding + meshing is slower than loading a mesh
    jobs += [
        _Job("decoded", i, str(shards / f"decoded_{i:05d}.npz"), [(start + k, code) for k, code in enumerate(new_codes[start : start + per_shard])])
        for i, start in enumerate(range(0, len(new_codes), per_shard))
    ]
    todo = [job for job in jobs if not Path(job.path).is_file()]
    log.info("sketch pairs: %d shards (%d to make) in %s", len(jobs), len(todo), shards)
    decoder = deepsdf.decoder
    args = {"latent_dim": decoder.latent_dim, **{k: v for k, v in (deepsdf.hparams.get("decoder") or {}).items() if k not in ("latent_dim", "kind")}}
    state = {k: v.detach().cpu() for k, v in decoder.state_dict().items()}
    maker = PairMaker(str(layout.root), settings, seed, state, args, type(decoder))
    problems: list[str] = []
    progress = progress_bar(total=len(todo), desc="sketch pairs", unit="shard")
    if workers > 1 and len(todo) > 1:
        context = multiprocessing.get_context("fork")
        with context.Pool(workers) as pool:
            for _, _, bad in pool.imap_unordered(maker, todo):
                problems += bad
                progress.update()
    else:
        for job in todo:
            problems += maker(job)[2]
            progress.update()
    progress.close()
    if problems:
        for line in problems:
            log.warning("sketch pairs: %s", line)
        with atomic_path(out / "failures.txt") as tmp:
            Path(tmp).write_text("\n".join(problems) + "\n")
    return pair_counts(out)


class SketchPairs(Dataset):
    """All pairs of a pairs folder in memory: item ``{"sketch": (1, R, R) float in [0, 1] (ink 0),
    "code": (D,) float, "code_index": int (-1 for decoded shapes)}``.

    ``holdout`` (fraction) sets aside the pairs of a deterministic share of the shards for
    validation (``split="val"``); ``split="train"`` is the rest.
    """

    def __init__(self, pairs_dir: str | Path, split: str = "train", holdout: float = 0.0) -> None:
        root = Path(pairs_dir)
        paths = sorted((root / "shards").glob("*.npz"))
        if not paths:
            raise FileNotFoundError(f"{root / 'shards'} has no pair shards: make them with `python scripts/make_sketch_pairs.py deepsdf_ckpt_path=...`")
        if split not in ("train", "val"):
            raise ValueError(f"split={split!r}; accepted: train, val")
        every = max(2, round(1.0 / holdout)) if holdout > 0 else 0
        held = {p for i, p in enumerate(paths) if every and i % every == every - 1}
        chosen = [p for p in paths if (p in held) == (split == "val")]
        sketches, codes, rows = [], [], []
        for path in chosen:
            with np.load(path) as shard:
                sketches.append(shard["sketches"])
                codes.append(shard["codes"])
                rows.append(shard["code_index"])
        self.sketches = torch.from_numpy(np.concatenate(sketches)) if sketches else torch.zeros(0, 1, 1, dtype=torch.uint8)
        self.codes = torch.from_numpy(np.concatenate(codes)) if codes else torch.zeros(0, 1)
        self.code_index = torch.from_numpy(np.concatenate(rows)) if rows else torch.zeros(0, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.code_index)

    def __getitem__(self, index: int) -> dict:
        return {"sketch": self.sketches[index][None].float() / 255.0, "code": self.codes[index], "code_index": int(self.code_index[index])}


def pair_counts(pairs_dir: str | Path) -> dict[str, int]:
    """Pairs per kind in a pairs folder (reads only the shards' index arrays)."""
    counts = {kind: 0 for kind in KINDS}
    for path in sorted((Path(pairs_dir) / "shards").glob("*.npz")):
        kind = path.stem.split("_")[0]
        with np.load(path) as shard:
            counts[kind] = counts.get(kind, 0) + int(len(shard["code_index"]))
    return counts


__all__ = ["ViewSampling", "PairSettings", "mesh_sketch", "decoded_codes", "make_sketch_pairs", "SketchPairs", "pair_counts"]
