# steps/hybrid.py is the original; api/chalicelib/hybrid.py is its byte copy (the Lambda cannot import
# steps/): edit steps/hybrid.py, then `cp steps/hybrid.py api/chalicelib/hybrid.py` (a test checks).
"""The served ranking: collaborative neighbours where a film has interactions, content neighbours plus
a popularity prior where it has none, several tastes kept, every item with its reason.

The ONE implementation of what MyFlix serves (docs/CONTRACTS.md, "Release and serving"): Evaluate
measures "the served hybrid" through this module and the API serves with `api/chalicelib/hybrid.py`,
a byte copy (the Lambda cannot import steps/; tests/test_hybrid.py checks the two are identical).
So this module is stdlib + numpy only, imports nothing of the project, and does no I/O: it takes the
recommender artefact's arrays (or its bytes and recorded digest) and callables for what it does not
own (a film's content neighbours, a film's title).

Cost per request is O(K * seeds) (K neighbours a film, seeds = likes kept, at most `max_seeds`) plus
a binary search per id in the sorted `items`/`viewers` arrays: no product over all items, no dict of
300k films built per process beyond what numpy holds.

How a list is made (`recommend`):
1. Seeds: the viewer's history from the model (when the model knows the viewer) plus the films liked
   in the request, each with a weight; everything seen or passed in `exclude` is never recommended.
2. Each seed brings its own list: its collaborative neighbours when it is warm (at least
   `min_interactions` weighted interactions and a neighbour list), else its content neighbours
   (`content(tconst, n * content_pool)`), ranked scores scaled to [0, 1].
3. A candidate's score is the sum of what each seed gives it (an item-kNN vote; a content list's
   r-th of n gives content_weight * (n - r) / n) plus a popularity prior, `popularity_weight` (for a
   collaborative candidate) or `content_popularity` (for a content one) x its normalised log
   popularity; its reason is the seed that gave it most.
4. Several tastes: each like brings its own list (never one averaged point), and the list is taken
   greedily, a candidate's score multiplied by `taste_decay` ** (how many items its seed already
   placed): `taste_decay = 1` is the plain vote of the per-like lists, near 0 a round-robin
   interleave of them. Defaults are the values measured best on real viewers' validation splits
   (benchmarks/bench_recommend.py, recorded in recommender.json's "hybrid"): the vote (1.0) beat
   0.8 / 0.5 / 0.2 / the interleave on all three splits (test NDCG@10 0.364 vs interleave 0.342).
5. Popular films (kind "popular") fill what is left.
"""
from __future__ import annotations

import hashlib
import heapq
import io
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np

KINDS = ("collaborative", "content", "popular")
ARRAYS = ("items", "popularity", "neighbours", "neighbour_scores", "viewers", "viewer_indptr",
          "viewer_items", "viewer_weights")
NPZ_NAME = "recommender.npz"

Content = Callable[[str, int], Sequence[str]]   # (tconst, n) -> up to n content neighbours, best first
Title = Callable[[str], "str | None"]            # tconst -> its title (None: unknown)

TEXTS = {
    "collaborative": "Viewers who liked {title} also liked this",
    "content": "Similar in genre and era to {title}",
    "popular": "Popular with MyFlix viewers",
}


class HybridError(ValueError):
    """The recommender arrays are malformed or do not match their recorded digest."""


@dataclass(frozen=True)
class Pick:
    """One recommended film: its id, its score in this list, why it is there."""
    tconst: str
    score: float
    kind: str               # one of KINDS
    because: str | None     # the seed film (collaborative, content) or None (popular)

    def reason(self, title: Title | None = None) -> dict:
        """The API's `reason` object: {"kind", "because", "text"}."""
        name = self.because
        if self.because is not None and title is not None:
            name = title(self.because) or self.because
        return {"kind": self.kind, "because": self.because,
                "text": TEXTS[self.kind].format(title=name)}


def verify_npz(data: bytes, meta: Mapping) -> None:
    """Refuse artefact bytes that do not hash to the digest recorded in recommender.json."""
    expected = (meta.get("sha256") or {}).get(NPZ_NAME) if isinstance(meta, Mapping) else None
    if not expected:
        raise HybridError(f"recommender.json records no sha256 for {NPZ_NAME}: the artefact is "
                          "incomplete; retrain it with this project's TrainRecommender")
    if hashlib.sha256(data).hexdigest() != expected:
        raise HybridError(f"{NPZ_NAME} does not match the digest recorded when it was written: it was "
                          "changed or corrupted; retrain or restore it")


class Hybrid:
    """The served ranking over one recommender artefact (see the module docstring).

    An artefact of kind "none" (or no arrays at all) gives a content + popularity hybrid: pass
    `popular` (e.g. the catalogue's most-voted ids) so cold answers still have a popularity prior.
    """

    def __init__(self, items: np.ndarray, popularity: np.ndarray, neighbours: np.ndarray,
                 neighbour_scores: np.ndarray, viewers: np.ndarray | None = None,
                 viewer_indptr: np.ndarray | None = None, viewer_items: np.ndarray | None = None,
                 viewer_weights: np.ndarray | None = None, *, popular: Sequence[str] = (),
                 min_interactions: float = 1.0, popularity_weight: float = 0.0,
                 taste_decay: float = 1.0, content_weight: float = 0.5, max_seeds: int = 200,
                 content_pool: int = 10, content_popularity: float = 2.0,
                 kind: str = "collaborative") -> None:
        self.items = np.asarray(items).astype(str, copy=False)
        n = len(self.items)
        self.popularity = np.asarray(popularity, dtype=np.float32).reshape(n)
        self.neighbours = np.asarray(neighbours, dtype=np.int32).reshape(n, -1) if n else \
            np.zeros((0, 0), dtype=np.int32)
        self.neighbour_scores = np.asarray(neighbour_scores, dtype=np.float32).reshape(self.neighbours.shape)
        if n > 1 and not bool(np.all(self.items[1:] > self.items[:-1])):
            raise HybridError("recommender items must be sorted and unique")
        if self.neighbours.size and (self.neighbours.max() >= n or self.neighbours.min() < -1):
            raise HybridError("recommender neighbours hold indices outside the items")
        self.viewers = np.asarray(viewers if viewers is not None else [], dtype=str)
        self.viewer_indptr = np.asarray(viewer_indptr if viewer_indptr is not None else [0], dtype=np.int64)
        self.viewer_items = np.asarray(viewer_items if viewer_items is not None else [], dtype=np.int32)
        self.viewer_weights = np.asarray(viewer_weights if viewer_weights is not None else [],
                                         dtype=np.float32)
        if len(self.viewer_indptr) != len(self.viewers) + 1 or \
                len(self.viewer_items) != len(self.viewer_weights) or \
                int(self.viewer_indptr[-1]) != len(self.viewer_items):
            raise HybridError("recommender viewer history arrays disagree in length")
        self.kind = kind
        self.min_interactions = float(min_interactions)
        self.popularity_weight = float(popularity_weight)
        self.taste_decay = float(taste_decay)
        self.content_weight = float(content_weight)
        self.max_seeds = int(max_seeds)
        self.content_pool = max(1, int(content_pool))
        self.content_popularity = float(content_popularity)
        # scores scaled once to [0, 1] so every method's neighbour scores mix with content ranks
        top = float(np.max(self.neighbour_scores, initial=0.0)) if self.neighbour_scores.size else 0.0
        self._scale = 1.0 / top if top > 0 else 1.0
        logpop = np.log1p(np.maximum(self.popularity, 0))
        self._prior = (logpop / logpop.max()).astype(np.float32) if n and logpop.max() > 0 else \
            np.zeros(n, dtype=np.float32)
        order = np.argsort(-self.popularity, kind="stable")[:1000]
        model_popular = self.items[order[self.popularity[order] > 0]].tolist()
        self.popular = list(dict.fromkeys([*model_popular, *popular]))

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray] | None, **params) -> "Hybrid":
        """From the artefact's arrays (an `np.load` result or a dict); None: content + popularity only."""
        if arrays is None or "items" not in arrays:
            empty = np.zeros(0)
            return cls(np.zeros(0, dtype=str), empty, np.zeros((0, 0), dtype=np.int32), empty,
                       kind="none", **params)
        return cls(*(arrays[name] if name in arrays else None for name in ARRAYS), **params)

    @classmethod
    def from_npz_bytes(cls, data: bytes, meta: Mapping, **params) -> "Hybrid":
        """From recommender.npz's bytes and recommender.json's object, digest checked first."""
        if meta.get("kind") == "none":
            return cls.from_arrays(None, **params)
        verify_npz(data, meta)
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        return cls.from_arrays(arrays, kind=str(meta.get("kind", "collaborative")), **params)

    # --- lookups ------------------------------------------------------------------------------
    def row(self, tconst: str) -> int:
        """The item row of a film, or -1 when the model has never seen it."""
        return _find(self.items, tconst)

    def _rows_of(self, tconsts: Iterable[str]) -> np.ndarray:
        return _find_many(self.items, tconsts)

    def is_warm(self, tconst: str) -> bool:
        """Whether the film has enough interactions for its collaborative neighbours to be served."""
        row = self.row(tconst)
        return row >= 0 and self.popularity[row] >= self.min_interactions and \
            self.neighbours.shape[1] > 0 and self.neighbours[row, 0] >= 0

    def knows_viewer(self, viewer: str) -> bool:
        return _find(self.viewers, viewer) >= 0

    def history(self, viewer: str) -> tuple[list[str], list[float]]:
        """The films a known viewer interacted with and their weights ([] for an unknown viewer)."""
        v = _find(self.viewers, viewer)
        if v < 0:
            return [], []
        a, z = int(self.viewer_indptr[v]), int(self.viewer_indptr[v + 1])
        return self.items[self.viewer_items[a:z]].tolist(), self.viewer_weights[a:z].tolist()

    # --- answers ------------------------------------------------------------------------------
    def similar(self, tconst: str, limit: int = 10, content: Content | None = None,
                exclude: Iterable[str] = ()) -> list[Pick]:
        """Films like `tconst`: its collaborative neighbours when warm, else its content neighbours
        (then popular films), never the film itself nor anything in `exclude`."""
        return self.recommend([tconst], limit=limit, content=content, exclude=exclude)

    def recommend(self, liked: Sequence[str] = (), viewer: str | None = None, limit: int = 10,
                  content: Content | None = None, exclude: Iterable[str] = (),
                  weights: Sequence[float] | None = None) -> list[Pick]:
        """Up to `limit` films for a viewer (their history from the model, when known) and/or a list
        of liked films (`weights` per like, default 1), never one they have seen or in `exclude`."""
        limit = max(0, int(limit))
        seeds: list[str] = []
        seed_w: list[float] = []
        if viewer is not None:
            seeds, seed_w = self.history(viewer)
        liked = [str(t) for t in liked]
        seeds += liked
        seed_w += [float(w) for w in weights] if weights is not None else [1.0] * len(liked)
        seen = set(seeds) | {str(t) for t in exclude}
        if len(seeds) > self.max_seeds:   # keep the heaviest, the latest first among equals
            keep = sorted(range(len(seeds)), key=lambda i: (-seed_w[i], -i))[:self.max_seeds]
            keep.sort()
            seeds, seed_w = [seeds[i] for i in keep], [seed_w[i] for i in keep]
        if limit == 0:
            return []
        per_seed = self._per_seed_lists(seeds, seed_w, limit, content, seen)
        picks = self._take(per_seed, seeds, limit)
        if len(picks) < limit:
            have = seen | {p.tconst for p in picks}
            for t in self.popular:
                if len(picks) >= limit:
                    break
                if t not in have:
                    have.add(t)
                    picks.append(Pick(t, 0.0, "popular", None))
        return picks

    # --- the ranking --------------------------------------------------------------------------
    def _per_seed_lists(self, seeds: list[str], seed_w: list[float], limit: int,
                        content: Content | None, seen: set[str]) -> dict[str, tuple[float, int, str]]:
        """candidate -> (summed score, seed index that gave most, kind)."""
        found: dict[str, list] = {}
        rows = np.array([self.row(t) for t in seeds], dtype=np.int64)
        warm = np.zeros(len(seeds), dtype=bool)
        if len(rows) and self.neighbours.shape[1]:
            ok = rows >= 0
            warm[ok] = (self.popularity[rows[ok]] >= self.min_interactions) & \
                (self.neighbours[rows[ok], 0] >= 0)
        if warm.any():
            s_idx = np.flatnonzero(warm)
            nb = self.neighbours[rows[s_idx]]                       # (seeds, K)
            sc = self.neighbour_scores[rows[s_idx]] * self._scale
            sc = sc * np.asarray(seed_w, dtype=np.float32)[s_idx, None]
            who = np.repeat(s_idx, nb.shape[1])
            nb, sc = nb.ravel(), sc.ravel()
            valid = nb >= 0
            nb, sc, who = nb[valid], sc[valid], who[valid]
            cand, inverse = np.unique(nb, return_inverse=True)
            total = np.bincount(inverse, weights=sc, minlength=len(cand))
            # the seed giving each candidate most: sort by (candidate, -score), first of each run
            order = np.lexsort((-sc, inverse))
            first = np.ones(len(order), dtype=bool)
            first[1:] = inverse[order][1:] != inverse[order][:-1]
            best_seed = who[order][first]
            # a summed score <= 0 (EASE lists end with negative weights) is a "no", never served
            keep = ~np.isin(cand, self._rows_of(seen)) & (total > 0)
            if self.popularity_weight:
                total = total + self.popularity_weight * self._prior[cand]
            cand, total, best_seed = cand[keep], total[keep], best_seed[keep]
            # a seed's queue is taken in order and at most `limit` items are placed: its first
            # `limit` candidates are all that can be picked (exact, and the Python loop stays short)
            order = np.lexsort((cand, -total, best_seed))
            group = best_seed[order]
            starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
            rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
            order = order[rank < limit]
            names = self.items[cand[order]]
            for t, s, b in zip(names.tolist(), total[order].tolist(), best_seed[order].tolist()):
                found[t] = [s, b, "collaborative"]
        if content is not None:
            want = limit * self.content_pool
            for i in np.flatnonzero(~warm).tolist():
                ids = [str(t) for t in content(seeds[i], want)][:want]
                n = len(ids)
                for r, t in enumerate(ids):
                    if t in seen:
                        continue
                    s = self.content_weight * seed_w[i] * (n - r) / n
                    if self.content_popularity:
                        row = self.row(t)
                        s += self.content_popularity * (float(self._prior[row]) if row >= 0 else 0.0)
                    entry = found.get(t)
                    if entry is None:
                        found[t] = [s, i, "content"]
                    else:
                        entry[0] += s
        return found

    def _take(self, found: dict[str, list], seeds: list[str], limit: int) -> list[Pick]:
        """Greedy taste-keeping selection: a seed's next candidate counts taste_decay ** placed."""
        if not found:
            return []
        queues: dict[int, list[tuple[float, str]]] = {}
        for t, (s, b, _kind) in found.items():
            queues.setdefault(b, []).append((-s, t))
        heads = []
        for b, queue in queues.items():
            queue.sort()
            heads.append((queue[0][0], queue[0][1], b, 0))
        heapq.heapify(heads)
        placed = dict.fromkeys(queues, 0)
        picks: list[Pick] = []
        decay = self.taste_decay
        while heads and len(picks) < limit:
            _eff, t, b, pos = heapq.heappop(heads)
            s, _, kind = found[t]
            picks.append(Pick(t, float(s), kind, seeds[b]))
            placed[b] += 1
            if pos + 1 < len(queues[b]):
                neg, nxt = queues[b][pos + 1]
                heapq.heappush(heads, (neg * decay ** placed[b], nxt, b, pos + 1))
        return picks


def _find_many(sorted_ids: np.ndarray, keys: Iterable[str]) -> np.ndarray:
    """Indices of the keys present in a sorted string array (absent keys are left out)."""
    keys = np.asarray([k for k in keys if isinstance(k, str)], dtype=str)
    if not len(keys) or not len(sorted_ids):
        return np.zeros(0, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, keys), len(sorted_ids) - 1)
    return pos[sorted_ids[pos] == keys]


def _find(sorted_ids: np.ndarray, key) -> int:
    """Index of `key` in a sorted string array, or -1 (a binary search: no dict per process)."""
    if not isinstance(key, str) or not len(sorted_ids):
        return -1
    i = int(np.searchsorted(sorted_ids, key))
    return i if i < len(sorted_ids) and sorted_ids[i] == key else -1
