"""Evaluate a trained Siamese network by retrieval, beside two baselines (scripts/eval_siamese.py).

Methods, all searched the same way (inner product of unit embeddings, exact):

* ``trained``: the checkpoint's network;
* ``untrained``: the same architecture with fresh seeded weights;
* ``raw_pixels``: ``1 - gray`` images area-resized to ``raw_pixels_size``, flattened, unit length.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from sketch2shape.data.siamese_dataset import SiameseDataModule
from sketch2shape.metrics.retrieval import per_view_table, retrieval_metrics, search_labels
from sketch2shape.models.siamese import untrained_net
from sketch2shape.models.siamese_module import SiameseModule
from sketch2shape.utils.device import resolve_device
from sketch2shape.utils.io import atomic_path, write_text
from sketch2shape.viz import save_gallery

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.ckpt"


def checkpoint_data_name(path: str | Path) -> str | None:
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=False)
    return (checkpoint.get("hyper_parameters") or {}).get("data_name")


def newest_checkpoint(log_dir: str | Path, data_name: str) -> Path:
    """The most recent ``train_siamese`` ``last.ckpt`` under ``log_dir`` trained on ``data_name``."""
    root = Path(log_dir) / "train_siamese"
    candidates = sorted(root.glob(f"**/checkpoints/{CHECKPOINT_NAME}"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        if checkpoint_data_name(path) == data_name:
            return path
    raise FileNotFoundError(
        f"ckpt_path is needed: no train_siamese checkpoint trained on data={data_name} under {root} "
        f"({len(candidates)} checkpoint(s) of other datasets). Pass ckpt_path=/path/to/last.ckpt or train "
        f"first: python scripts/train_siamese.py +data={data_name}"
    )


@torch.no_grad()
def embed_dataset(
    embed: Callable[[Tensor], Tensor], dataset: Dataset, batch_size: int, device: torch.device
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Embeddings ``(N, D)`` (on CPU), labels ``(N,)`` and views ``(N,)`` of an ImageDataset."""
    embeddings, labels, views = [], [], []
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
        embeddings.append(embed(batch["image"].to(device)).cpu())
        labels.append(batch["label"].numpy())
        views.append(batch["view"].numpy())
    return torch.cat(embeddings), np.concatenate(labels), np.concatenate(views)


def raw_pixel_embedding(size: int) -> Callable[[Tensor], Tensor]:
    """``(B, 1|3, H, W)`` [0, 1] -> ``(B, size*size)`` unit vectors of ``1 - gray`` (ink/foreground = 1)."""

    def embed(images: Tensor) -> Tensor:
        ink = 1.0 - images.mean(1, keepdim=True)
        return F.normalize(F.interpolate(ink, size=(size, size), mode="area").flatten(1), dim=-1)

    return embed


def _to_uint8(image: Tensor, size: int) -> np.ndarray:
    image = F.interpolate(image[None], size=(size, size), mode="area")[0]
    array = (image.clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
    return array[..., 0] if array.shape[2] == 1 else array


Embed = Callable[[Tensor], Tensor]


def evaluate_methods(
    methods: dict[str, tuple[Embed, Embed]],
    query_set: Dataset,
    gallery_set: Dataset,
    ks: Sequence[int],
    batch_size: int,
    device: torch.device,
    index_kwargs: dict,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, np.ndarray]]:
    """Query sketches embedded with the first function of each method, the gallery with the second.

    Returns (metrics long table ``method, metric, value``, per-view table, top-k gallery indices
    ``(N, max(ks))`` per method).
    """
    rows, per_view, top = [], [], {}
    for name, (embed_query, embed_gallery) in methods.items():
        query, query_labels, query_views = embed_dataset(embed_query, query_set, batch_size, device)
        gallery, gallery_labels, _ = embed_dataset(embed_gallery, gallery_set, batch_size, device)
        indices, retrieved = search_labels(query, gallery, gallery_labels, max(ks), **index_kwargs)
        top[name] = indices
        for metric, value in retrieval_metrics(retrieved, query_labels, ks).items():
            rows.append({"method": name, "metric": metric, "value": value})
        table = per_view_table(retrieved, query_labels, query_views, ks)
        table.insert(0, "method", name)
        per_view.append(table)
    return pd.DataFrame(rows), pd.concat(per_view, ignore_index=True), top


def write_gallery(path: Path, query_set, gallery_set, indices: np.ndarray, queries: int, top: int, size: int) -> None:
    """Query sketches spread over the query set, each with its ``top`` normal maps (hits green)."""
    picks = np.linspace(0, len(query_set) - 1, num=min(queries, len(query_set))).round().astype(int)
    query_images, results, hits = [], [], []
    for q in picks:
        item = query_set[int(q)]
        query_images.append(_to_uint8(item["image"], size))
        found = [gallery_set[int(g)] for g in indices[q, :top]]
        results.append([_to_uint8(f["image"], size) for f in found])
        hits.append([f["label"] == item["label"] for f in found])
    save_gallery(path, query_images, results, np.array(hits))


def with_camera_angles(per_view: pd.DataFrame, cameras_json: Path) -> pd.DataFrame:
    """Add each view's ``azimuth_deg`` / ``elevation_deg`` from the dataset's cameras.json (if any)."""
    import json

    if not cameras_json.is_file():
        return per_view
    cameras = json.loads(cameras_json.read_text())
    out = per_view.copy()
    position = list(out.columns).index("view") + 1
    for key in ("elevation_deg", "azimuth_deg"):
        out.insert(position, key, [cameras[v][key] if v < len(cameras) else np.nan for v in out["view"]])
    return out


def wide_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """``method`` rows x ``metric`` columns (hit@k then recall@k)."""
    wide = metrics.pivot(index="method", columns="metric", values="value")
    order = sorted(wide.columns, key=lambda m: (m.split("@")[0] != "hit", int(m.split("@")[1])))
    return wide.loc[[m for m in ("trained", "untrained", "raw_pixels") if m in wide.index], order]


def run_eval(cfg) -> pd.DataFrame:
    """Everything ``scripts/eval_siamese.py`` does; returns the wide metrics table."""

    out_dir = Path(str(cfg.paths.output_dir))
    ckpt = cfg.get("ckpt_path")
    ckpt = Path(str(ckpt)) if ckpt else newest_checkpoint(cfg.paths.log_dir, cfg.data.name)
    if not ckpt.is_file():
        raise FileNotFoundError(f"ckpt_path={ckpt} does not exist; pass a train_siamese checkpoint (.../checkpoints/last.ckpt)")
    log.info("checkpoint: %s", ckpt)
    trained_on = checkpoint_data_name(ckpt)
    if trained_on is not None and trained_on != cfg.data.name:
        log.warning("checkpoint was trained on data=%s, evaluating on data=%s", trained_on, cfg.data.name)
    device = resolve_device(cfg.get("device", "auto"))
    module = SiameseModule.load_from_checkpoint(str(ckpt), map_location=device)
    net = module.net.eval().requires_grad_(False)
    untrained = untrained_net(module.hparams["net"], seed=int(cfg.seed)).to(device).eval()

    datamodule = SiameseDataModule(cfg.data.data_dir, cfg.model.loader)
    query_set, gallery_set = datamodule.retrieval_datasets()
    raw = raw_pixel_embedding(int(cfg.raw_pixels_size))
    methods = {
        "trained": (net.embed_sketch, net.embed_normal),
        "untrained": (untrained.embed_sketch, untrained.embed_normal),
        "raw_pixels": (raw, raw),
    }
    ks = [int(k) for k in cfg.ks]
    index_kwargs = {"backend": str(cfg.index.backend), "faiss_threshold": int(cfg.index.faiss_threshold)}
    metrics, per_view, top = evaluate_methods(
        methods, query_set, gallery_set, ks, int(cfg.model.loader.eval_batch_size), device, index_kwargs
    )

    with atomic_path(out_dir / "metrics.csv") as tmp:
        metrics.to_csv(tmp, index=False, float_format="%.4f")
    per_view = with_camera_angles(per_view, datamodule.layout.cameras)
    with atomic_path(out_dir / "per_view.csv") as tmp:
        per_view.to_csv(tmp, index=False, float_format="%.4f")
    wide = wide_table(metrics)
    write_text(out_dir / "metrics_table.txt", f"checkpoint: {ckpt}\ndata: {cfg.data.name}\n\n{wide.to_string(float_format='%.3f')}\n")
    g = cfg.gallery
    write_gallery(out_dir / "gallery.png", query_set, gallery_set, top["trained"], int(g.queries), int(g.top), int(g.image_size))
    return wide

