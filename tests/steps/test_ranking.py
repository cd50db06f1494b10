"""steps/ranking.py: the metrics against hand-computed values, and evaluate()'s protocol."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from steps import ranking


def test_hit_rate_ndcg_mrr_by_hand():
    ranked = ["a", "b", "c", "d"]
    relevant = {"c", "x"}
    assert ranking.hit_rate(ranked, relevant, 2) == 0.0
    assert ranking.hit_rate(ranked, relevant, 3) == 1.0
    # c at rank 3: DCG 1/log2(4) = 0.5; ideal for 2 relevant: 1 + 1/log2(3)
    assert ranking.ndcg(ranked, relevant, 4) == pytest.approx(0.5 / (1 + 1 / math.log2(3)))
    assert ranking.ndcg(ranked, {"a"}, 4) == 1.0
    assert ranking.ndcg(ranked, set(), 4) == 0.0
    assert ranking.reciprocal_rank(ranked, relevant, 4) == pytest.approx(1 / 3)
    assert ranking.reciprocal_rank(ranked, relevant, 2) == 0.0


def test_ndcg_ideal_is_capped_at_k():
    # 5 relevant films, k = 2, both top slots relevant: perfect
    assert ranking.ndcg(["a", "b", "z"], {"a", "b", "c", "d", "e"}, 2) == pytest.approx(1.0)


def test_coverage_and_popular_share():
    assert ranking.coverage([["a", "b"], ["b", "c"]], 10) == pytest.approx(0.3)
    assert ranking.popular_share([["a", "b"], ["a", "c"]], {"a"}) == pytest.approx(0.5)
    train = pd.DataFrame({"viewer_id": ["1", "2", "3", "1"], "tconst": ["a", "a", "a", "b"], "weight": 1.0})
    assert ranking.most_popular(train, 0.01) == {"a"}      # at least one film


def _frames():
    train = pd.DataFrame({"viewer_id": ["u1", "u1", "u2"], "tconst": ["a", "b", "a"], "weight": 1.0})
    test = pd.DataFrame({"viewer_id": ["u1", "u2", "u2"], "tconst": ["c", "d", "e"], "weight": 1.0})
    return train, test


def test_evaluate_per_viewer_and_exclusions():
    train, test = _frames()
    exclude = pd.DataFrame({"viewer_id": ["u2"], "tconst": ["z"]})
    seen = {}

    def recommend(viewer, history, limit, skip):
        seen[viewer] = (list(history), set(skip), limit)
        return {"u1": ["c", "x"], "u2": ["x", "e"]}[viewer]

    out = ranking.evaluate(recommend, train, test, k=2, exclude=exclude, catalogue=list("abcdexz"))
    assert seen["u1"] == (["a", "b"], {"a", "b"}, 2)
    assert seen["u2"] == (["a"], {"a", "z"}, 2)
    assert out["viewers"] == 2
    assert out["hr"] == pytest.approx(1.0)
    # u1: c first of 1 relevant -> 1; u2: e second of 2 relevant -> (1/log2 3) / (1 + 1/log2 3)
    u2 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert out["ndcg"] == pytest.approx((1 + u2) / 2)
    assert out["mrr"] == pytest.approx((1 + 0.5) / 2)
    assert out["coverage"] == pytest.approx(3 / 7)


def test_evaluate_truncates_long_lists_to_k():
    train, test = _frames()
    out = ranking.evaluate(lambda v, h, n, s: ["x", "y", "c", "d"], train, test, k=2)
    assert out["hr"] == 0.0


def test_similar_hr_uses_held_out_seeds_and_other_likes():
    train, test = _frames()
    calls = []

    def similar(tconst, limit):
        calls.append(tconst)
        return {"c": ["b"], "d": ["q"], "e": ["d"]}[tconst]

    out = ranking.evaluate_similar(similar, train, test, k=10)
    # u1: seed c -> b liked: 1; u2: d -> q: 0, e -> d: 1 => 0.5; mean over viewers 0.75
    assert out["hr"] == pytest.approx(0.75)
    assert out["pairs"] == 3
    assert sorted(calls) == ["c", "d", "e"]
    only = ranking.evaluate_similar(similar, train, test, k=10, seeds={"d"})
    assert only["hr"] == 0.0 and only["viewers"] == 1
