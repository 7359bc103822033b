"""Retrieval: the exact index (torch and faiss), Recall@k / hit@k, the per-view table, the gallery."""

import numpy as np
import pytest
import torch

from sketch2shape.eval.siamese_eval import newest_checkpoint, raw_pixel_embedding
from sketch2shape.metrics.retrieval import (
    RetrievalIndex,
    hit_at_k,
    per_view_table,
    recall_at_k,
    retrieval_metrics,
    search_labels,
)
from sketch2shape.viz import gallery_image


def test_recall_and_hit_on_a_hand_made_distance_matrix():
    # 3 queries (shapes 0, 1, 2) against 6 gallery items of shapes [0, 0, 1, 1, 2, 2].
    gallery_labels = np.array([0, 0, 1, 1, 2, 2])
    distances = np.array([
        [0.1, 0.2, 0.9, 0.8, 0.7, 0.6],  # ranks: 0 0 | 2 2 1 1 -> both own views first
        [0.3, 0.5, 0.4, 0.9, 0.1, 0.8],  # ranks: 2(0.1) 0(0.3) 1(0.4) 0(0.5) 2(0.8) 1(0.9)
        [0.5, 0.4, 0.3, 0.2, 0.9, 0.1],  # ranks: 2(0.1) 1(0.2) 1(0.3) 0(0.4) 0(0.5) 2(0.9)
    ])
    query_labels = np.array([0, 1, 2])
    retrieved = gallery_labels[np.argsort(distances, axis=1)]
    assert retrieved.tolist() == [[0, 0, 2, 2, 1, 1], [2, 0, 1, 0, 2, 1], [2, 1, 1, 0, 0, 2]]
    assert hit_at_k(retrieved, query_labels, 1) == pytest.approx(2 / 3)
    assert recall_at_k(retrieved, query_labels, 1) == pytest.approx(2 / 3)
    assert hit_at_k(retrieved, query_labels, 2) == pytest.approx(2 / 3)
    assert recall_at_k(retrieved, query_labels, 2) == pytest.approx((1 + 0 + 0.5) / 3)
    assert hit_at_k(retrieved, query_labels, 3) == pytest.approx(1.0)
    assert recall_at_k(retrieved, query_labels, 3) == pytest.approx((2 / 3 + 1 / 3 + 1 / 3) / 3)
    assert recall_at_k(retrieved, query_labels, 6) == pytest.approx(1 / 3)
    metrics = retrieval_metrics(retrieved, query_labels, ks=(1, 3))
    assert set(metrics) == {"hit@1", "recall@1", "hit@3", "recall@3"}
    with pytest.raises(ValueError, match="k=7"):
        hit_at_k(retrieved, query_labels, 7)

    table = per_view_table(retrieved, query_labels, query_views=np.array([0, 1, 0]), ks=(1,))
    assert table["view"].tolist() == [0, 1]
    assert table["queries"].tolist() == [2, 1]
    assert table["hit@1"].tolist() == [1.0, 0.0]


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_index_returns_exact_neighbors_with_torch_and_faiss(metric):
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(500, 24)).astype(np.float32)
    queries = rng.normal(size=(40, 24)).astype(np.float32)
    if metric == "ip":
        gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        brute = np.argsort(-(queries.astype(np.float64) @ gallery.T.astype(np.float64)), axis=1)[:, :10]
    else:
        d = ((queries[:, None].astype(np.float64) - gallery[None].astype(np.float64)) ** 2).sum(-1)
        brute = np.argsort(d, axis=1)[:, :10]
    exact = RetrievalIndex(gallery, metric=metric, backend="torch", query_chunk=16)
    large = RetrievalIndex(gallery, metric=metric, backend="auto", faiss_threshold=100)  # 500 > 100: faiss
    assert exact.backend == "torch" and large.backend == "faiss"
    t_scores, t_idx = exact.search(queries, 10)
    f_scores, f_idx = large.search(torch.from_numpy(queries), 10)
    assert t_idx.tolist() == brute.tolist()
    assert f_idx.tolist() == brute.tolist()
    torch.testing.assert_close(t_scores, f_scores, rtol=1e-4, atol=1e-4)
    order = torch.diff(t_scores, dim=1)
    assert (order <= 1e-6).all() if metric == "ip" else (order >= -1e-6).all()


def test_index_of_a_gallery_item_finds_itself_and_validates_inputs():
    gallery = torch.nn.functional.normalize(torch.randn(30, 8, generator=torch.Generator().manual_seed(1)), dim=1)
    indices, labels = search_labels(gallery, gallery, np.arange(30) // 3, k=1)
    assert indices[:, 0].tolist() == list(range(30))
    assert labels[:, 0].tolist() == (np.arange(30) // 3).tolist()
    with pytest.raises(ValueError, match="metric"):
        RetrievalIndex(gallery, metric="cosine")
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        RetrievalIndex(gallery).search(torch.zeros(2, 5), 1)


def test_gallery_image_frames_hits_green_and_misses_red():
    query = np.full((20, 20), 255, np.uint8)
    results = [[np.zeros((20, 20, 3), np.uint8)] * 3, [np.zeros((20, 20, 3), np.uint8)] * 3]
    image = gallery_image([query, query], results, np.array([[True, False, True], [False, False, False]]), frame=2, gap=4)
    assert image.dtype == np.uint8 and image.shape == (2 * 24 + 4, 24 + 4 + 3 * 24, 3)
    first_result_corner = image[0, 24 + 4]
    second_result_corner = image[0, 24 + 4 + 24]
    assert first_result_corner.tolist() == [0, 170, 0]
    assert second_result_corner.tolist() == [220, 0, 0]


def test_raw_pixel_baseline_matches_identical_drawings():
    embed = raw_pixel_embedding(8)
    image = torch.ones(2, 3, 64, 64)
    image[0, :, 10:30, 10:30] = 0.0
    image[1, :, 40:60, 5:20] = 0.2
    emb = embed(image)
    assert emb.shape == (2, 64)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    torch.testing.assert_close(embed(image[:1, :1]), emb[:1])  # gray sketch == same RGB drawing


def test_eval_without_checkpoint_names_ckpt_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="ckpt_path is needed"):
        newest_checkpoint(tmp_path / "logs", "shapenet_chair_16")
