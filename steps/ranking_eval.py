"""The methods Evaluate ranks held-out viewers with, over film ids (pure: no I/O).

The metrics themselves (HR@k, NDCG@k, MRR, coverage, popular share) are steps/ranking.py's, the
served ranking steps/hybrid.py's: this module builds the four methods in the shape
`ranking.evaluate` takes (`recommend_fn(viewer_id, history, limit, exclude) -> [tconst]`):
- content: today's content model: for each of the viewer's strongest (then latest) films, the
  films of its cluster nearest to it in the scaled feature space, the lists interleaved (several
  tastes kept, never one averaged point);
- popularity: the most weighted films of the history pairs, the same list for everyone;
- collaborative: the item-kNN vote of the recommender's neighbour lists over the viewer's history;
- hybrid: `hybrid.Hybrid.recommend`, exactly as the API calls it for `{"viewer": id}`.
The held-out viewers are those with `test` pairs; their history is their `train` + `validation`
pairs, and the models measured must have been fitted without the test pairs.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

RecommendFn = Callable[[str, list, int, set], Sequence[str]]
Content = Callable[[str, int], Sequence[str]]
MAX_SEEDS = 10


def split(pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(history: train + validation pairs, test pairs) of interactions.parquet."""
    is_test = pairs["split"] == "test"
    return pairs[~is_test].reset_index(drop=True), pairs[is_test].reset_index(drop=True)


def interleave(lists: Sequence[Sequence[str]], exclude: set, k: int) -> list[str]:
    """Round-robin over per-film lists, first occurrences only, minus `exclude`, the first k."""
    out: list[str] = []
    seen = set(exclude)
    depth = max((len(x) for x in lists), default=0)
    for rank in range(depth):
        for ranked in lists:
            if rank < len(ranked) and ranked[rank] not in seen:
                seen.add(ranked[rank])
                out.append(ranked[rank])
                if len(out) == k:
                    return out
    return out


def content_neighbours(Xs: np.ndarray, labels: np.ndarray, ids: Sequence[str]) -> Content:
    """`(tconst, n) -> the n films of its cluster nearest to it` (scaled space; ties by id), as the
    API's content answer; [] for a film the content model does not know."""
    ids = np.asarray(ids).astype(str)
    row = {t: i for i, t in enumerate(ids)}
    members = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}

    def near(tconst: str, n: int) -> list[str]:
        i = row.get(tconst)
        if i is None or n <= 0:
            return []
        pool = members[int(labels[i])]
        pool = pool[pool != i]
        d = ((Xs[pool] - Xs[i]) ** 2).sum(axis=1)
        n = min(n, len(pool))
        top = np.argpartition(d, n - 1)[:n] if n < len(pool) else np.arange(len(pool))
        return ids[pool[top[np.lexsort((ids[pool[top]], d[top]))]]].tolist()
    return near


def _weights(history: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {v: dict(zip(g["tconst"], g["weight"].astype(float)))
            for v, g in history.groupby("viewer_id", sort=False)}


def _seeds(past: list, weights: Mapping[str, float], max_seeds: int = MAX_SEEDS) -> list[str]:
    """The viewer's strongest films, the latest first among equals (history is in time order)."""
    order = sorted(range(len(past)), key=lambda i: (-weights.get(past[i], 1.0), -i))
    return [past[i] for i in order[:max_seeds]]


def content_method(near: Content, history: pd.DataFrame) -> RecommendFn:
    weights = _weights(history)

    def recommend(viewer: str, past: list, limit: int, exclude: set) -> list[str]:
        seeds = _seeds(past, weights.get(viewer, {}))
        return interleave([near(t, limit + len(exclude)) for t in seeds], exclude, limit)
    return recommend


def popularity_method(history: pd.DataFrame) -> RecommendFn:
    totals = history.groupby("tconst")["weight"].sum()
    order = totals.sort_values(ascending=False, kind="stable").index.tolist()

    def recommend(_viewer: str, _past: list, limit: int, exclude: set) -> list[str]:
        out = []
        for t in order:
            if t not in exclude:
                out.append(t)
                if len(out) == limit:
                    break
        return out
    return recommend


def collaborative_method(arrays: Mapping[str, np.ndarray], history: pd.DataFrame) -> RecommendFn:
    """The collaborative model alone: sum over the history of weight x neighbour score (item-kNN)."""
    items = np.asarray(arrays["items"]).astype(str)
    neighbours = np.asarray(arrays["neighbours"])
    scores = np.asarray(arrays["neighbour_scores"], dtype=np.float64)
    weights = _weights(history)

    def recommend(viewer: str, past: list, limit: int, exclude: set) -> list[str]:
        w = weights.get(viewer, {})
        rows = np.searchsorted(items, past) if len(items) else np.zeros(0, dtype=int)
        ok = [(r, w.get(t, 1.0)) for r, t in zip(rows, past) if r < len(items) and items[r] == t]
        if not ok:
            return []
        r = np.array([x[0] for x in ok])
        nb = neighbours[r].ravel()
        sc = (scores[r] * np.array([x[1] for x in ok])[:, None]).ravel()
        valid = nb >= 0
        total = np.bincount(nb[valid], weights=sc[valid], minlength=len(items))
        order = np.argsort(-total, kind="stable")
        out = []
        for i in order:
            if total[i] <= 0:
                break
            if items[i] not in exclude:
                out.append(items[i])
                if len(out) == limit:
                    break
        return out
    return recommend


def hybrid_method(hybrid, near: Content, history: pd.DataFrame) -> RecommendFn:
    """The served hybrid: a viewer the model knows by id (their history from the model, as the API
    answers `{"viewer": id}`); otherwise their history passed as likes with its weights."""
    weights = _weights(history)

    def recommend(viewer: str, past: list, limit: int, exclude: set) -> list[str]:
        if hybrid.knows_viewer(viewer):
            picks = hybrid.recommend(viewer=viewer, limit=limit, content=near, exclude=exclude)
        else:
            w = weights.get(viewer, {})
            picks = hybrid.recommend(liked=past, weights=[w.get(t, 1.0) for t in past], limit=limit,
                                     content=near, exclude=exclude)
        return [p.tconst for p in picks]
    return recommend
