"""The collaborative model: item neighbours learnt from viewers' interactions (numpy/scipy only).

Owns the recommender artefact of docs/CONTRACTS.md ("Recommender artefact"): `recommender.npz`
(items, popularity, top-K neighbours per item with scores, viewer histories as CSR; no pickles) and
`recommender.json` (kind, params, counts, validation metrics, the npz's sha256). `save`/`load` are
the only I/O here; `load` refuses a file whose digest differs from the one recorded.

Methods (`method=`), all fitted on prepared interactions (viewer_id, tconst, weight):
- "itemknn": cosine similarity of items' co-interaction vectors with a shrink term,
  c_ij / (sqrt(n_i n_j) + shrink); computed in blocks of items, top-K kept.
- "ease": Steck's EASE (closed form B = -P / diag(P), P = (X'X + lambda I)^-1, zero diagonal) on the
  `max_items` most popular films (the inverse is cubic in them); the other films get itemknn lists.
  Its neighbour lists hold each row's K largest |B|, best first, so their tail may be NEGATIVE
  (viewers who like this rarely like that): the hybrid sums them over a history and never serves
  a film whose summed score is not positive.
- "als": implicit ALS (Hu, Koren, Volinsky: confidence 1 + alpha * weight) solved by a few
  conjugate-gradient steps per sweep (Takacs et al.), vectorised over viewers; the neighbours are
  the items' cosine neighbours in factor space.
Which one MyFlix trains is chosen by measurement on real viewers (benchmarks/bench_recommend.py)
and tuned on the validation split (`tune`).

`recommend` scores a history with the method's own full model (EASE's x B, ALS's fold-in), the
collaborative baseline Evaluate reports; what is served is steps/hybrid.py over the neighbour
lists (`arrays()`).
"""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import scipy.sparse as sp

from steps import ranking
from steps.artifacts import sha256_file, write_json

METHODS = ("itemknn", "ease", "als")
NPZ_NAME = "recommender.npz"
JSON_NAME = "recommender.json"
DEFAULTS: dict[str, Any] = {
    "method": "ease", "neighbours": 200, "shrink": 10.0, "binary": True,
    "l2": 500.0, "max_items": 10000,
    "factors": 64, "alpha": 10.0, "regularization": 0.1, "iterations": 12, "cg_steps": 3,
    "seed": 0,
}


# DEFAULTS are the measured choice: EASE (l2 500, 200 neighbours a film) chosen on three validation
# splits of real viewers (benchmarks/bench_recommend.py, docs/benchmarks.md).
# The served hybrid's parameters (steps/hybrid.Hybrid's keywords), written into recommender.json's
# "hybrid" object for Evaluate and the API: the values benchmarks/bench_recommend.py chose on the
# validation split of real viewers (MovieLens ml-100k; docs/benchmarks.md).
HYBRID_PARAMS: dict[str, Any] = {"taste_decay": 1.0, "popularity_weight": 0.0, "content_pool": 10,
                                 "content_popularity": 2.0}


class RecommenderError(ValueError):
    """Bad parameters, bad input frame or a bad artefact (what was wrong and what to do)."""


class Recommender:
    """Item-neighbour collaborative model (scikit-learn style: params in __init__, fit sets `*_`).

    After `fit`: `items_` (sorted tconsts), `popularity_` (float32 weighted interactions per item),
    `neighbours_` (int32, n_items x K, -1 padded, best first), `neighbour_scores_` (float32),
    `viewers_` (sorted viewer ids), `viewer_indptr_`/`viewer_items_`/`viewer_weights_` (CSR
    history), and for "als" `item_factors_`; `fit_seconds_`.
    """

    def __init__(self, method: str = DEFAULTS["method"], neighbours: int = DEFAULTS["neighbours"],
                 shrink: float = DEFAULTS["shrink"], binary: bool = DEFAULTS["binary"],
                 l2: float = DEFAULTS["l2"], max_items: int = DEFAULTS["max_items"],
                 factors: int = DEFAULTS["factors"], alpha: float = DEFAULTS["alpha"],
                 regularization: float = DEFAULTS["regularization"],
                 iterations: int = DEFAULTS["iterations"], cg_steps: int = DEFAULTS["cg_steps"],
                 seed: int = DEFAULTS["seed"], progress: Callable[[str], None] | None = None):
        self.method = method
        self.neighbours = neighbours
        self.shrink = shrink
        self.binary = binary
        self.l2 = l2
        self.max_items = max_items
        self.factors = factors
        self.alpha = alpha
        self.regularization = regularization
        self.iterations = iterations
        self.cg_steps = cg_steps
        self.seed = seed
        self.progress = progress

    def get_params(self) -> dict:
        return {name: getattr(self, name) for name in DEFAULTS}

    def set_params(self, **params) -> "Recommender":
        for name, value in params.items():
            if name not in DEFAULTS:
                raise RecommenderError(f"unknown recommender parameter {name!r}; known: {sorted(DEFAULTS)}")
            setattr(self, name, value)
        return self

    def _say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    # --- fitting ------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> "Recommender":
        """Learn from prepared interactions (columns viewer_id, tconst, weight > 0)."""
        if self.method not in METHODS:
            raise RecommenderError(f"method must be one of {METHODS}, not {self.method!r}")
        if int(self.neighbours) < 1:
            raise RecommenderError("neighbours must be at least 1")
        missing = {"viewer_id", "tconst", "weight"} - set(frame.columns)
        if missing:
            raise RecommenderError(f"the interactions lack column(s) {sorted(missing)}: pass "
                                   "PrepareInteractions' "
                                   "interactions.parquet (viewer_id, tconst, weight)")
        start = time.perf_counter()
        weight = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(np.float64)
        ok = np.isfinite(weight) & (weight > 0)
        viewers, v_idx = _encode(frame["viewer_id"], ok)
        items, i_idx = _encode(frame["tconst"], ok)
        # duplicates (viewer, item) are summed by the COO -> CSR conversion
        matrix = sp.csr_matrix((weight[ok], (v_idx, i_idx)), shape=(len(viewers), len(items)),
                               dtype=np.float64)
        matrix.sum_duplicates()
        matrix.sort_indices()
        self.items_ = items
        self.viewers_ = viewers
        self.popularity_ = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float32)
        self.viewer_indptr_ = matrix.indptr.astype(np.int64)
        self.viewer_items_ = matrix.indices.astype(np.int32)
        self.viewer_weights_ = matrix.data.astype(np.float32)
        self.n_interactions_ = int(ok.sum())
        self._matrix = matrix
        k = int(min(self.neighbours, max(len(items) - 1, 1)))
        self._say(f"{self.method}: {len(viewers):,} viewers, {len(items):,} films, "
                  f"{matrix.nnz:,} interactions")
        if self.method == "itemknn":
            self.neighbours_, self.neighbour_scores_ = _cosine_neighbours(
                self._binary(matrix), k, float(self.shrink), None, self._say)
        elif self.method == "ease":
            self._fit_ease(matrix, k)
        else:
            self._fit_als(matrix, k)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _binary(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        if not self.binary:
            return matrix
        out = matrix.copy()
        out.data = np.ones_like(out.data)
        return out

    def _fit_ease(self, matrix: sp.csr_matrix, k: int) -> None:
        x = self._binary(matrix)
        n = x.shape[1]
        top = np.sort(np.argsort(-self.popularity_, kind="stable")[:int(self.max_items)])
        xt = x[:, top].tocsc()
        # in place where numpy allows: at 10,000 films each dense copy is 0.8 GB
        gram = (xt.T @ xt).toarray().astype(np.float64, copy=False)
        del xt
        gram[np.diag_indices_from(gram)] += float(self.l2)
        self._say(f"ease: inverting a {len(top):,} x {len(top):,} Gram matrix")
        inv = np.linalg.inv(gram)
        del gram
        inv /= -np.diag(inv).copy()[None, :]
        np.fill_diagonal(inv, 0.0)
        self.ease_items_ = top
        self.ease_weights_ = inv.astype(np.float32)     # full B on the top items (not saved)
        del inv
        neighbours = np.full((n, k), -1, dtype=np.int32)
        scores = np.zeros((n, k), dtype=np.float32)
        # the k largest |B| per row, best first: the negative tail is kept because the served sum
        # over a history needs it (measured: positives only lost 0.006 validation NDCG@10 on ml-100k)
        idx, val = _top_k_rows(self.ease_weights_, min(k, len(top) - 1) if len(top) > 1 else 1,
                               by_magnitude=True)
        neighbours[top, :idx.shape[1]] = np.where(idx >= 0, top[np.maximum(idx, 0)], -1)
        scores[top, :idx.shape[1]] = val
        rest = np.setdiff1d(np.arange(n), top)
        if len(rest):   # films beyond max_items: cosine neighbours, scaled under EASE's scores
            nb, sc = _cosine_neighbours(x, k, float(self.shrink), rest, self._say)
            top_score = float(np.abs(val).max(initial=0.0)) or 1.0
            neighbours[rest], scores[rest] = nb, sc * top_score
        self.neighbours_, self.neighbour_scores_ = neighbours, scores

    def _fit_als(self, matrix: sp.csr_matrix, k: int) -> None:
        rng = np.random.default_rng(int(self.seed))
        f = int(self.factors)
        conf = self._binary(matrix).copy()
        conf.data = float(self.alpha) * conf.data      # c - 1
        conf_t = conf.T.tocsr()
        users = (rng.standard_normal((matrix.shape[0], f)) * 0.01).astype(np.float32)
        items = (rng.standard_normal((matrix.shape[1], f)) * 0.01).astype(np.float32)
        for it in range(int(self.iterations)):
            users = _als_half(conf, items, users, float(self.regularization), int(self.cg_steps))
            items = _als_half(conf_t, users, items, float(self.regularization), int(self.cg_steps))
            self._say(f"als: sweep {it + 1}/{self.iterations}")
        self.item_factors_ = items
        norms = np.linalg.norm(items, axis=1)
        unit = items / np.where(norms > 0, norms, 1.0)[:, None]
        self.neighbours_, self.neighbour_scores_ = _dense_neighbours(unit, k)
        self.neighbour_scores_ = np.maximum(self.neighbour_scores_, 0).astype(np.float32)

    # --- scoring (the collaborative baseline) -------------------------------------------------
    def _rows(self, tconsts: Sequence[str]) -> np.ndarray:
        keys = np.asarray(list(tconsts), dtype=str)
        if not len(keys) or not len(self.items_):
            return np.zeros(0, dtype=np.int64)
        pos = np.searchsorted(self.items_, keys)
        pos = np.minimum(pos, len(self.items_) - 1)
        return pos[self.items_[pos] == keys]

    def scores(self, history: Sequence[str], weights: Sequence[float] | None = None) -> np.ndarray:
        """The model's own score of every item for a viewer with this history (higher is better)."""
        rows = self._rows(history)
        n = len(self.items_)
        w = np.ones(len(rows)) if weights is None or self.binary else np.asarray(weights, float)[:len(rows)]
        out = np.zeros(n, dtype=np.float64)
        if not len(rows):
            return out
        if self.method == "ease":
            local = np.searchsorted(self.ease_items_, rows)
            last = len(self.ease_items_) - 1
            inside = (local <= last) & (self.ease_items_[np.minimum(local, last)] == rows)
            out[self.ease_items_] = w[inside] @ self.ease_weights_[local[inside]]
            # films beyond the EASE block: their neighbour lists (below every EASE score)
            rest = rows[~inside]
            if len(rest):
                nb, sc = self.neighbours_[rest], self.neighbour_scores_[rest]
                np.add.at(out, nb[nb >= 0], (sc * w[~inside][:, None])[nb >= 0] * 1e-3)
        elif self.method == "als":
            y = self.item_factors_.astype(np.float64)
            yh = y[rows]
            c = float(self.alpha) * w
            a = y.T @ y + yh.T @ (c[:, None] * yh) + float(self.regularization) * np.eye(y.shape[1])
            user = np.linalg.solve(a, yh.T @ (1.0 + c))
            out = y @ user
        else:
            nb, sc = self.neighbours_[rows], self.neighbour_scores_[rows].astype(np.float64) * w[:, None]
            np.add.at(out, nb[nb >= 0], sc[nb >= 0])
        return out

    def recommend(self, history: Sequence[str], limit: int = 10, exclude: Iterable[str] = (),
                  weights: Sequence[float] | None = None) -> list[str]:
        """The `limit` best films for this history by the model's own scores, none in history/exclude."""
        score = self.scores(history, weights)
        banned = self._rows(list(history) + list(exclude))
        score[banned] = -np.inf
        limit = min(int(limit), len(score))
        if limit <= 0:
            return []
        top = np.argpartition(-score, limit - 1)[:limit]
        top = top[np.lexsort((top, -score[top]))]
        top = top[np.isfinite(score[top])]
        return self.items_[top].tolist()

    def similar(self, tconst: str, limit: int = 10) -> list[str]:
        """The film's neighbour list (what the hybrid serves for a warm film)."""
        rows = self._rows([tconst])
        if not len(rows):
            return []
        nb = self.neighbours_[rows[0]]
        return self.items_[nb[nb >= 0][:limit]].tolist()

    def arrays(self) -> dict[str, np.ndarray]:
        """The artefact's arrays (steps/hybrid.Hybrid.from_arrays takes them as they are)."""
        out = {"items": self.items_.astype(str), "popularity": self.popularity_,
               "neighbours": self.neighbours_, "neighbour_scores": self.neighbour_scores_,
               "viewers": self.viewers_.astype(str), "viewer_indptr": self.viewer_indptr_,
               "viewer_items": self.viewer_items_, "viewer_weights": self.viewer_weights_}
        if self.method == "als":
            out["item_factors"] = self.item_factors_
        return out


def _encode(column: pd.Series, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values as a U-string array, each kept row's index into them). A categorical
    column (a dictionary-encoded parquet column read with `read_dictionary`) is encoded without
    touching a string per row; others are hashed once (pd.factorize), never sorted row by row."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()[keep]
        cats = column.cat.categories.to_numpy(dtype=str)
    else:
        codes, cats = pd.factorize(column.to_numpy()[keep], sort=False)
        cats = np.asarray(cats, dtype=str)
    if (codes < 0).any():
        raise RecommenderError("viewer_id and tconst must not be empty: PrepareInteractions drops such rows")
    present = np.zeros(len(cats), dtype=bool)
    present[codes] = True
    used = np.flatnonzero(present)
    order = used[np.argsort(cats[used], kind="stable")]
    remap = np.empty(len(cats), dtype=np.int64)
    remap[order] = np.arange(len(order))
    return cats[order], remap[codes]


# --- neighbour computations -------------------------------------------------------------------
def _top_k_rows(block: np.ndarray, k: int, positive_only: bool = True,
                by_magnitude: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the k largest columns (best first, ties by column), -1 where the value is <= 0.
    `by_magnitude`: the k largest |values| instead, still ordered best first, negatives kept."""
    k = max(1, min(k, block.shape[1]))
    key = -np.abs(block) if by_magnitude else -block
    part = np.argpartition(key, k - 1, axis=1)[:, :k] if block.shape[1] > k else \
        np.tile(np.arange(block.shape[1]), (block.shape[0], 1))
    vals = np.take_along_axis(block, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    idx = np.take_along_axis(part, order, axis=1).astype(np.int32)
    vals = np.take_along_axis(vals, order, axis=1).astype(np.float32)
    if positive_only and not by_magnitude:
        bad = ~(vals > 0)
        idx[bad], vals[bad] = -1, 0.0
    else:
        bad = vals == 0
        idx[bad] = -1
    return idx, vals


def _cosine_neighbours(x: sp.csr_matrix, k: int, shrink: float, rows: np.ndarray | None,
                       say: Callable[[str], None]) -> tuple[np.ndarray, np.ndarray]:
    """Top-k shrunk-cosine neighbours of items `rows` (None: all), in blocks of items."""
    n = x.shape[1]
    rows = np.arange(n) if rows is None else np.asarray(rows)
    xt = x.T.tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    block = max(1, min(len(rows), int(2e7 // max(n, 1))))   # a block's dense row slab stays <= 80 MB
    neighbours = np.full((len(rows), k), -1, dtype=np.int32)
    scores = np.zeros((len(rows), k), dtype=np.float32)
    last = time.monotonic()
    for a in range(0, len(rows), block):
        sel = rows[a:a + block]
        co = (xt[sel] @ x).toarray().astype(np.float32)
        co /= (norms[sel][:, None] * norms[None, :] + shrink).astype(np.float32)
        co[np.arange(len(sel)), sel] = 0.0
        idx, val = _top_k_rows(co, k)
        neighbours[a:a + len(sel), :idx.shape[1]], scores[a:a + len(sel), :idx.shape[1]] = idx, val
        if time.monotonic() - last > 10:
            say(f"itemknn: {a + len(sel):,}/{len(rows):,} films")
            last = time.monotonic()
    return neighbours, scores


def _dense_neighbours(unit: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(unit)
    k = max(1, min(k, n - 1)) if n > 1 else 1
    block = max(1, int(2e7 // max(n, 1)))
    neighbours = np.full((n, k), -1, dtype=np.int32)
    scores = np.zeros((n, k), dtype=np.float32)
    for a in range(0, n, block):
        sims = unit[a:a + block] @ unit.T
        sims[np.arange(sims.shape[0]), np.arange(a, a + sims.shape[0])] = -np.inf
        idx, val = _top_k_rows(sims, k, positive_only=False)
        neighbours[a:a + block, :idx.shape[1]], scores[a:a + block, :idx.shape[1]] = idx, val
    return neighbours, scores


def _als_half(conf: sp.csr_matrix, fixed: np.ndarray, solve: np.ndarray, reg: float, steps: int,
              chunk_nnz: int = 2_000_000) -> np.ndarray:
    """One ALS half-sweep: rows of `solve` updated by `steps` CG steps (warm started), all rows at
    once: A_u = Y'Y + reg I + Y_u' diag(c_u - 1) Y_u, b_u = Y_u' c_u (conf holds c - 1)."""
    yty = fixed.T.astype(np.float64) @ fixed.astype(np.float64) + reg * np.eye(fixed.shape[1])
    yty = yty.astype(np.float32)
    ones = conf.copy()
    ones.data = ones.data + 1.0
    b = (ones @ fixed).astype(np.float32)

    def a_times(p: np.ndarray) -> np.ndarray:
        out = p @ yty
        rows = np.repeat(np.arange(conf.shape[0], dtype=np.int64), np.diff(conf.indptr))
        for s in range(0, conf.nnz, chunk_nnz):
            e = min(conf.nnz, s + chunk_nnz)
            r, c = rows[s:e], conf.indices[s:e]
            coef = conf.data[s:e].astype(np.float32) * np.einsum("ij,ij->i", fixed[c], p[r])
            part = sp.csr_matrix((coef, (r - r[0] if len(r) else r, c)),
                                 shape=((r[-1] - r[0] + 1) if len(r) else 0, fixed.shape[0]))
            if len(r):
                out[r[0]:r[-1] + 1] += part @ fixed
        return out

    x = solve.copy()
    r = b - a_times(x)
    p = r.copy()
    rs = np.einsum("ij,ij->i", r, r)
    for _ in range(steps):
        ap = a_times(p)
        denom = np.einsum("ij,ij->i", p, ap)
        step = np.where(denom > 0, rs / np.where(denom > 0, denom, 1), 0).astype(np.float32)
        x += step[:, None] * p
        r -= step[:, None] * ap
        rs_new = np.einsum("ij,ij->i", r, r)
        beta = np.where(rs > 0, rs_new / np.where(rs > 0, rs, 1), 0).astype(np.float32)
        p = r + beta[:, None] * p
        rs = rs_new
    return x


# --- tuning -----------------------------------------------------------------------------------
def _combos(grid: Mapping[str, Sequence] | Sequence[Mapping]) -> list[dict]:
    if isinstance(grid, Mapping):
        names = list(grid)
        return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
    return [dict(g) for g in grid]


def tune(train: pd.DataFrame, validation: pd.DataFrame,
         grid: Mapping[str, Sequence] | Sequence[Mapping], base: Mapping | None = None, k: int = 10,
         metric: str = "ndcg", exclude: pd.DataFrame | None = None,
         progress: Callable[[str], None] | None = None) -> tuple[dict, pd.DataFrame]:
    """Fit on `train` for every combination of `grid` (a {name: values} product or a list of dicts,
    over `base` params), measure on `validation` with steps/ranking.evaluate, and return (the best
    params by `metric`, one row per combination with its metrics and fit seconds)."""
    rows = []
    for combo in _combos(grid):
        params = {**(base or {}), **combo}
        model = Recommender(**params).fit(train)
        result = ranking.evaluate(lambda v, hist, n, skip: model.recommend(hist, n, skip), train, validation,
                                  k=k, exclude=exclude)
        rows.append({**params, **{m: result[m] for m in ranking.METRICS}, "fit_seconds": model.fit_seconds_})
        if progress is not None:
            progress(f"tune {combo}: {metric}@{k} = {result[metric]:.4f}")
    table = pd.DataFrame(rows)
    if table.empty:
        raise RecommenderError("the tuning grid is empty: give at least one combination")
    best = table.sort_values(metric, ascending=False, kind="stable").iloc[0]
    return {name: _plain(best[name]) for name in DEFAULTS if name in best}, table


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


# --- the artefact -----------------------------------------------------------------------------
def _write_json(path: Path, meta: dict) -> None:
    write_json(path, meta)


def save(model: Recommender | None, folder: str | os.PathLike, *, simulated: bool = False,
         validation: Mapping[str, float] | None = None, reason: str | None = None,
         hybrid: Mapping[str, Any] | None = None) -> dict:
    """Write recommender.npz + recommender.json into `folder`; `model=None` writes the "none"
    artefact (collaborative off) with `reason`. `hybrid`: the served hybrid's parameters recorded
    in the .json (default HYBRID_PARAMS). Returns the JSON object written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    npz = folder / NPZ_NAME
    if model is None:
        empty = {"items": np.zeros(0, dtype="U10"), "popularity": np.zeros(0, np.float32),
                 "neighbours": np.zeros((0, 0), np.int32), "neighbour_scores": np.zeros((0, 0), np.float32),
                 "viewers": np.zeros(0, dtype="U1"), "viewer_indptr": np.zeros(1, np.int64),
                 "viewer_items": np.zeros(0, np.int32), "viewer_weights": np.zeros(0, np.float32)}
        arrays, kind, params, counts = empty, "none", {}, (0, 0, 0)
    else:
        arrays, kind, params = model.arrays(), model.method, model.get_params()
        counts = (len(model.items_), len(model.viewers_), model.n_interactions_)
    tmp = folder / (NPZ_NAME + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, npz)
    meta = {"kind": kind, "params": params, "n_items": counts[0], "n_viewers": counts[1],
            "n_interactions": counts[2], "simulated": bool(simulated),
            "validation": {m: float(v) for m, v in (validation or {}).items()},
            "hybrid": dict(HYBRID_PARAMS if hybrid is None else hybrid),
            "sha256": {NPZ_NAME: sha256_file(npz)}}
    if reason is not None or model is None:
        meta["reason"] = reason or "no collaborative model"
    _write_json(folder / JSON_NAME, meta)
    return meta


def load(folder: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays, meta) of the artefact in `folder`, after checking the npz against the recorded sha256."""
    folder = Path(folder)
    meta_path, npz = folder / JSON_NAME, folder / NPZ_NAME
    if not meta_path.is_file() or not npz.is_file():
        raise RecommenderError(f"{folder} lacks {JSON_NAME} or {NPZ_NAME}: pass TrainRecommender's "
                               "model folder")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as err:
        raise RecommenderError(f"{meta_path} is not valid JSON ({err}): retrain the recommender") from err
    expected = (meta.get("sha256") or {}).get(NPZ_NAME)
    if not expected:
        raise RecommenderError(f"{meta_path} records no sha256 for {NPZ_NAME}: the artefact is "
                               "incomplete; retrain it")
    if sha256_file(npz) != expected:
        raise RecommenderError(f"{npz} does not match the digest recorded when it was written: it was "
                               "changed or corrupted; retrain or restore it")
    with np.load(npz, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    return arrays, meta
