"""The similar-movies index (api/chalicelib/index.py) against brute force on small data.

Brute force here is float64 over the same float32 embeddings, ranked by (distance, row): the
order the index promises. Three layouts are exercised: one-hot-like binary columns (factored
into pattern runs), continuous columns only, and binary columns whose patterns never repeat
(the index falls back to the plain layout).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "api"))

from chalicelib.index import MovieIndex  # noqa: E402


def make_embeddings(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "continuous":
        return rng.standard_normal((n, 6)).astype(np.float32)
    if kind == "genres":   # 3 continuous, 8 one-hot columns scaled to two values each, few patterns
        genre = np.zeros((n, 8), dtype=bool)
        genre[np.arange(n), rng.integers(0, 8, n)] = True
        genre[np.arange(n), rng.integers(0, 8, n)] = True
        scaled = (genre - genre.mean(axis=0)) / genre.std(axis=0)
        return np.hstack([rng.standard_normal((n, 3)), scaled]).astype(np.float32)
    if kind == "unique_patterns":   # 20 binary columns, patterns barely repeat: no runs to factor
        bits = rng.random((n, 20)) < 0.5
        return np.hstack([rng.standard_normal((n, 2)), bits * 2.0 - 1.0]).astype(np.float32)
    raise ValueError(kind)


def make_index(emb: np.ndarray, cluster: np.ndarray, votes: np.ndarray | None = None) -> MovieIndex:
    n = len(emb)
    votes = np.arange(n, 0, -1) * 10 if votes is None else votes
    frame = pd.DataFrame({"tconst": [f"tt{i:07d}" for i in range(n)], "title": [f"Movie {i}" for i in range(n)],
                          "year": 2000, "runtime": 100, "genres": "Drama", "rating": 7.0, "votes": votes,
                          "cluster": cluster, "distance": 0.0})
    return MovieIndex.build(frame, emb)


def clustered(emb: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Nearest of k random rows: clusters that are compact, as k-means' are."""
    centres = emb[rng.choice(len(emb), k, replace=False)].astype(np.float64)
    d2 = ((emb[:, None, :] - centres[None]) ** 2).sum(axis=2)
    return d2.argmin(axis=1)


def brute(index: MovieIndex, query: np.ndarray, limit: int, rows: np.ndarray | None = None,
          exclude=()) -> tuple[list[int], np.ndarray]:
    rows = np.arange(len(index)) if rows is None else rows
    rows = np.setdiff1d(rows, np.fromiter(exclude, dtype=np.int64, count=len(exclude)))
    diff = index.emb[rows].astype(np.float64) - np.asarray(query, dtype=np.float32).astype(np.float64)
    dist = np.sqrt((diff * diff).sum(axis=1))
    best = np.lexsort((rows, dist))[:limit]
    return [int(r) for r in rows[best]], dist[best]


def block_rows(index: MovieIndex, blocks) -> np.ndarray:
    return np.concatenate([np.arange(index.starts[b], index.starts[b + 1]) for b in blocks])


KINDS = ("genres", "continuous", "unique_patterns")


@pytest.mark.parametrize("kind", KINDS)
def test_search_is_exact_within_the_probed_clusters(kind):
    rng = np.random.default_rng(7)
    emb = make_embeddings(kind, 1500, rng)
    index = make_index(emb, clustered(emb, 9, rng))
    assert (index._binary.size > 0) == (kind == "genres")   # the layout under test
    for row in rng.integers(0, len(index), 40):
        row = int(row)
        for nprobe in (1, 2, 4):
            blocks = index.probe_blocks(index.emb[row], nprobe, int(index.cluster[row]))
            assert blocks[0] == index.block_of[int(index.cluster[row])] and len(set(blocks)) == nprobe
            want, dist = brute(index, index.emb[row], 10, block_rows(index, blocks), exclude={row})
            hits = index.similar(row, 10, nprobe)
            assert [h.row for h in hits] == want
            np.testing.assert_allclose([h.distance for h in hits], dist, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_all_clusters_probed_equals_exact_search_and_brute_force(kind):
    rng = np.random.default_rng(11)
    emb = make_embeddings(kind, 1200, rng)
    index = make_index(emb, clustered(emb, 6, rng))
    for _ in range(30):
        query = rng.standard_normal(emb.shape[1]).astype(np.float32) * 1.5
        want, _ = brute(index, query, 12)
        assert index.exact_search(query, 12) == want
        assert [h.row for h in index.search(query, 12, nprobe=6)] == want
        assert [h.row for h in index.search(query, 12, nprobe=64)] == want   # more than there are


def test_recall_at_nprobe_1_and_3_on_clustered_data():
    rng = np.random.default_rng(3)
    emb = make_embeddings("genres", 3000, rng)
    index = make_index(emb, clustered(emb, 12, rng))
    queries = rng.integers(0, len(index), 150)
    recall = {}
    for nprobe in (1, 3, 12):
        found = []
        for row in queries:
            truth = set(index.exact_search(index.emb[row], 10, exclude={int(row)}))
            found.append(len(truth & {h.row for h in index.similar(int(row), 10, nprobe)}) / 10)
        recall[nprobe] = float(np.mean(found))
    assert recall[1] <= recall[3] <= recall[12] == 1.0
    assert recall[1] >= 0.6 and recall[3] >= 0.9, recall


def test_ties_are_broken_by_row_most_voted_first():
    rng = np.random.default_rng(5)
    emb = make_embeddings("genres", 300, rng)
    twins = [20, 40, 60, 80, 100, 120]
    emb[twins] = emb[10]                      # six exact copies of movie 10
    cluster = np.zeros(300, dtype=int)
    votes = rng.permutation(np.arange(1, 301)) * 7
    index = make_index(emb, cluster, votes)
    query_row = index.row_of("tt0000010")
    hits = index.similar(query_row, 6, 1)
    copies = sorted(index.row_of(f"tt{t:07d}") for t in twins)
    assert [h.row for h in hits] == copies       # all six, in row order...
    assert [h.distance for h in hits] == [0.0] * 6
    shown = [int(index.votes[h.row]) for h in hits]
    assert shown == sorted(shown, reverse=True)  # ...which within a cluster is by votes
    # the same copies, asked for fewer: the first ones by row, every time
    assert [h.row for h in index.similar(query_row, 3, 1)] == copies[:3]
    assert index.exact_search(index.emb[query_row], 3, exclude={query_row}) == copies[:3]


def test_missing_cluster_ids_and_an_absent_first_cluster():
    rng = np.random.default_rng(9)
    emb = make_embeddings("genres", 900, rng)
    labels = clustered(emb, 4, rng)
    cluster = np.array([0, 3, 7, 12])[labels]       # the model's clusters 1, 2, 4.. hold no movie
    index = make_index(emb, cluster)
    assert list(index.cluster_ids) == [0, 3, 7, 12]
    query = emb[5]
    # an id with no movies (an empty cluster) is no first block: the nearest centroids are used
    assert index.probe_blocks(query, 1, first_cluster=5) == index.probe_blocks(query, 1)
    nearest = index.probe_blocks(query, 2)
    want, _ = brute(index, query, 10, block_rows(index, nearest))
    assert [h.row for h in index.search(query, 10, 2, first_cluster=5)] == want
    # centroids are the blocks' means
    for b in range(4):
        np.testing.assert_allclose(index.centroids[b], index.emb[index.starts[b]:index.starts[b + 1]].mean(axis=0),
                                   rtol=1e-5, atol=1e-6)


def test_limit_larger_than_the_cluster():
    rng = np.random.default_rng(13)
    emb = make_embeddings("genres", 400, rng)
    cluster = np.where(np.arange(400) < 7, 1, 0)     # cluster 1 holds 7 movies
    index = make_index(emb, cluster)
    row = index.row_of("tt0000003")
    hits = index.similar(row, 50, 1)
    assert len(hits) == 6 and all(index.cluster[h.row] == 1 for h in hits)
    want, _ = brute(index, index.emb[row], 50, block_rows(index, [index.block_of[1]]), exclude={row})
    assert [h.row for h in hits] == want
    # with the other cluster probed too there are enough
    assert len(index.similar(row, 50, 2)) == 50
    # excluding every other movie of the cluster leaves nothing
    block = set(block_rows(index, [index.block_of[1]]).tolist())
    assert index.search(index.emb[row], 5, 1, first_cluster=1, exclude=block) == []


def test_excluded_rows_never_come_back():
    rng = np.random.default_rng(17)
    emb = make_embeddings("genres", 1000, rng)
    index = make_index(emb, clustered(emb, 5, rng))
    liked = set(rng.choice(len(index), 40, replace=False).tolist())
    query = index.emb[sorted(liked)].mean(axis=0)
    for nprobe in (1, 3, 5):
        hits = index.search(query, 20, nprobe, exclude=liked | {-1, 10**9})   # out-of-range ids ignored
        blocks = index.probe_blocks(query, nprobe)
        want, _ = brute(index, query, 20, block_rows(index, blocks), exclude=liked)
        assert [h.row for h in hits] == want and not liked & {h.row for h in hits}


def test_rows_keep_their_own_embedding_and_the_index_is_deterministic():
    rng = np.random.default_rng(19)
    emb = make_embeddings("genres", 600, rng)
    cluster = clustered(emb, 5, rng)
    first, second = make_index(emb, cluster), make_index(emb.copy(), cluster.copy())
    for movie in (0, 17, 599):
        row = first.row_of(f"tt{movie:07d}")
        np.testing.assert_array_equal(first.emb[row], emb[movie])
        assert first.similar(row, 10, 2) == second.similar(row, 10, 2)


def test_empty_index_and_zero_limit():
    rng = np.random.default_rng(23)
    empty = make_index(np.zeros((0, 4), dtype=np.float32), np.zeros(0, dtype=int))
    assert len(empty) == 0 and empty.search(np.zeros(4), 10, 1) == [] and empty.exact_search(np.zeros(4), 5) == []
    index = make_index(make_embeddings("continuous", 50, rng), np.zeros(50, dtype=int))
    assert index.search(index.emb[0], 0, 1) == []


def titled_index(titles: list[str], votes: list[int]) -> MovieIndex:
    n = len(titles)
    frame = pd.DataFrame({"tconst": [f"tt{i:07d}" for i in range(n)], "title": titles,
                          "year": 2000, "runtime": 100, "genres": "Drama", "rating": 7.0,
                          "votes": votes, "cluster": 0, "distance": 0.0})
    return MovieIndex(frame, np.zeros((n, 2), dtype=np.float32))


def test_search_folds_accents_and_case_and_ranks_exact_then_prefix_first():
    from chalicelib.index import fold
    assert fold("  AMÉLIE ") == "amelie" and fold("Straße") == "strasse"
    assert fold("Amélie") == fold("Amelie")
    index = titled_index(["Amélie", "Les Amants", "The Amelie Story", "Amelie's Friends", "My AMÉLIE",
                          "Pamela"], votes=[10, 5000, 900, 800, 700, 600])
    for q in ("Amelie", "amélie", "AMELIE"):
        rows = index.sort_rows(index.filter_rows(q=q), "votes", q)
        # the exact title first though least voted, then the prefix, then a word, by votes within each
        assert [index.titles[r] for r in rows] == ["Amélie", "Amelie's Friends", "The Amelie Story",
                                                   "My AMÉLIE"]
    rows = index.sort_rows(index.filter_rows(q="ame"), "votes", "ame")
    assert [index.titles[r] for r in rows] == ["Amelie's Friends", "Amélie", "The Amelie Story",
                                               "My AMÉLIE", "Pamela"]
