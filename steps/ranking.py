"""Ranking metrics on held-out viewers: HR@K, NDCG@K, MRR, catalogue coverage, popular share.

Pure functions over lists and DataFrames (no I/O). A method is measured through a callable, so the
same code measures the content model, popularity, the collaborative model and the served hybrid:

- `recommend_fn(viewer_id, history, limit, exclude) -> list[tconst]`: up to `limit` films for a
  viewer whose training history is `history` (tconsts, in the train frame's order), never one in
  `exclude` (the history plus any extra exclusions, e.g. films rated but not liked).
- `similar_fn(tconst, limit) -> list[tconst]`: the films shown as similar to one film.

Definitions (binary relevance; a viewer's relevant films are their held-out films in `test`):
- HR@K: 1 when any of the top K is relevant. NDCG@K: DCG of the top K (1 / log2(rank + 1) per
  relevant film) over the ideal DCG for min(K, #relevant) films. MRR: 1 / rank of the first relevant
  film within the top K (0 when none: MRR@K). Each averaged over viewers.
- coverage: distinct films recommended to anyone / films in the catalogue.
- popular share: share of all recommended slots that hold one of the `popular_fraction` (1%) most
  popular films of the training interactions (at least one film).
- similar-movies HR@K: for each held-out film of a viewer (a like the model never saw from them),
  whether its K similar films hold any other film that viewer liked (train or test); averaged
  per viewer, then over viewers.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

RecommendFn = Callable[[str, list, int, set], Sequence[str]]
SimilarFn = Callable[[str, int], Sequence[str]]
METRICS = ("hr", "ndcg", "mrr", "coverage", "popular_share")


def hit_rate(ranked: Sequence[str], relevant: set, k: int) -> float:
    return 1.0 if any(t in relevant for t in list(ranked)[:k]) else 0.0


def ndcg(ranked: Sequence[str], relevant: set, k: int) -> float:
    if not relevant:
        return 0.0
    dcg = sum(1.0 / math.log2(r + 2) for r, t in enumerate(list(ranked)[:k]) if t in relevant)
    ideal = sum(1.0 / math.log2(r + 2) for r in range(min(k, len(relevant))))
    return dcg / ideal


def reciprocal_rank(ranked: Sequence[str], relevant: set, k: int) -> float:
    for r, t in enumerate(list(ranked)[:k]):
        if t in relevant:
            return 1.0 / (r + 1)
    return 0.0


def coverage(recommended: Iterable[Sequence[str]], catalogue_size: int) -> float:
    distinct = {t for ranked in recommended for t in ranked}
    return len(distinct) / catalogue_size if catalogue_size else 0.0


def most_popular(train: pd.DataFrame, fraction: float = 0.01) -> set:
    """The `fraction` most popular films of the training interactions (by weight, at least one)."""
    if train.empty:
        return set()
    weight = train["weight"] if "weight" in train else pd.Series(1.0, index=train.index)
    pop = weight.groupby(train["tconst"]).sum().sort_values(ascending=False, kind="stable")
    return set(pop.index[:max(1, int(round(len(pop) * fraction)))])


def popular_share(recommended: Iterable[Sequence[str]], popular: set) -> float:
    slots = [t for ranked in recommended for t in ranked]
    return sum(t in popular for t in slots) / len(slots) if slots else 0.0


def _groups(frame: pd.DataFrame) -> dict[str, list]:
    if frame is None or frame.empty:
        return {}
    return {str(v): list(g) for v, g in frame.groupby("viewer_id", sort=True)["tconst"]}


def evaluate(recommend_fn: RecommendFn, train: pd.DataFrame, test: pd.DataFrame, k: int = 10,
             exclude: pd.DataFrame | None = None, catalogue: Iterable[str] | None = None,
             popular_fraction: float = 0.01, max_viewers: int | None = None,
             seed: int = 0) -> dict:
    """HR@k, NDCG@k, MRR@k, coverage and popular share of `recommend_fn` over the viewers in `test`.

    `train`/`test`: frames with viewer_id, tconst (and weight for popularity). `exclude`: extra
    (viewer_id, tconst) never to recommend (and not counted as relevant). `catalogue`: the films
    that may be recommended (default: every film in train and test), the denominator of coverage.
    `max_viewers`: a seeded sample of the held-out viewers (None: all).
    Returns {"hr", "ndcg", "mrr", "coverage", "popular_share", "viewers", "k"}.
    """
    history = _groups(train)
    held = _groups(test)
    extra = _groups(exclude) if exclude is not None else {}
    viewers = sorted(held)
    if max_viewers is not None and len(viewers) > max_viewers:
        rng = np.random.default_rng(seed)
        viewers = sorted(rng.choice(viewers, size=max_viewers, replace=False).tolist())
    cat = set(catalogue) if catalogue is not None else set(train["tconst"]) | set(test["tconst"])
    popular = most_popular(train, popular_fraction)
    hr = nd = rr = 0.0
    lists = []
    for v in viewers:
        past = history.get(v, [])
        skip = set(past) | set(extra.get(v, ()))
        relevant = set(held[v]) - skip
        ranked = list(recommend_fn(v, past, k, skip))[:k]
        lists.append(ranked)
        hr += hit_rate(ranked, relevant, k)
        nd += ndcg(ranked, relevant, k)
        rr += reciprocal_rank(ranked, relevant, k)
    n = len(viewers)
    return {"hr": hr / n if n else 0.0, "ndcg": nd / n if n else 0.0, "mrr": rr / n if n else 0.0,
            "coverage": coverage(lists, len(cat)), "popular_share": popular_share(lists, popular),
            "viewers": n, "k": k}


def evaluate_similar(similar_fn: SimilarFn, train: pd.DataFrame, test: pd.DataFrame, k: int = 10,
                     seeds: Iterable[str] | None = None, max_viewers: int | None = None,
                     seed: int = 0) -> dict:
    """Similar-movies HR@k: for each held-out film of a viewer (restricted to `seeds` when given,
    e.g. cold films), do its k similar films hold another film that viewer liked (train or test)?
    Averaged per viewer, then over viewers. Returns {"hr", "viewers", "pairs", "k"}."""
    history = _groups(train)
    held = _groups(test)
    allowed = set(seeds) if seeds is not None else None
    viewers = sorted(held)
    if max_viewers is not None and len(viewers) > max_viewers:
        rng = np.random.default_rng(seed)
        viewers = sorted(rng.choice(viewers, size=max_viewers, replace=False).tolist())
    cache: dict[str, list] = {}
    total, counted, pairs = 0.0, 0, 0
    for v in viewers:
        liked = set(history.get(v, [])) | set(held[v])
        hits = []
        for film in held[v]:
            if allowed is not None and film not in allowed:
                continue
            if film not in cache:
                cache[film] = list(similar_fn(film, k))[:k]
            hits.append(hit_rate(cache[film], liked - {film}, k))
        if hits:
            total += sum(hits) / len(hits)
            counted += 1
            pairs += len(hits)
    return {"hr": total / counted if counted else 0.0, "viewers": counted, "pairs": pairs, "k": k}
