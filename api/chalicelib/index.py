"""The in-memory movie index: the published table as numpy arrays, grouped by cluster.

Rows are sorted by cluster so every cluster is one contiguous block of embeddings (float32, the
scaled feature space); a cluster's centroid is the mean of its block. Similar movies for a query
vector are searched in the query's own cluster plus the nearest other clusters (`nprobe` blocks
in all, an inverted-file search) and ranked by Euclidean distance. No I/O here: `MovieIndex.build`
takes the table as a DataFrame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SORTS = ("votes", "rating", "year", "title", "distance")


@dataclass
class Hit:
    row: int
    distance: float


class MovieIndex:
    """Arrays of the table, sorted by (cluster, -votes); `row_of` maps a tconst to its row."""

    def __init__(self, frame: pd.DataFrame, embeddings: np.ndarray, features: list[str] | None = None,
                 meta: dict | None = None):
        self.meta = dict(meta or {})
        n = len(frame)
        self.skipped: dict[str, int] = {}
        ok = np.ones(n, dtype=bool)
        ids = frame["tconst"].astype("string")
        bad_id = ids.isna().to_numpy() | (ids.fillna("").str.len() == 0).to_numpy()
        bad_emb = ~np.isfinite(embeddings).all(axis=1) if n else np.zeros(0, dtype=bool)
        cluster = pd.to_numeric(frame["cluster"], errors="coerce").to_numpy()
        bad_cluster = ~np.isfinite(cluster.astype(np.float64))
        dup = ids.duplicated(keep="first").to_numpy() & ~bad_id
        for reason, mask in (("missing tconst", bad_id), ("embedding missing, of the wrong length or not finite", bad_emb),
                             ("missing cluster", bad_cluster), ("duplicate tconst", dup)):
            count = int((mask & ok).sum())
            if count:
                self.skipped[reason] = count
            ok &= ~mask
        frame = frame.loc[ok]
        embeddings = embeddings[ok]
        cluster = cluster[ok].astype(np.int64)
        votes = pd.to_numeric(frame["votes"], errors="coerce").fillna(0).to_numpy(np.int64)
        order = np.lexsort((-votes, cluster))   # by cluster, most-voted first within a cluster
        take = frame.iloc[order]

        self.ids = take["tconst"].astype(str).to_numpy(dtype=object)
        self.titles = take["title"].fillna("").astype(str).to_numpy(dtype=object)
        self.titles_lower = take["title"].fillna("").astype(str).str.lower().to_numpy(dtype=str)
        self.year = pd.to_numeric(take["year"], errors="coerce").to_numpy(np.float64)
        self.runtime = pd.to_numeric(take["runtime"], errors="coerce").to_numpy(np.float64)
        self.genres_str = take["genres"].fillna("").astype(str).to_numpy(dtype=object)
        self.rating = pd.to_numeric(take["rating"], errors="coerce").to_numpy(np.float64)
        self.votes = votes[order]
        self.distance = pd.to_numeric(take["distance"], errors="coerce").to_numpy(np.float64)
        self.cluster = cluster[order]
        self.emb = np.ascontiguousarray(embeddings[order], dtype=np.float32)
        self.norms = np.einsum("ij,ij->i", self.emb, self.emb)
        self.features = list(features) if features else None
        self._sorted: dict[str, np.ndarray] = {}
        self._id_index = pd.Index(self.ids)   # hashed once, on the first lookup (cheaper than a dict)

        self.cluster_ids, starts = np.unique(self.cluster, return_index=True)
        self.starts = np.append(starts, len(self.cluster)).astype(np.int64)
        self.block_of = {int(c): b for b, c in enumerate(self.cluster_ids)}
        dim = self.emb.shape[1] if self.emb.ndim == 2 else 0
        self.centroids = np.zeros((len(self.cluster_ids), dim), dtype=np.float32)
        for b in range(len(self.cluster_ids)):
            self.centroids[b] = self.emb[self.starts[b]:self.starts[b + 1]].mean(axis=0)
        # genre membership as one boolean column per genre: filters without string matching.
        # Built per distinct genre string, then spread to rows (a few thousand strings, not 300k rows).
        codes, distinct = pd.factorize(pd.Series(self.genres_str), use_na_sentinel=False)
        self.genre_names = sorted({g for s in distinct for g in str(s).split(",") if g})
        lookup = {g: j for j, g in enumerate(self.genre_names)}
        member = np.zeros((len(distinct), len(self.genre_names)), dtype=bool)
        for i, s in enumerate(distinct):
            for g in str(s).split(","):
                if g:
                    member[i, lookup[g]] = True
        self.genre_matrix = member[codes]

    @classmethod
    def build(cls, frame: pd.DataFrame, embeddings: np.ndarray, features: list[str] | None = None,
              meta: dict | None = None) -> "MovieIndex":
        return cls(frame, embeddings, features, meta)

    def __len__(self) -> int:
        return len(self.ids)

    def row_of(self, tconst) -> int | None:
        """The row of a movie id, or None when the table has no such movie."""
        if not isinstance(tconst, str):
            return None
        try:
            row = self._id_index.get_loc(tconst)
        except KeyError:
            return None
        return int(row) if isinstance(row, (int, np.integer)) else None

    # --- rows as JSON ---------------------------------------------------------------------------
    def movie(self, row: int) -> dict:
        def num(value, kind):
            return kind(value) if np.isfinite(value) else None
        return {
            "id": self.ids[row],
            "title": self.titles[row],
            "year": num(self.year[row], int),
            "runtime": num(self.runtime[row], int),
            "genres": [g for g in self.genres_str[row].split(",") if g],
            "rating": num(self.rating[row], float),
            "votes": int(self.votes[row]),
            "cluster": int(self.cluster[row]),
            "distance": num(self.distance[row], float),
        }

    # --- nearest neighbours ---------------------------------------------------------------------
    def probe_blocks(self, query: np.ndarray, nprobe: int, first_cluster: int | None = None) -> list[int]:
        """The blocks to search: `first_cluster`'s (when given) then the nearest centroids to `query`."""
        nprobe = max(1, min(int(nprobe), len(self.cluster_ids)))
        d2 = ((self.centroids - query) ** 2).sum(axis=1)
        blocks: list[int] = []
        if first_cluster is not None and first_cluster in self.block_of:
            blocks.append(self.block_of[first_cluster])
        if len(blocks) < nprobe:
            nearest = np.argsort(d2)
            for b in nearest:
                if int(b) not in blocks:
                    blocks.append(int(b))
                if len(blocks) >= nprobe:
                    break
        return blocks

    def search(self, query: np.ndarray, limit: int, nprobe: int, first_cluster: int | None = None,
               exclude: set[int] | frozenset = frozenset()) -> list[Hit]:
        """The `limit` rows nearest to `query` among the probed clusters, nearest first."""
        query = np.asarray(query, dtype=np.float32)
        blocks = self.probe_blocks(query, nprobe, first_cluster)
        spans = [(int(self.starts[b]), int(self.starts[b + 1])) for b in blocks]
        # ||x - q||^2 = ||x||^2 - 2 x.q + ||q||^2; the last term is the same for all, added at the end
        parts = [self.norms[a:z] - 2.0 * (self.emb[a:z] @ query) for a, z in spans]
        d2 = parts[0] if len(parts) == 1 else np.concatenate(parts)
        ends = np.cumsum([z - a for a, z in spans])
        want = min(limit + len(exclude), len(d2))
        top = np.argpartition(d2, want - 1)[:want] if want < len(d2) else np.arange(len(d2))
        top = top[np.argsort(d2[top], kind="stable")]
        qn = float(query @ query)
        hits = []
        for t in top:
            span = int(np.searchsorted(ends, t, side="right"))
            row = spans[span][0] + int(t) - (int(ends[span - 1]) if span else 0)
            if row in exclude:
                continue
            hits.append(Hit(row, float(np.sqrt(max(float(d2[t]) + qn, 0.0)))))
            if len(hits) >= limit:
                break
        return hits

    def exact_search(self, query: np.ndarray, limit: int, exclude: set[int] | frozenset = frozenset()) -> list[int]:
        """Brute force over every movie (the baseline for recall and the benchmark)."""
        query = np.asarray(query, dtype=np.float32)
        d2 = self.norms - 2.0 * (self.emb @ query)
        want = min(limit + len(exclude), len(d2) - 1)
        top = np.argpartition(d2, want)[:want + 1]
        top = top[np.argsort(d2[top], kind="stable")]
        return [int(r) for r in top if int(r) not in exclude][:limit]

    def similar(self, row: int, limit: int, nprobe: int) -> list[Hit]:
        return self.search(self.emb[row], limit, nprobe, first_cluster=int(self.cluster[row]), exclude={row})

    # --- browsing -------------------------------------------------------------------------------
    def filter_rows(self, q: str | None = None, genre: str | None = None, year_min: int | None = None,
                    year_max: int | None = None, cluster: int | None = None) -> np.ndarray:
        mask = np.ones(len(self.ids), dtype=bool)
        if cluster is not None:
            b = self.block_of[cluster]
            mask[:] = False
            mask[self.starts[b]:self.starts[b + 1]] = True
        if genre is not None:
            mask &= self.genre_matrix[:, self.genre_names.index(genre)]
        if year_min is not None:
            mask &= self.year >= year_min
        if year_max is not None:
            mask &= self.year <= year_max
        if q:
            mask &= np.char.find(self.titles_lower, q.lower()) >= 0
        return np.flatnonzero(mask)

    def sort_rows(self, rows: np.ndarray, sort: str, q: str | None = None) -> np.ndarray:
        if q is None and len(rows) == len(self.ids):
            # the whole table (the page's "popular" and "top rated" rows): sorted once, then reused
            cached = self._sorted.get(sort)
            if cached is None:
                cached = self._sorted[sort] = self._sort(rows, sort, None)
            return cached
        return self._sort(rows, sort, q)

    def _sort(self, rows: np.ndarray, sort: str, q: str | None) -> np.ndarray:
        if sort == "rating":    # ties broken by votes: a 9.0 of 10 votes is not a top movie
            keys = (-self.votes[rows], -np.nan_to_num(self.rating[rows], nan=-1))
        elif sort == "year":
            keys = (-self.votes[rows], -np.nan_to_num(self.year[rows], nan=-1))
        elif sort == "title":
            keys = (self.titles_lower[rows],)
        elif sort == "distance":
            keys = (np.nan_to_num(self.distance[rows], nan=np.inf),)
        else:
            keys = (-self.votes[rows],)
        if q:  # titles that start with the query come first
            keys = keys + (~np.char.startswith(self.titles_lower[rows], q.lower()),)
        return rows[np.lexsort(keys)]

    def cluster_summary(self, block: int, samples: int = 5) -> dict:
        a, z = int(self.starts[block]), int(self.starts[block + 1])
        shares = self.genre_matrix[a:z].mean(axis=0) if z > a else np.zeros(len(self.genre_names))
        top = np.argsort(-shares)[:3]
        return {
            "cluster": int(self.cluster_ids[block]),
            "size": z - a,
            "top_genres": [{"genre": self.genre_names[j], "share": round(float(shares[j]), 3)}
                           for j in top if shares[j] > 0],
            "mean_year": _mean(self.year[a:z]),
            "mean_rating": _mean(self.rating[a:z]),
            "examples": [self.movie(r) for r in range(a, min(z, a + samples))],   # block is sorted by votes
        }


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 2) if len(finite) else None
