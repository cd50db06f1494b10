"""The in-memory movie index: the published table as numpy arrays, grouped by cluster.

Rows are sorted by cluster so every cluster is one contiguous block; a cluster's centroid is the
mean of its block. Similar movies for a query vector are searched in the query's own cluster
plus the nearest other clusters (`nprobe` blocks in all, an inverted-file search) and ranked by
Euclidean distance, ties by row (the most-voted first). Title search folds case and accents
and ranks the exact title, then titles starting with the query, first. No I/O here:
`MovieIndex.build` takes the table as a DataFrame.

How a search stays cheap (bench_api compares it with faiss's IndexIVFFlat in the same run):
- The embeddings are stored column-major as `[x; ||x||^2 / 2]`, (d + 1) x n float32, so a block is
  a column range and its scores `||x||^2/2 - x.q` (the order of ||x - q||^2) are ONE matrix-vector
  product with `[-q, 1]`: no norm pass, and the column-major product runs about twice as fast as
  a row-major one on these short rows.
- The `limit`-th score is bounded from above by the `limit`-th of a strided sample of the block,
  so one comparison pass, not a selection over the whole block, yields the few candidates; they
  are re-ranked by their exact float64 distance (then row), which is what is returned. Every row
  whose float32 score lies within the score's rounding bound of that bound is a candidate, so the
  float32 scores never decide an order or a tie by themselves.
- No Python loop over rows, hits or clusters: one product per probed block.
"""
from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
import pandas as pd

SORTS = ("votes", "rating", "year", "title", "distance")
GENRE_NAME = re.compile(r"[A-Z][A-Za-z]{1,20}(?:-[A-Z][A-Za-z]{0,20})?")   # Action, Sci-Fi, Film-Noir, ...


@dataclass
class Hit:
    row: int
    distance: float


class MovieIndex:
    """Arrays of the table, sorted by (cluster, -votes); `row_of` maps a tconst to its row."""

    def __init__(self, frame: pd.DataFrame, embeddings: np.ndarray, features: list[str] | None = None,
                 meta: dict | None = None):
        self.meta = dict(meta or {})
        self.recommender = None       # the service sets the table's collaborative model (tables.read_recommender)
        n = len(frame)
        self.skipped: dict[str, int] = {}
        ok = np.ones(n, dtype=bool)
        ids = frame["tconst"].astype("string")
        bad_id = ids.isna().to_numpy() | (ids.fillna("").str.len() == 0).to_numpy()
        bad_emb = ~np.isfinite(embeddings).all(axis=1) if n else np.zeros(0, dtype=bool)
        cluster = pd.to_numeric(frame["cluster"], errors="coerce").to_numpy()
        bad_cluster = ~np.isfinite(cluster.astype(np.float64))
        dup = ids.duplicated(keep="first").to_numpy() & ~bad_id
        for reason, mask in (("missing tconst", bad_id),
                             ("embedding missing, of the wrong length or not finite", bad_emb),
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
        # titles folded as a query is (case and accents): "amelie" finds "Amélie"; variable-width
        # strings: a fixed-width ('U') array costs n x the longest title x 4 bytes
        self.titles_lower = np.array([fold(t) for t in self.titles], dtype=np.dtypes.StringDType())
        self.year = pd.to_numeric(take["year"], errors="coerce").to_numpy(np.float64)
        self.runtime = pd.to_numeric(take["runtime"], errors="coerce").to_numpy(np.float64)
        self.genres_str = take["genres"].fillna("").astype(str).to_numpy(dtype=object)
        self.rating = pd.to_numeric(take["rating"], errors="coerce").to_numpy(np.float64)
        self.votes = votes[order]
        self.distance = pd.to_numeric(take["distance"], errors="coerce").to_numpy(np.float64)
        self.cluster = cluster[order]
        self.features = list(features) if features else None
        self._sorted: dict[str, np.ndarray] = {}
        self._id_index = pd.Index(self.ids)   # hashed once, on the first lookup (cheaper than a dict)

        self.cluster_ids, starts = np.unique(self.cluster, return_index=True)
        self.starts = np.append(starts, len(self.cluster)).astype(np.int64)
        self.block_of = {int(c): b for b, c in enumerate(self.cluster_ids)}
        self._build_vectors(np.asarray(embeddings)[order])
        # genre membership as one boolean column per genre: filters without string matching.
        # Built per distinct genre string, then spread to rows (a few thousand strings, not 300k rows).
        codes, distinct = pd.factorize(pd.Series(self.genres_str), use_na_sentinel=False)
        # only genre-like names (IMDb's: letters and '-') become filters, /health's list and the
        # OpenAPI enum; anything else (`<img src=x ...>`) is dropped from the row's genres, counted
        clean = [",".join(g for g in str(s).split(",") if GENRE_NAME.fullmatch(g)) for s in distinct]
        odd = np.array([c != str(s) for c, s in zip(clean, distinct)], dtype=bool)
        if odd.any():
            self.skipped["genre names that are not IMDb's (dropped from the row)"] = int(odd[codes].sum())
            self.genres_str = np.asarray(clean, dtype=object)[codes]
            distinct = clean
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
    def _build_vectors(self, emb: np.ndarray) -> None:
        """The search layout (module docstring): continuous columns and half norms column-major,
        binary patterns once per run, centroids, and each block's largest norm."""
        n = len(self.cluster)
        dim = emb.shape[1] if emb.ndim == 2 and n else 0
        self.emb = np.ascontiguousarray(emb, dtype=np.float32).reshape(n, dim)   # (n, d): the rows' embeddings
        sq = np.einsum("ij,ij->i", self.emb, self.emb, dtype=np.float64)
        self.norms = sq.astype(np.float32)     # ||x||^2 per row
        self.dim = dim
        sizes = np.diff(self.starts)
        self.block_sizes = sizes
        self.row_block = np.repeat(np.arange(len(sizes)), sizes)
        if n:
            # a sum per block (26 of them) is 3x faster than a float64 reduceat over the rows
            self.centroids = (np.stack([self.emb[s:e].sum(axis=0, dtype=np.float64)
                                        for s, e in zip(self.starts[:-1], self.starts[1:])])
                              / sizes[:, None]).astype(np.float32)
            self._block_max_norm = np.sqrt(np.maximum.reduceat(sq, self.starts[:-1]))
        else:
            self.centroids = np.zeros((0, dim), dtype=np.float32)
            self._block_max_norm = np.zeros(0)
        self._block_max_norm_list = self._block_max_norm.tolist()
        self._max_norm = max(self._block_max_norm_list, default=0.0)
        self._centroid_half_sq = np.einsum("ij,ij->i", self.centroids, self.centroids) / 2

        binary = _binary_columns(self.emb)
        keys = _pattern_keys(self.emb[:, binary]) if binary.size else np.zeros(n)
        # search order: by block, then binary pattern (then row), so a pattern is one run per block
        perm = np.lexsort((keys, self.row_block)) if binary.size else np.arange(n)
        breaks = np.flatnonzero((np.diff(keys[perm]) != 0) | (np.diff(self.row_block[perm]) != 0)) + 1 \
            if n > 1 else np.zeros(0, dtype=np.int64)
        run_starts = np.concatenate([[0], breaks]).astype(np.int64) if n else np.zeros(0, dtype=np.int64)
        if binary.size and run_starts.size > n // 4:   # patterns barely repeat: nothing to factor out
            binary = np.zeros(0, dtype=np.int64)
            perm, run_starts = np.arange(n), np.zeros(0, dtype=np.int64)
        continuous = np.setdiff1d(np.arange(dim), binary)
        self._binary, self._continuous = binary, continuous
        self._query_order = np.concatenate([continuous, [dim], binary]).astype(np.intp)
        self._perm = perm                                   # search position -> row
        self._position = np.empty(n, dtype=np.int64)        # row -> search position
        self._position[perm] = np.arange(n)
        self._cont = np.empty((continuous.size + 1, n), dtype=np.float32)
        self._cont[:continuous.size] = self.emb[:, continuous][perm].T
        self._cont[continuous.size] = (sq / 2)[perm]
        if binary.size:
            self._run_patterns = np.ascontiguousarray(self.emb[perm[run_starts]][:, binary].T)
            self._run_lengths = np.diff(np.append(run_starts, n))
            self._block_runs = np.searchsorted(run_starts, self.starts)   # runs of block b: [r[b], r[b+1])
        else:
            self._run_patterns = np.zeros((0, 0), dtype=np.float32)
            self._run_lengths = np.zeros(0, dtype=np.int64)
            self._block_runs = np.zeros(len(self.starts), dtype=np.int64)

    def probe_blocks(self, query: np.ndarray, nprobe: int, first_cluster: int | None = None) -> list[int]:
        """The blocks to search: `first_cluster`'s (when given and present) then the nearest
        centroids to `query` (ties by block order), `nprobe` in all."""
        count = len(self.cluster_ids)
        nprobe = max(1, min(int(nprobe), count))
        first = self.block_of.get(first_cluster) if isinstance(first_cluster, (int, np.integer)) else None
        if first is not None and nprobe == 1:
            return [first]
        d2 = self._centroid_half_sq - self.centroids @ np.asarray(query, dtype=np.float32)
        if first is not None:
            d2[first] = -np.inf
        return [int(b) for b in np.argsort(d2, kind="stable")[:nprobe]]

    def search(self, query: np.ndarray, limit: int, nprobe: int, first_cluster: int | None = None,
               exclude: set[int] | frozenset = frozenset()) -> list[Hit]:
        """The `limit` rows nearest to `query` among the probed clusters, nearest first (ties by row).

        Fewer when the probed clusters hold fewer rows than `limit` beyond the excluded ones."""
        if not len(self) or limit < 1:
            return []
        query = np.asarray(query, dtype=np.float32).reshape(self.dim)
        return self._ranked(query, self.probe_blocks(query, nprobe, first_cluster), int(limit), exclude)

    def exact_search(self, query: np.ndarray, limit: int, exclude: set[int] | frozenset = frozenset()) -> list[int]:
        """Brute force over every movie (the baseline for recall and the benchmark), same ranking."""
        if not len(self) or limit < 1:
            return []
        query = np.asarray(query, dtype=np.float32).reshape(self.dim)
        return [h.row for h in self._ranked(query, None, int(limit), exclude)]

    def similar(self, row: int, limit: int, nprobe: int) -> list[Hit]:
        return self.search(self.emb[row], limit, nprobe, first_cluster=int(self.cluster[row]), exclude={row})

    def _ranked(self, query: np.ndarray, blocks: list[int] | None, limit: int, exclude) -> list[Hit]:
        """Hits among `blocks` (None: every row). Scores in float32, candidates re-ranked in float64."""
        q_aug = np.empty(self.dim + 1, dtype=np.float32)
        np.negative(query, out=q_aug[:-1])
        q_aug[-1] = 1.0
        q_aug = q_aug[self._query_order]       # [-q continuous, 1, -q binary]
        q_cont, q_binary = q_aug[:self._continuous.size + 1], q_aug[self._continuous.size + 1:]
        if blocks is None or len(blocks) == 1:   # one range of search positions: the common case
            if blocks is None:
                b0, b1, max_norm = 0, len(self.cluster_ids), self._max_norm
            else:
                b0, b1, max_norm = blocks[0], blocks[0] + 1, self._block_max_norm_list[blocks[0]]
            lo, hi = int(self.starts[b0]), int(self.starts[b1])
            scores = self._scores(q_cont, q_binary, b0, b1)
            if len(exclude) == 1:   # similar(): the movie itself
                (row,) = exclude
                if 0 <= row < len(self) and lo <= self._position[row] < hi:
                    scores[self._position[row] - lo] = np.inf
            elif exclude:
                ex = self._position[self._excluded(exclude)]
                scores[ex[(ex >= lo) & (ex < hi)] - lo] = np.inf
            positions = _candidates(scores, limit, self._tolerance(max_norm, query)) + lo
        else:
            starts = self.starts[blocks]
            offsets = np.concatenate([[0], np.cumsum(self.block_sizes[blocks])])
            # one product per probed block (nprobe of them), side by side
            scores = np.concatenate([self._scores(q_cont, q_binary, b, b + 1) for b in blocks])
            if exclude:
                ex = self._excluded(exclude)
                where = np.full(len(self.cluster_ids), -1, dtype=np.int64)
                where[blocks] = np.arange(len(blocks))
                span = where[self.row_block[ex]]
                ex, span = self._position[ex[span >= 0]], span[span >= 0]
                scores[ex - starts[span] + offsets[span]] = np.inf
            tol = self._tolerance(max(self._block_max_norm_list[b] for b in blocks), query)
            found = _candidates(scores, limit, tol)
            span = np.searchsorted(offsets, found, side="right") - 1
            positions = found - offsets[span] + starts[span]
        rows = self._perm[positions]
        diff = self.emb[rows] - query.astype(np.float64)
        dist2 = np.einsum("ij,ij->i", diff, diff)
        best = np.lexsort((rows, dist2))[:limit]
        return [Hit(r, d) for r, d in zip(rows[best].tolist(), np.sqrt(dist2[best]).tolist())]

    def _scores(self, q_cont: np.ndarray, q_binary: np.ndarray, b0: int, b1: int) -> np.ndarray:
        """||x||^2/2 - x.q for the search positions of blocks b0..b1-1: the continuous columns'
        product, plus each binary pattern's product once per run, spread over the run's rows."""
        scores = q_cont @ self._cont[:, self.starts[b0]:self.starts[b1]]
        if self._binary.size:
            r0, r1 = self._block_runs[b0], self._block_runs[b1]
            scores += np.repeat(q_binary @ self._run_patterns[:, r0:r1], self._run_lengths[r0:r1])
        return scores

    def _excluded(self, exclude) -> np.ndarray:
        ex = np.fromiter(exclude, dtype=np.int64, count=len(exclude))
        return ex[(ex >= 0) & (ex < len(self))]

    def _tolerance(self, max_norm: float, query: np.ndarray) -> float:
        """A bound on two float32 scores' rounding error: each is below (d + 2) eps (||x||^2/2 +
        ||x|| ||q||) for its row x (a dot product's error bound, with Cauchy-Schwarz)."""
        q_norm = math.sqrt(float(np.dot(query, query)))
        return 2 * (self.dim + 2) * _EPS32 * (max_norm * max_norm / 2 + max_norm * q_norm)

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
            mask &= np.char.find(self.titles_lower, fold(q)) >= 0
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
        if q:  # the title itself first, then titles that start with the query, then a word that does
            keys = keys + (self.match_rank(rows, q),)
        return rows[np.lexsort(keys)]

    def match_rank(self, rows: np.ndarray, q: str) -> np.ndarray:
        """0 the folded title is the query, 1 starts with it, 2 a word starts with it, 3 elsewhere."""
        titles, folded = self.titles_lower[rows], fold(q)
        rank = np.full(len(rows), 3, dtype=np.int8)
        rank[np.char.find(np.char.add(" ", titles), " " + folded) >= 0] = 2
        rank[np.char.startswith(titles, folded)] = 1
        rank[titles == folded] = 0
        return rank

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


def fold(text: str) -> str:
    """Case and accents folded ("Amélie" -> "amelie", "Straße" -> "strasse"), spaces collapsed."""
    text = str(text)
    if text.isascii():   # most titles: no accent to fold, 10x cheaper on a table's load
        return " ".join(text.lower().split())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def _mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return round(float(finite.mean()), 2) if len(finite) else None


def _binary_columns(emb: np.ndarray) -> np.ndarray:
    """Indices of the columns that take exactly two values (the one-hot genres, however scaled)."""
    if not emb.size:
        return np.zeros(0, dtype=np.int64)
    lo, hi = emb.min(axis=0), emb.max(axis=0)
    return np.flatnonzero(((emb == lo) | (emb == hi)).all(axis=0) & (hi > lo))


def _pattern_keys(values: np.ndarray) -> np.ndarray:
    """One sortable key per row, equal for rows with the same values in these two-valued columns."""
    on = values == values.max(axis=0)
    if on.shape[1] <= 52:   # exact in a float64
        return on.astype(np.float64) @ (2.0 ** np.arange(on.shape[1]))
    return np.unique(np.packbits(on, axis=1), axis=0, return_inverse=True)[1].ravel()


_EPS32 = float(np.finfo(np.float32).eps)
_SAMPLE_PER_WANTED = 16   # the strided sample holds this many rows per wanted hit


def _candidates(scores: np.ndarray, limit: int, tol: float) -> np.ndarray:
    """Positions of every finite score that could rank among the `limit` lowest, given that each
    may be off by `tol`: at least the `limit` lowest, and a few more, in position order."""
    n = scores.size
    if n <= limit:
        return np.flatnonzero(np.isfinite(scores))
    stride = n // (limit * _SAMPLE_PER_WANTED)
    # the limit-th lowest of any subset is an upper bound of the limit-th lowest of all
    sample = scores[::stride] if stride >= 2 else scores
    bound = np.partition(sample, limit - 1)[limit - 1]
    if not np.isfinite(bound):   # excluded rows (inf) crowd the sample: select over everything
        bound = np.partition(scores, limit - 1)[limit - 1]
    if not np.isfinite(bound):   # fewer finite scores than limit: all of them
        return np.flatnonzero(np.isfinite(scores))
    found = np.flatnonzero(scores <= bound + tol)
    if found.size > 4 * limit:   # narrow to the limit-th lowest among them, within tol
        values = scores[found]
        found = found[values <= np.partition(values, limit - 1)[limit - 1] + tol]
    return found
