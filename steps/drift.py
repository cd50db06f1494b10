"""Drift and churn of a new model against the one in production: pure functions over arrays (no I/O).

Drift compares the two feature tables (each model's own features.parquet, raw feature values):
- population stability index per feature, on 10 bins cut at the production values' deciles (a
  feature with at most 10 distinct values, such as a 0/1 genre column, is binned per value);
  empty bins count as a share of 1e-4 so the index stays finite;
- the two-sample Kolmogorov-Smirnov statistic per feature (scipy.stats.ks_2samp);
- the share of movies in each genre, before and after;
- movies added and removed (by id).

Churn is measured on the movies both models know:
- the adjusted Rand index of the two clusterings (sklearn.metrics.adjusted_rand_score): 1 when
  both group those movies identically, about 0 for unrelated groupings;
- similar-list churn: for a seeded sample of those movies, each model's top-k similar movies,
  the EXACT k nearest in that model's own scaled space over that model's whole catalogue (what
  the API serves, up to its retrieval recall, evaluation.json's `recall_at_k`), compared by id.
  A movie churns when more than half of its list changed (fewer than k/2 ids in common): a
  removed neighbour counts as a change, since a user sees it gone.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from scipy.stats import ks_2samp
from sklearn.metrics import adjusted_rand_score

PSI_BINS = 10
PSI_FLOOR = 1e-4
QUERY_CHUNK = 256


# --- feature drift ----------------------------------------------------------------------------
def _bin_shares(expected: np.ndarray, actual: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    cats = np.union1d(np.unique(expected), np.unique(actual))
    if len(cats) <= bins:
        # Categorical (a genre flag, a small integer): one bin per value seen in either sample.
        e = np.searchsorted(cats, expected)
        a = np.searchsorted(cats, actual)
        n_bins = len(cats)
    else:
        edges = np.unique(np.quantile(expected, np.linspace(0, 1, bins + 1)[1:-1]))
        # right-closed bins on the inner edges; everything below/above falls in the end bins
        e = np.searchsorted(edges, expected, side="left")
        a = np.searchsorted(edges, actual, side="left")
        n_bins = len(edges) + 1
    pe = np.bincount(e, minlength=n_bins) / max(len(expected), 1)
    pa = np.bincount(a, minlength=n_bins) / max(len(actual), 1)
    return pe, pa


def psi(expected: np.ndarray, actual: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of `actual` against `expected` (0: same distribution)."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    if len(expected) == 0 or len(actual) == 0:
        raise ValueError("PSI needs two non-empty samples")
    pe, pa = _bin_shares(expected, actual, bins)
    pe = np.maximum(pe, PSI_FLOOR)
    pa = np.maximum(pa, PSI_FLOOR)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def feature_drift(before: np.ndarray, after: np.ndarray, names: list[str]) -> dict[str, dict]:
    """{feature: {"psi", "ks", "ks_pvalue", "mean_before", "mean_after"}} for matching columns."""
    if before.shape[1] != len(names) or after.shape[1] != len(names):
        raise ValueError(f"feature drift: {len(names)} names for {before.shape[1]} and {after.shape[1]} columns")
    out = {}
    for j, name in enumerate(names):
        b, a = before[:, j], after[:, j]
        test = ks_2samp(b, a)
        out[name] = {"psi": psi(b, a), "ks": float(test.statistic), "ks_pvalue": float(test.pvalue),
                     "mean_before": float(b.mean()), "mean_after": float(a.mean())}
    return out


def genre_shares(before: np.ndarray, after: np.ndarray, names: list[str],
                 genres: list[str]) -> dict[str, dict]:
    """{genre: {"before", "after", "change"}}: the share of movies carrying each genre column."""
    out = {}
    for genre in genres:
        if genre not in names:
            continue
        j = names.index(genre)
        b, a = float((before[:, j] > 0.5).mean()), float((after[:, j] > 0.5).mean())
        out[genre] = {"before": b, "after": a, "change": a - b}
    return out


def catalogue_changes(before_ids: np.ndarray, after_ids: np.ndarray, sample: int = 10) -> dict[str, Any]:
    """Movies added and removed (by id), with a few examples of each (sorted, so deterministic)."""
    before = set(map(str, before_ids))
    after = set(map(str, after_ids))
    added, removed = sorted(after - before), sorted(before - after)
    return {"before": len(before), "after": len(after), "common": len(before & after),
            "added": len(added), "removed": len(removed),
            "added_examples": added[:sample], "removed_examples": removed[:sample]}


# --- churn ------------------------------------------------------------------------------------
def top_k(Xs: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Rows of the k nearest movies to each query row (itself excluded), nearest first; exact.

    Equal distances are ordered by row, so the lists do not depend on the sort's whims.
    """
    Xs = np.asarray(Xs, dtype=np.float64)
    n = Xs.shape[0]
    if not 1 <= k <= n - 1:
        raise ValueError(f"top-{k} needs at least {k + 1} movies, the catalogue has {n}")
    sq = (Xs * Xs).sum(axis=1)
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), QUERY_CHUNK):
        chunk = np.asarray(queries[start:start + QUERY_CHUNK], dtype=np.int64)
        d = np.maximum(sq[chunk, None] - 2.0 * (Xs[chunk] @ Xs.T) + sq[None, :], 0.0)
        d[np.arange(len(chunk)), chunk] = np.inf
        part = np.argpartition(d, k, axis=1)[:, :k + 1]      # k+1: room for a tie at the edge
        for row in range(len(chunk)):
            cand = part[row]
            order = np.lexsort((cand, d[row, cand]))[:k]
            out[start + row] = cand[order]
    return out


def similar_churn(before_Xs: np.ndarray, before_ids: np.ndarray, after_Xs: np.ndarray,
                  after_ids: np.ndarray, k: int, queries: int, seed: int) -> dict[str, Any]:
    """Share of the common movies whose top-k similar list changes by more than half.

    `before_Xs`/`after_Xs` are each model's scaled features of its own catalogue (rows aligned
    with the ids). Queries: a seeded sample of `queries` common movies (all of them when 0 or
    more than there are).
    """
    before_ids = np.asarray(before_ids).astype(str)
    after_ids = np.asarray(after_ids).astype(str)
    common = np.intersect1d(before_ids, after_ids)
    if len(common) == 0:
        return {"similar_churn": 1.0, "mean_overlap": 0.0, "queries": 0, "k": int(k),
                "note": "no movie in common: every list changed"}
    if 0 < queries < len(common):
        common = np.sort(np.random.default_rng(seed).choice(common, size=queries, replace=False))
    row_before = {m: i for i, m in enumerate(before_ids)}
    row_after = {m: i for i, m in enumerate(after_ids)}
    kk = min(k, len(before_ids) - 1, len(after_ids) - 1)
    lists_before = top_k(before_Xs, np.array([row_before[m] for m in common]), kk)
    lists_after = top_k(after_Xs, np.array([row_after[m] for m in common]), kk)
    overlap = np.array([len(set(before_ids[b]) & set(after_ids[a])) for b, a in zip(lists_before, lists_after)])
    churned = overlap * 2 < kk                               # more than half of the list changed
    return {"similar_churn": float(churned.mean()), "mean_overlap": float(overlap.mean() / kk),
            "queries": int(len(common)), "k": int(kk),
            "overlap_histogram": [int(c) for c in np.bincount(overlap, minlength=kk + 1)]}


def adjusted_rand(before_labels: np.ndarray, before_ids: np.ndarray, after_labels: np.ndarray,
                  after_ids: np.ndarray) -> float | None:
    """Adjusted Rand index of the two clusterings on the movies both know (None: none in common)."""
    before_ids = np.asarray(before_ids).astype(str)
    after_ids = np.asarray(after_ids).astype(str)
    common, ib, ia = np.intersect1d(before_ids, after_ids, return_indices=True)
    if len(common) < 2:
        return None
    return float(adjusted_rand_score(np.asarray(before_labels)[ib], np.asarray(after_labels)[ia]))


# --- the report -------------------------------------------------------------------------------
def drift_report(before_X: np.ndarray, before_ids: np.ndarray, after_X: np.ndarray, after_ids: np.ndarray,
                 names: list[str], genres: list[str]) -> dict[str, Any]:
    """drift.json's "features", "genres", "movies" and "max_feature_psi" (the gated figure)."""
    features = feature_drift(before_X, after_X, names)
    worst = max(features, key=lambda f: features[f]["psi"])
    return {"features": features, "genres": genre_shares(before_X, after_X, names, genres),
            "movies": catalogue_changes(before_ids, after_ids),
            "max_feature_psi": features[worst]["psi"], "max_psi_feature": worst,
            "max_ks": max(v["ks"] for v in features.values())}
