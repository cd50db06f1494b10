"""steps/hybrid.py, the served ranking: its copy in api/chalicelib, exclusions, several tastes kept,
reasons, the cold paths (content + popularity), a known viewer's history."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from steps import hybrid
from steps.hybrid import Hybrid

ROOT = Path(__file__).resolve().parents[2]


def test_api_copy_is_byte_identical():
    copy = (ROOT / "api" / "chalicelib" / "hybrid.py").read_bytes()
    assert copy == (ROOT / "steps" / "hybrid.py").read_bytes()


def test_module_imports_only_stdlib_and_numpy():
    import ast
    tree = ast.parse((ROOT / "steps" / "hybrid.py").read_text())
    roots = {(n.module if isinstance(n, ast.ImportFrom) else a.name).split(".")[0]
             for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
             for a in (n.names if isinstance(n, ast.Import) else [n])}
    assert roots <= {"__future__", "hashlib", "heapq", "io", "dataclasses", "typing", "numpy"}


def ids(n: int) -> np.ndarray:
    return np.array([f"tt{i:07d}" for i in range(n)])


def two_tastes(strong: float = 1.0, weak: float = 0.2) -> Hybrid:
    """Films 0-9 (taste A, strong scores) and 10-19 (taste B, weak scores) are each other's
    neighbours within their taste; film 20 has no interactions; viewer 'v1' saw films 0 and 10."""
    n, k = 21, 9
    items = ids(n)
    neighbours = np.full((n, k), -1, dtype=np.int32)
    scores = np.zeros((n, k), dtype=np.float32)
    for block, s in ((range(0, 10), strong), (range(10, 20), weak)):
        members = list(block)
        for i in members:
            others = [j for j in members if j != i]
            neighbours[i] = others
            scores[i] = [s * (1 - 0.01 * r) for r in range(k)]
    popularity = np.array([50 - i for i in range(20)] + [0], dtype=np.float32)
    return Hybrid(items, popularity, neighbours, scores, viewers=np.array(["v1", "v2"]),
                  viewer_indptr=np.array([0, 2, 3]), viewer_items=np.array([0, 10, 5], dtype=np.int32),
                  viewer_weights=np.ones(3, dtype=np.float32), taste_decay=0.5, content_pool=1,
                  content_popularity=0.0)


def test_several_likes_keep_several_tastes():
    model = two_tastes()
    picks = model.recommend(["tt0000000", "tt0000010"], limit=6)
    tastes = [int(p.tconst[2:]) // 10 for p in picks]
    assert tastes.count(1) >= 2, tastes           # the weak taste is not drowned by the strong one
    assert {p.because for p in picks} == {"tt0000000", "tt0000010"}
    # a pure vote (decay 1) would have given the strong taste every slot: the decay is what keeps B
    vote = Hybrid.from_arrays({n: getattr(model, n) for n in hybrid.ARRAYS}, taste_decay=1.0)
    assert all(int(p.tconst[2:]) < 10 for p in vote.recommend(["tt0000000", "tt0000010"], limit=6))


def test_excluded_and_seen_films_are_never_recommended():
    model = two_tastes()
    exclude = {f"tt{i:07d}" for i in range(1, 8)}
    for limit in (1, 5, 21, 100):
        picks = model.recommend(["tt0000000", "tt0000010"], limit=limit, exclude=exclude)
        got = [p.tconst for p in picks]
        assert len(got) == len(set(got))
        assert not set(got) & (exclude | {"tt0000000", "tt0000010"})
        assert len(got) == min(limit, 20 - 2 - len(exclude))   # film 20 has no interactions: never 'popular'
    assert "tt0000003" not in [p.tconst for p in model.similar("tt0000000", 20, exclude={"tt0000003"})]
    assert "tt0000000" not in [p.tconst for p in model.similar("tt0000000", 20)]


def test_reasons_are_present_and_worded():
    model = two_tastes()
    titles = {"tt0000000": "The Matrix", "tt0000020": "Toy Story"}.get
    picks = model.recommend(["tt0000000", "tt0000020"], limit=20,
                            content=lambda t, n: ["tt0000011", "tt0000012"][:n])
    kinds = {p.kind for p in picks}
    assert kinds == {"collaborative", "content", "popular"}
    for p in picks:
        reason = p.reason(titles)
        assert set(reason) == {"kind", "because", "text"}
        if p.kind == "collaborative":
            assert reason == {"kind": "collaborative", "because": "tt0000000",
                              "text": "Viewers who liked The Matrix also liked this"}
        elif p.kind == "content":
            assert reason == {"kind": "content", "because": "tt0000020",
                              "text": "Similar in genre and era to Toy Story"}
        else:
            assert reason == {"kind": "popular", "because": None, "text": "Popular with MyFlix viewers"}
    assert picks[0].reason()["text"] == "Viewers who liked tt0000000 also liked this"   # no title: the id


def test_cold_film_gets_content_then_popularity_prior():
    model = two_tastes()
    assert not model.is_warm("tt0000020") and model.is_warm("tt0000001")
    content = {"tt0000020": ["tt0000019", "tt0000003", "tt0000015"]}

    def neighbours(t, n):
        return content.get(t, [])[:n]
    plain = model.similar("tt0000020", 3, content=neighbours)
    assert [p.tconst for p in plain] == ["tt0000019", "tt0000003", "tt0000015"]
    assert all(p.kind == "content" and p.because == "tt0000020" for p in plain)
    # with a popularity prior on content candidates, the most popular content neighbour comes first
    prior = Hybrid.from_arrays({n: getattr(model, n) for n in hybrid.ARRAYS}, content_popularity=5.0)
    assert prior.similar("tt0000020", 3, content=neighbours)[0].tconst == "tt0000003"
    # a film nobody knows, no content: popular films, never itself
    fallback = model.similar("tt9999999", 3)
    assert [p.kind for p in fallback] == ["popular"] * 3
    assert [p.tconst for p in fallback] == ["tt0000000", "tt0000001", "tt0000002"]


def test_known_viewer_history_comes_from_the_model_and_is_excluded():
    model = two_tastes()
    assert model.knows_viewer("v1") and not model.knows_viewer("nobody")
    assert model.history("v1") == (["tt0000000", "tt0000010"], [1.0, 1.0])
    picks = model.recommend(viewer="v1", limit=8)
    got = {p.tconst for p in picks}
    assert not got & {"tt0000000", "tt0000010"}
    assert {p.because for p in picks} == {"tt0000000", "tt0000010"}
    # an unknown viewer gets the cold-start answer, not an error
    cold = model.recommend(viewer="nobody", limit=3)
    assert [p.kind for p in cold] == ["popular"] * 3


def test_many_likes_are_capped_to_max_seeds():
    model = Hybrid.from_arrays({n: getattr(two_tastes(), n) for n in hybrid.ARRAYS}, max_seeds=1)
    picks = model.recommend(["tt0000000", "tt0000010"], limit=3)
    assert {p.because for p in picks if p.kind != "popular"} == {"tt0000010"}   # the latest kept


def test_content_only_hybrid_without_a_model():
    served = Hybrid.from_arrays(None, popular=["tt0000005", "tt0000006"])
    assert served.kind == "none"
    picks = served.recommend(["tt0000001"], limit=3, content=lambda t, n: ["tt0000002"])
    assert [(p.tconst, p.kind) for p in picks] == [("tt0000002", "content"), ("tt0000005", "popular"),
                                                    ("tt0000006", "popular")]


def test_malformed_arrays_are_refused():
    model = two_tastes()
    with pytest.raises(hybrid.HybridError, match="sorted"):
        Hybrid(model.items[::-1], model.popularity, model.neighbours, model.neighbour_scores)
    bad = model.neighbours.copy()
    bad[0, 0] = 99
    with pytest.raises(hybrid.HybridError, match="outside"):
        Hybrid(model.items, model.popularity, bad, model.neighbour_scores)
    with pytest.raises(hybrid.HybridError, match="history"):
        Hybrid(model.items, model.popularity, model.neighbours, model.neighbour_scores,
               viewers=np.array(["a"]), viewer_indptr=np.array([0, 5]), viewer_items=np.zeros(1, np.int32),
               viewer_weights=np.zeros(1, np.float32))
    with pytest.raises(hybrid.HybridError, match="sha256"):
        Hybrid.from_npz_bytes(b"x", {"kind": "itemknn"})
