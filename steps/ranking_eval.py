"""Ranking metrics on held-out viewers (pure: no I/O): who is evaluated, on what, and the figures.

The held-out viewers are those with `test` pairs in interactions.parquet; each is given their
`train` + `validation` pairs as history, and every method ranks `k` films among the catalogue
minus that history. Per method: HR@k (share of viewers with at least one test film in the top k),
NDCG@k (binary relevance, ideal = min(k, test films)), MRR (reciprocal rank of the first test film
within the top k, 0 beyond), catalogue coverage (share of films recommended to someone) and the
popular share (share of recommended slots among the 1 % most popular films of the training pairs).
A method is a function `history (item indices, weights) -> ranked item indices`; Evaluate builds
them from the content model, popularity, the collaborative model and steps/hybrid.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

Method = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
POPULAR_TOP_SHARE = 0.01


@dataclass(frozen=True)
class HeldOut:
    """The evaluation set: films (catalogue order), per viewer the history and the held-out films."""
    items: np.ndarray                 # tconst per item index (the catalogue's films)
    viewers: list[str]
    history: list[np.ndarray]         # item indices (train + validation)
    history_weights: list[np.ndarray]
    test: list[np.ndarray]            # item indices held out
    popularity: np.ndarray            # weighted training interactions per item (float64)


def held_out(pairs: pd.DataFrame, items: np.ndarray, max_viewers: int = 0, seed: int = 0) -> HeldOut:
    """The viewers with test pairs (a seeded sample of `max_viewers` when > 0) and their split."""
    index = {t: i for i, t in enumerate(items)}
    known = pairs[pairs["tconst"].isin(index)]
    item = known["tconst"].map(index).to_numpy(dtype=np.int64)
    weight = known["weight"].to_numpy(dtype=np.float64)
    split = known["split"].to_numpy(dtype=object)
    popularity = np.zeros(len(items))
    np.add.at(popularity, item[split == "train"], weight[split == "train"])
    viewers = sorted(known.loc[split == "test", "viewer_id"].unique())
    if max_viewers and len(viewers) > max_viewers:
        rng = np.random.default_rng(seed)
        viewers = sorted(rng.choice(np.array(viewers, dtype=object), size=max_viewers, replace=False))
    groups = pd.Series(np.arange(len(known))).groupby(known["viewer_id"].to_numpy()).indices
    history, history_weights, test = [], [], []
    for viewer in viewers:
        rows = groups[viewer]
        is_test = split[rows] == "test"
        history.append(item[rows][~is_test])
        history_weights.append(weight[rows][~is_test])
        test.append(item[rows][is_test])
    return HeldOut(np.asarray(items), list(viewers), history, history_weights, test, popularity)


def top_popular(popularity: np.ndarray, share: float = POPULAR_TOP_SHARE) -> np.ndarray:
    """Boolean mask of the `share` most popular items (at least one) by training weight."""
    n = max(1, int(np.ceil(share * len(popularity))))
    mask = np.zeros(len(popularity), dtype=bool)
    mask[np.argsort(-popularity, kind="stable")[:n]] = True
    return mask


def evaluate_method(method: Method, data: HeldOut, k: int) -> dict[str, float]:
    """HR@k, NDCG@k, MRR, coverage and popular share of one method over the held-out viewers."""
    n = len(data.viewers)
    if n == 0:
        return {"hr_at_k": 0.0, "ndcg_at_k": 0.0, "mrr": 0.0, "coverage": 0.0, "popular_share": 0.0,
                "viewers": 0}
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    popular = top_popular(data.popularity)
    hits = ndcg = mrr = 0.0
    shown = np.zeros(len(data.items), dtype=bool)
    slots = popular_slots = 0
    for history, weights, test in zip(data.history, data.history_weights, data.test):
        ranked = np.asarray(method(history, weights, k), dtype=np.int64)[:k]
        if len(history):
            ranked = ranked[~np.isin(ranked, history)]          # a method must not recommend the history
        relevant = np.isin(ranked, test)
        if relevant.any():
            hits += 1
            mrr += 1.0 / (int(np.argmax(relevant)) + 1)
            ndcg += float(discounts[:len(ranked)][relevant].sum() / discounts[:min(k, len(test))].sum())
        shown[ranked] = True
        slots += len(ranked)
        popular_slots += int(popular[ranked].sum())
    return {"hr_at_k": hits / n, "ndcg_at_k": ndcg / n, "mrr": mrr / n,
            "coverage": float(shown.mean()) if len(shown) else 0.0,
            "popular_share": popular_slots / slots if slots else 0.0, "viewers": n}


def popularity_method(popularity: np.ndarray) -> Method:
    """The same most-popular list for everyone, minus what they already have."""
    order = np.argsort(-popularity, kind="stable")

    def rank(history: np.ndarray, _weights: np.ndarray, k: int) -> np.ndarray:
        head = order[:k + len(history)]
        return head[~np.isin(head, history)][:k]
    return rank


def interleave(lists: list[np.ndarray], exclude: np.ndarray, k: int) -> np.ndarray:
    """Round-robin over per-film lists (each taste keeps its place: never one averaged point),
    first occurrences only, minus `exclude`, the first k."""
    out: list[int] = []
    seen = set(int(i) for i in exclude)
    depth = max((len(x) for x in lists), default=0)
    for rank in range(depth):
        for ranked in lists:
            if rank < len(ranked):
                item = int(ranked[rank])
                if item not in seen:
                    seen.add(item)
                    out.append(item)
                    if len(out) == k:
                        return np.asarray(out, dtype=np.int64)
    return np.asarray(out, dtype=np.int64)


def content_method(Xs: np.ndarray, labels: np.ndarray, max_seeds: int = 10) -> Method:
    """Today's content model: for each of the viewer's strongest (then latest) films, the films of
    its cluster nearest to it in the scaled feature space; the lists interleaved."""
    members = {int(c): np.flatnonzero(labels == c) for c in np.unique(labels)}

    def neighbours(item: int, n: int) -> np.ndarray:
        pool = members[int(labels[item])]
        d = ((Xs[pool] - Xs[item]) ** 2).sum(axis=1)
        n = min(n, len(pool))
        top = np.argpartition(d, n - 1)[:n] if n < len(pool) else np.arange(len(pool))
        return pool[top[np.lexsort((pool[top], d[top]))]]

    def rank(history: np.ndarray, weights: np.ndarray, k: int) -> np.ndarray:
        if not len(history):
            return np.empty(0, dtype=np.int64)
        order = np.lexsort((-np.arange(len(history)), -weights))[:max_seeds]   # strongest, then latest
        lists = [neighbours(int(history[i]), k + len(history) + 1) for i in order]
        return interleave(lists, history, k)
    return rank
