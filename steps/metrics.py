"""Clustering quality metrics, pure functions over arrays (no I/O): what Evaluate reports and the gate checks.

- silhouette on a seeded sample (the full silhouette is quadratic in the number of movies);
- cluster sizes: min, max, Gini coefficient, largest share, counts per cluster;
- recall@k of the recommender's retrieval ("movies in the query's own cluster, ranked by distance
  in the scaled space") against the exact nearest neighbours over all movies, on a seeded sample
  of queries, the query itself excluded. Ties at the k-th exact distance count as hits, so the
  figure does not depend on how equal distances happen to be ordered.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.metrics import silhouette_score

# Distances are computed for this many queries at a time: 64 x 50k float64 is ~25 MB.
QUERY_CHUNK = 64


def silhouette(X: np.ndarray, labels: np.ndarray, sample: int, seed: int) -> float:
    """Mean silhouette over a seeded sample of `sample` rows (all rows when fewer).

    A clustering with fewer than two non-empty clusters has no silhouette; it is reported as
    -1.0 (the worst value), so a quality gate fails it rather than breaking on a missing number.
    """
    labels = np.asarray(labels)
    n = len(labels)
    if n < 3 or len(np.unique(labels)) < 2:
        return -1.0
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(n, size=sample, replace=False)) if 0 < sample < n else np.arange(n)
    sub_labels = labels[idx]
    if len(np.unique(sub_labels)) < 2 or len(np.unique(sub_labels)) >= len(idx):
        return -1.0
    return float(silhouette_score(X[idx], sub_labels))


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative sizes: 0 when all equal, towards 1 when one holds everything."""
    x = np.sort(np.asarray(counts, dtype=np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    # Sorted-order form of sum_ij |x_i - x_j| / (2 n^2 mean).
    ranks = np.arange(1, n + 1)
    return float((2.0 * np.sum(ranks * x) / (n * x.sum())) - (n + 1.0) / n)


def cluster_sizes(labels: np.ndarray, k: int) -> dict:
    """Sizes of the k clusters (empty ones count as 0): min, max, Gini, largest share, counts."""
    labels = np.asarray(labels)
    if len(labels) and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"cluster labels must lie in 0..{k - 1}, got {labels.min()}..{labels.max()}")
    counts = np.bincount(labels, minlength=k) if len(labels) else np.zeros(k, dtype=int)
    total = int(counts.sum())
    return {"min": int(counts.min()), "max": int(counts.max()), "gini": gini(counts),
            "max_share": float(counts.max() / total) if total else 0.0,
            "counts": [int(c) for c in counts]}


def _sq_distances(Q: np.ndarray, X: np.ndarray, x_sq: np.ndarray) -> np.ndarray:
    d = (Q * Q).sum(axis=1)[:, None] - 2.0 * (Q @ X.T) + x_sq[None, :]
    return np.maximum(d, 0.0)


def recall_at_k(X: np.ndarray, labels: np.ndarray, queries: np.ndarray, k: int,
                progress: Callable[[int, int], None] | None = None) -> float:
    """Mean recall@k of same-cluster retrieval against exact neighbours, over the query rows.

    For a query q: the retrieved list is the k movies of q's cluster nearest to q (q excluded);
    the truth is the k nearest movies of all (q excluded). A retrieved movie is a hit when its
    distance is within the k-th exact distance (ties included). Recall divides hits by k, so a
    cluster with fewer than k other members cannot score 1.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    queries = np.asarray(queries, dtype=np.int64)
    n = X.shape[0]
    if k < 1 or k > n - 1:
        raise ValueError(f"recall k={k} must lie in 1..{n - 1} (the number of other movies)")
    if len(queries) == 0:
        raise ValueError("no queries to measure recall on")
    x_sq = (X * X).sum(axis=1)
    hits = 0.0
    done = 0
    for start in range(0, len(queries), QUERY_CHUNK):
        chunk = queries[start:start + QUERY_CHUNK]
        d = _sq_distances(X[chunk], X, x_sq)
        d[np.arange(len(chunk)), chunk] = np.inf          # the query is not its own neighbour
        kth = np.partition(d, k - 1, axis=1)[:, k - 1]    # k-th exact distance per query
        for row, q in enumerate(chunk):
            same = np.flatnonzero(labels == labels[q])
            same = same[same != q]
            if len(same) == 0:
                continue
            ds = d[row, same]
            top = ds if len(ds) <= k else np.partition(ds, k - 1)[:k]
            # Tolerance for the float noise of the expanded distance formula.
            hits += float(np.count_nonzero(top <= kth[row] * (1 + 1e-9) + 1e-12)) / k
        done += len(chunk)
        if progress:
            progress(done, len(queries))
    return hits / len(queries)


def sample_queries(n: int, count: int, seed: int) -> np.ndarray:
    """A seeded, sorted sample of `count` row indices out of n (all rows when count >= n)."""
    if count <= 0 or count >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))


def clustering_metrics(silhouette_value: float, recall: float, recall_k: int, sizes: dict, k: int) -> dict:
    """The block attached to the model package as model quality metrics: {name: {"value": v}}."""
    return {
        "silhouette": {"value": silhouette_value},
        f"recall_at_{recall_k}": {"value": recall},
        "max_cluster_share": {"value": sizes["max_share"]},
        "cluster_size_gini": {"value": sizes["gini"]},
        "min_cluster_size": {"value": sizes["min"]},
        "k": {"value": k},
    }
