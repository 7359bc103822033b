"""Sketch -> normal-map retrieval: a nearest-neighbor index, Recall@k / hit@k, the per-view table.

Definitions (for ``N`` queries, each with its shape label, and the labels of its retrieved
gallery items in rank order):

* ``recall@k``: the share of the top-k results that come from the query's shape, averaged over
  queries (the original project's Recall@k). With 24 views per shape in the gallery, 1.0 at
  k=10 means the 10 nearest normal maps are all views of the right chair.
* ``hit@k``: the share of queries whose shape appears at least once in the top-k.

The picture of retrieval results (query sketch, results framed green or red) is
:func:`sketch2shape.viz.gallery_image`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

METRICS = ("ip", "l2")
BACKENDS = ("auto", "torch", "faiss")


def _as_tensor(x: Tensor | np.ndarray) -> Tensor:
    return (x if isinstance(x, Tensor) else torch.from_numpy(np.asarray(x))).detach().cpu().float().contiguous()


class RetrievalIndex:
    """Exact k-nearest-neighbor search over gallery embeddings ``(M, D)``.

    ``metric="ip"``: largest inner product first (cosine for unit vectors; scores are
    similarities); ``"l2"``: smallest squared Euclidean distance first (scores are distances).
    ``backend="auto"`` uses torch up to ``faiss_threshold`` gallery items and faiss
    ``IndexFlatIP`` / ``IndexFlatL2`` above. Both are exact and return the same neighbors (up to
    the order of exactly tied scores).
    """

    def __init__(
        self,
        embeddings: Tensor | np.ndarray,
        metric: str = "ip",
        backend: str = "auto",
        faiss_threshold: int = 50_000,
        query_chunk: int = 1024,
    ) -> None:
        if metric not in METRICS:
            raise ValueError(f"metric={metric!r}; accepted: {', '.join(METRICS)}")
        if backend not in BACKENDS:
            raise ValueError(f"backend={backend!r}; accepted: {', '.join(BACKENDS)}")
        self.embeddings = _as_tensor(embeddings)
        if self.embeddings.ndim != 2 or len(self.embeddings) == 0:
            raise ValueError(f"gallery embeddings must be a non-empty (M, D) array, got {tuple(self.embeddings.shape)}")
        self.metric = metric
        self.backend = backend if backend != "auto" else ("faiss" if len(self.embeddings) > faiss_threshold else "torch")
        self.query_chunk = query_chunk
        self._faiss = None
        if self.backend == "faiss":
            import faiss

            dim = self.embeddings.shape[1]
            self._faiss = faiss.IndexFlatIP(dim) if metric == "ip" else faiss.IndexFlatL2(dim)
            self._faiss.add(self.embeddings.numpy())

    def __len__(self) -> int:
        return len(self.embeddings)

    def search(self, queries: Tensor | np.ndarray, k: int) -> tuple[Tensor, Tensor]:
        """``queries (N, D)`` -> ``(scores (N, k), indices (N, k) int64)``, best first."""
        queries = _as_tensor(queries)
        if queries.ndim != 2 or queries.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"queries must be (N, {self.embeddings.shape[1]}), got {tuple(queries.shape)}")
        k = min(int(k), len(self))
        if self._faiss is not None:
            scores, indices = self._faiss.search(queries.numpy(), k)
            return torch.from_numpy(scores), torch.from_numpy(indices).long()
        all_scores, all_indices = [], []
        for start in range(0, len(queries), self.query_chunk):
            chunk = queries[start : start + self.query_chunk]
            if self.metric == "ip":
                scores = chunk @ self.embeddings.T
                # A stable sort breaks exact ties by gallery position, like faiss does.
                order = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
            else:
                scores = torch.cdist(chunk.double(), self.embeddings.double()).pow(2).float()
                order = torch.sort(scores, dim=1, stable=True).indices[:, :k]
            all_scores.append(scores.gather(1, order))
            all_indices.append(order)
        return torch.cat(all_scores), torch.cat(all_indices)


def _check(retrieved_labels, query_labels, k: int) -> tuple[np.ndarray, np.ndarray]:
    retrieved = np.asarray(retrieved_labels)
    query = np.asarray(query_labels).reshape(-1)
    if retrieved.ndim != 2 or retrieved.shape[0] != query.shape[0]:
        raise ValueError(f"retrieved_labels must be (N, K) with N={query.shape[0]} queries, got {retrieved.shape}")
    if not 1 <= k <= retrieved.shape[1]:
        raise ValueError(f"k={k} must be in 1..{retrieved.shape[1]} (the number of retrieved items per query)")
    return retrieved[:, :k] == query[:, None], query


def recall_at_k(retrieved_labels, query_labels, k: int) -> float:
    """Share of the top-k results from the query's shape, averaged over queries."""
    same, _ = _check(retrieved_labels, query_labels, k)
    return float(same.mean(1).mean())


def hit_at_k(retrieved_labels, query_labels, k: int) -> float:
    """Share of queries with at least one result from their shape in the top-k."""
    same, _ = _check(retrieved_labels, query_labels, k)
    return float(same.any(1).mean())


def retrieval_metrics(retrieved_labels, query_labels, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """``{"hit@1": ..., "recall@1": ..., ...}`` for every k."""
    out = {}
    for k in ks:
        out[f"hit@{k}"] = hit_at_k(retrieved_labels, query_labels, k)
        out[f"recall@{k}"] = recall_at_k(retrieved_labels, query_labels, k)
    return out


def per_view_table(retrieved_labels, query_labels, query_views, ks: Sequence[int] = (1, 5, 10)) -> pd.DataFrame:
    """One row per query view: ``view, queries, hit@k..., recall@k...`` (which views are hard)."""
    retrieved, query, views = np.asarray(retrieved_labels), np.asarray(query_labels), np.asarray(query_views)
    rows = []
    for view in np.unique(views):
        rows.append({"view": int(view), "queries": int((views == view).sum())}
                    | retrieval_metrics(retrieved[views == view], query[views == view], ks))
    return pd.DataFrame(rows)


def search_labels(
    query_emb: Tensor, gallery_emb: Tensor, gallery_labels, k: int, **index_kwargs
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k gallery ``(indices, labels)`` ``(N, k)`` for each query embedding (inner product)."""
    index = RetrievalIndex(gallery_emb, **index_kwargs)
    _, indices = index.search(query_emb, k)
    indices = indices.numpy()
    return indices, np.asarray(gallery_labels)[indices]
