"""The k-means elbow sweep and the knee choice: pure functions over numpy arrays (no I/O).

`elbow_sweep(X, k_min, k_max, seed)` returns the k-means objective (inertia: the sum over ALL
rows of the squared distance to the nearest centre, float64, as scikit-learn's `inertia_`) for
every k in [k_min, k_max]; `choose_k(ks, inertias, k_override)` picks the knee with
Kneedle (steps/knee.py), a documented fallback when Kneedle finds none, or the override.

Why the sweep is fast (and as good as, or better than, one scikit-learn fit per k):
1. Compression. The movie features have heavy structure: 22 of the 26 columns are one-hot
   genres, so rows fall into a few thousand genre combinations. The rows are compressed into
   about `coreset_size` weighted points: every combination of the binary columns keeps its own
   points (those columns are never blurred), and within a combination the continuous columns
   (year, runtime, rating, votes) are micro-clustered, with micro-centres in proportion to its
   rows. Each point is the mean of its rows and weighs their count. The rows farthest from their
   point (OUTLIER_SHARE of them: mostly the heavy numVotes tail, which is what k-means spends its
   last clusters on) stay single points; without them the search came out 1-2.4% worse than
   scikit-learn at k >= 40 on 300k movies.
2. The search runs on the compressed points, where a Lloyd iteration costs ~1/50 of one on all
   rows at 300k movies, so it can afford to do better than one k-means++ start per k: a forward
   chain (k-1's solution plus one centre: CANDIDATES points drawn by D^2 sampling, ranked by the
   inertia they leave, the best TRIALS run through Lloyd to a relative inertia change of
   LLOYD_RTOL) and a backward chain (k+1's solution minus the centre whose removal costs least,
   then Lloyd); each k keeps the better of the two. A Lloyd iteration is BLAS products and
   vectorised reductions only (`_Points`): float32 scores laid out (centres x points), whose
   minimum down the columns and one-hot membership replace numpy's slow argmin along short rows.
   Below DIRECT_FACTOR rows per compressed point (about 6,000 rows) the search runs on the rows
   themselves. At the demo's 9,168 rows compression still pays: measured, searching the rows
   took ~1.5x the CPU time of compressing them into ~4,100 points and searching those.
3. The exact objective: each k's centres are evaluated over ALL rows (optionally after
   `refine_iters` full-data Lloyd iterations), in float64: one matrix product of [x, 1] with
   [-2c; ||c||^2] gives ||x - c||^2 - ||x||^2, its row minimum plus ||x||^2 is each row's squared
   distance to its nearest centre (scikit-learn finds the nearest centre with the same
   expansion), and the inertia is their sum. These passes run on 2 threads while the backward chain is still searching;
   the scores are laid out (centres x rows) so the minimum is taken down the columns.
Measured figures: docs/steps.md, section "steps-sweep" (benchmarks/bench_sweep.py).
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple

import numpy as np
from scipy import sparse

from steps.knee import kneedle

COMPRESSED_POINTS = 4000        # the compressed search set's size (plus OUTLIER_SHARE of the rows)
CANDIDATES = 8                  # D^2-sampled candidate centres ranked at each step of the forward chain
TRIALS = 2                      # of which this many best are run through Lloyd
DIRECT_FACTOR = 1.5             # up to this many rows per compressed point, search on the rows themselves
EXTRA_K = 3                     # the forward chain goes this far past k_max
LLOYD_RTOL = 1e-6               # stop Lloyd (on the compressed points) below this relative inertia change
LLOYD_MAX_ITER = 100
MICRO_ITERS = 3                 # Lloyd iterations of the micro-clustering inside each combination...
MICRO_SAMPLE = 8                # ...on a sample of this many rows per micro-centre
MICRO_DIRECT = 48               # above this many cells a group is split in two levels
OUTLIER_SHARE = 0.005           # share of rows kept as single points (the farthest from their point)
FALLBACK_SHARE = 0.9            # fallback knee: first k reaching this share of the total inertia drop
_CHUNK = 8192                   # rows per block in the full-data passes (keeps the block in cache)
DENSE_MEANS_CELLS = 1 << 16     # up to this many (labels x rows), weighted means by a dense product

Progress = Callable[[int, float, float], None]


class SweepResult(NamedTuple):
    ks: np.ndarray              # int, k_min..k_max
    inertias: np.ndarray        # float64, the exact objective on all rows, per k
    centres: list               # per k: the (k, d) centres whose inertia is reported
    compressed_points: int      # size of the search set
    seconds: float
    phases: dict                # seconds spent compressing, searching, and waiting for the exact passes


# --- input checks ------------------------------------------------------------------------------
def check_k_range(n_rows: int, k_min: int, k_max: int) -> None:
    """Fail clearly on a k range that cannot be swept over `n_rows` movies."""
    if int(k_min) != k_min or int(k_max) != k_max:
        raise ValueError(f"k_min and k_max must be whole numbers (got {k_min}, {k_max})")
    if k_min < 2:
        raise ValueError(f"k_min={k_min}: the elbow sweep needs k_min >= 2 (one cluster has no elbow)")
    if k_max < k_min:
        raise ValueError(f"k_max={k_max} is smaller than k_min={k_min}: pass k_max >= k_min")
    if k_max >= n_rows:
        raise ValueError(f"k_max={k_max} must be smaller than the number of movies ({n_rows}): "
                         f"lower k_max or loosen the Preprocess filters")


def _as_matrix(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"expected a non-empty 2-D feature matrix (movies x features), got shape {X.shape}")
    bad = ~np.isfinite(X).all(axis=1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} of {X.shape[0]} rows hold NaN or infinite values (first at row "
                         f"{int(np.flatnonzero(bad)[0])}): Preprocess must drop or fill them")
    return np.ascontiguousarray(X)


# --- 1. compression ----------------------------------------------------------------------------
def binary_columns(X: np.ndarray) -> np.ndarray:
    """Indices of the columns that take exactly two values (the one-hot genres, however scaled)."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    two_valued = ((X == lo) | (X == hi)).all(axis=0) & (hi > lo)
    return np.flatnonzero(two_valued)


def compress(X: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(points, weights, row_label): about `size` weighted points that summarise the rows of X.

    Rows with the same values in every binary column form a group; a group gets
    max(1, round(rows * size / n)) cells, split on its continuous columns (`_micro_cluster`).
    A point is the mean of its rows (all columns), so for any centres, sum over rows of
    ||x - c||^2 = sum over points of w ||p - c||^2 + the (constant) spread of the rows around
    their points. Then the OUTLIER_SHARE of rows farthest from their point become points of
    their own. `row_label` maps each row to its point.
    """
    n, d = X.shape
    if n <= size:
        return X.copy(), np.ones(n), np.arange(n)
    binary = binary_columns(X)
    continuous = np.setdiff1d(np.arange(d), binary)
    if binary.size:
        on = X[:, binary] == X[:, binary].max(axis=0)
        if binary.size <= 52:   # one number per row (exact below 2^53; a float product is BLAS,
            # an integer one is not: 10x faster), and sorting numbers beats sorting byte strings
            keys = on.astype(np.float64) @ (2.0 ** np.arange(binary.size))
        else:
            bits = np.packbits(on, axis=1)
            keys = np.ascontiguousarray(bits).view(np.dtype((np.void, bits.shape[1]))).ravel()
        _, group, counts = np.unique(keys, return_inverse=True, return_counts=True)
        group = group.ravel()
    else:
        group, counts = np.zeros(n, dtype=np.intp), np.array([n])
    order = np.argsort(group, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    row_label = np.empty(n, dtype=np.intp)
    Z = X[:, continuous]
    next_label = 0
    for g, count in enumerate(counts):
        rows = order[starts[g]:starts[g + 1]]
        m = max(1, int(round(count * size / n)))
        if m == 1 or continuous.size == 0:
            row_label[rows] = next_label
            next_label += 1
            continue
        if m >= count:
            row_label[rows] = next_label + np.arange(count)
            next_label += count
            continue
        lab = _micro_cluster(Z[rows], m, rng)
        row_label[rows] = next_label + lab
        next_label += int(lab.max()) + 1
    points = _weighted_means(X, None, row_label, next_label, np.zeros((next_label, d)))
    if OUTLIER_SHARE > 0:
        # The rows farthest from their point (the heavy tail of numVotes, mostly) are what k-means
        # spends its last clusters on: they stay single points so that the search sees them.
        spread = np.einsum("ij,ij->i", X - points[row_label], X - points[row_label])
        far = np.flatnonzero(spread > np.quantile(spread, 1.0 - OUTLIER_SHARE))
        if far.size:
            row_label[far] = next_label + np.arange(far.size)
            used, row_label = np.unique(row_label, return_inverse=True)
            next_label = used.size
            points = _weighted_means(X, None, row_label, next_label, np.zeros((next_label, d)))
    weights = np.bincount(row_label, minlength=next_label).astype(np.float64)
    return points, weights, row_label


def _micro_cluster(Z: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Labels 0..m'-1 (m' <= m, none empty) splitting the rows of Z into about m compact cells.

    Centres are fitted by Lloyd on a sample and every row is assigned once. Above MICRO_DIRECT
    cells the split is two-level (sqrt(m) coarse cells, each split in proportion to its rows),
    so the cost grows with sqrt(m) rather than m: with no binary columns at all, the whole
    matrix is one group of m = coreset_size, and a direct split took ~10 s at 50k rows.
    """
    n = Z.shape[0]
    if m <= 1:
        return np.zeros(n, dtype=np.intp)
    if m >= n:
        return np.arange(n)
    if m <= MICRO_DIRECT:
        sample = Z[rng.choice(n, size=min(n, MICRO_SAMPLE * m), replace=False)]
        centres = sample[:m].copy()
        for _ in range(MICRO_ITERS):
            lab = (sample @ (-2.0 * centres.T) + (centres * centres).sum(axis=1)).argmin(axis=1)
            centres = _weighted_means(sample, None, lab, m, centres)
        lab = (Z @ (-2.0 * centres.T) + (centres * centres).sum(axis=1)).argmin(axis=1)
        return np.unique(lab, return_inverse=True)[1].ravel()
    coarse = _micro_cluster(Z, int(np.ceil(np.sqrt(m))), rng)
    order = np.argsort(coarse, kind="stable")
    bounds = np.concatenate([[0], np.cumsum(np.bincount(coarse))])
    labels = np.empty(n, dtype=np.intp)
    next_label = 0
    for part in range(bounds.size - 1):
        rows = order[bounds[part]:bounds[part + 1]]
        sub = _micro_cluster(Z[rows], max(1, int(round(rows.size * m / n))), rng)
        labels[rows] = next_label + sub
        next_label += int(sub.max()) + 1
    return labels


def _weighted_means(P: np.ndarray, w: np.ndarray | None, labels: np.ndarray, k: int,
                    previous: np.ndarray) -> np.ndarray:
    """Per-label weighted means of P's rows; a label with no weight keeps its previous centre."""
    n = P.shape[0]
    weights = np.ones(n) if w is None else w
    if k * n <= DENSE_MEANS_CELLS:
        # small (the micro-clustering's samples, called ~1,500 times at 300k rows): a dense
        # one-hot product; building a sparse matrix cost 4x the product itself there
        members = np.zeros((k, n))
        members[labels, np.arange(n)] = weights
    else:
        # a sparse (k x n) membership matrix times P: ~3x faster than bincount per column
        members = sparse.csr_matrix((weights, (labels, np.arange(n))), shape=(k, n))
    sums = members @ P
    mass = np.bincount(labels, weights=weights, minlength=k)
    out = previous.copy()
    filled = mass > 0
    out[filled] = sums[filled] / mass[filled, None]
    return out


# --- 2. search on the compressed points ----------------------------------------------------------
class _Points:
    """The search set (compressed points, or the rows themselves) with weights and squared norms.

    A Lloyd iteration here is four BLAS products and two vectorised reductions, no per-point
    Python or numpy loop: the scores are (k, n) float32 (`scores`), each point's best score is a
    minimum down the columns, the one-hot membership is `scores == best`, and from it come the
    labels (one product with [1; 0..k-1], which also counts ties), the weighted sums and the
    masses (two more products). numpy's argmin along a row of k values costs more than the
    product itself. The scores only rank centres and guide the search: the inertia reported per
    k is computed in float64 over all rows (`_Rows`).
    """

    def __init__(self, P: np.ndarray, w: np.ndarray):
        self.P, self.w, self.sq = P, w, np.einsum("ij,ij->i", P, P)
        self.PT32 = np.ascontiguousarray(P.T, dtype=np.float32)              # (d, n)
        self.WP = np.ascontiguousarray(P * w[:, None])   # (n, d), for the sums (float64: a centre on
        # a row must be that row exactly, so k >= the distinct rows gives an inertia of 0)
        self.cols = np.arange(P.shape[0])
        self.iterations = 0

    def scores(self, C: np.ndarray) -> np.ndarray:
        """(k, n) float32: ||p - c||^2 - ||p||^2 for every centre and point."""
        C32 = C.astype(np.float32)
        G = (-2.0 * C32) @ self.PT32
        G += np.einsum("ij,ij->i", C32, C32)[:, None]
        return G

    def assign(self, G: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, each point's best score, the (k, n) float32 one-hot membership)."""
        k = G.shape[0]
        best = G.min(axis=0)
        member = (G == best).astype(np.float32)
        count, label = np.array([np.ones(k), np.arange(k)], dtype=np.float32) @ member
        labels = label.astype(np.intp)
        tied = np.flatnonzero(count != 1)    # equidistant centres (or NaN): decided one by one
        if tied.size:
            labels[tied] = G[:, tied].argmin(axis=0)
            member[:, tied] = 0.0
            member[labels[tied], tied] = 1.0
        return labels, best, member

    def lloyd(self, C: np.ndarray) -> "_Fit":
        """Weighted Lloyd from C until the inertia changes by less than LLOYD_RTOL; the best fit seen."""
        previous = np.inf
        best_fit = None
        for _ in range(LLOYD_MAX_ITER):
            self.iterations += 1
            G = self.scores(C)
            labels, best, member = self.assign(G)
            nearest = np.maximum(best + self.sq, 0.0)
            inertia = float(self.w @ nearest)
            if best_fit is None or inertia < best_fit.inertia:
                best_fit = _Fit(C, inertia, G, labels, nearest)
            if previous - inertia <= LLOYD_RTOL * inertia:
                break
            previous = inertia
            member64 = member.astype(np.float64)
            sums, mass = member64 @ self.WP, member64 @ self.w
            C = C.copy()
            filled = mass > 0
            C[filled] = sums[filled] / mass[filled, None]
            empty = np.flatnonzero(~filled)
            if empty.size:   # re-seed an empty cluster at the points that cost most
                C[empty] = self.P[np.argsort(-(self.w * nearest), kind="stable")[:empty.size]]
        return best_fit

    def start(self) -> "_Fit":
        C = np.average(self.P, axis=0, weights=self.w)[None, :]
        return self.lloyd(C)

    def add_centre(self, fit: "_Fit", rng: np.random.Generator, candidates: int, trials: int) -> "_Fit":
        """One more centre: `candidates` points drawn by D^2 sampling are ranked by the inertia
        they would leave if added as they are (greedy k-means++); Lloyd runs from the best
        `trials` of them, and the best result is kept."""
        cost = fit.nearest * self.w
        total = cost.sum()
        if total <= 0:  # every point already sits on a centre: any new one is as good
            picks = rng.choice(self.P.shape[0], size=candidates)
        else:
            picks = rng.choice(self.P.shape[0], size=candidates, p=cost / total)
        cand = self.P[picks]
        to_cand = self.sq[:, None] - 2.0 * (self.P @ cand.T) + (cand * cand).sum(axis=1)
        left = (self.w[:, None] * np.minimum(fit.nearest[:, None], to_cand)).sum(axis=0)
        best = None
        for j in picks[np.argsort(left, kind="stable")[:trials]]:
            result = self.lloyd(np.vstack([fit.C, self.P[j]]))
            if best is None or result.inertia < best.inertia:
                best = result
        return best

    def drop_centre(self, fit: "_Fit") -> "_Fit":
        """Lloyd from fit's centres minus the one whose removal raises the inertia least."""
        second = fit.G.copy()
        second[fit.labels, self.cols] = np.inf
        raise_by = second.min(axis=0).astype(np.float64) - fit.G[fit.labels, self.cols]
        cost = np.bincount(fit.labels, weights=self.w * raise_by, minlength=fit.C.shape[0])
        return self.lloyd(np.delete(fit.C, int(np.argmin(cost)), axis=0))


class _Fit(NamedTuple):
    C: np.ndarray           # centres
    inertia: float          # on the compressed points
    G: np.ndarray           # scores (centres x points, float32) of C
    labels: np.ndarray
    nearest: np.ndarray     # squared distance of each point to its centre


# --- 3. exact objective on all rows ------------------------------------------------------------
class _Rows:
    """All rows, prepared once for the exact passes: [X, 1] column-major, so that one product
    gives ||x - c||^2 - ||x||^2 = -2 x.c + ||c||^2 for every centre and row, as a (k, rows)
    block whose minimum down the columns is a vectorised reduction (numpy's minimum along rows
    of k values costs ~20x more), and ||x||^2 per row."""

    def __init__(self, X: np.ndarray):
        self.X = X
        self.XaT = np.vstack([X.T, np.ones((1, X.shape[0]))])   # (d + 1, n)
        self.sq = np.einsum("ij,ij->i", X, X)

    def inertia(self, C: np.ndarray, with_labels: bool = False):
        """The k-means objective of centres C on all rows: sum of squared distances to the nearest
        centre, float64 (and each row's nearest centre when asked)."""
        CaT = np.hstack([-2.0 * C, np.einsum("ij,ij->i", C, C)[:, None]])   # (k, d + 1)
        labels = np.empty(self.X.shape[0], dtype=np.intp) if with_labels else None
        total = 0.0
        for start in range(0, self.X.shape[0], _CHUNK):
            scores = CaT @ self.XaT[:, start:start + _CHUNK]
            if with_labels:
                lab = scores.argmin(axis=0)
                labels[start:start + _CHUNK] = lab
                best = scores[lab, np.arange(scores.shape[1])]
            else:
                best = scores.min(axis=0)
            total += float(np.maximum(best + self.sq[start:start + _CHUNK], 0.0).sum())
        return (total, labels) if with_labels else total


def _exact(rows: _Rows, C: np.ndarray, refine_iters: int) -> tuple[np.ndarray, float]:
    if refine_iters <= 0:
        return C, rows.inertia(C)
    inertia, labels = rows.inertia(C, with_labels=True)
    for _ in range(refine_iters):   # full-data Lloyd: never raises the inertia; keep the best
        C_new = _weighted_means(rows.X, None, labels, C.shape[0], C)
        inertia_new, labels_new = rows.inertia(C_new, with_labels=True)
        if inertia_new >= inertia:
            break
        C, labels, inertia = C_new, labels_new, inertia_new
    return C, inertia


def inertia(X, C) -> float:
    """The k-means objective of centres C on the rows of X (float64)."""
    return _Rows(_as_matrix(X)).inertia(np.asarray(C, dtype=np.float64))


# --- the sweep ---------------------------------------------------------------------------------
def sweep(X_scaled, k_min: int, k_max: int, seed: int, progress: Progress | None = None, *,
          coreset_size: int = COMPRESSED_POINTS, candidates: int = CANDIDATES, trials: int = TRIALS,
          refine_iters: int = 0, n_threads: int = 2, direct_factor: float = DIRECT_FACTOR,
          log: Callable[[str], None] | None = None) -> SweepResult:
    """The elbow sweep with its centres (see the module docstring for how it works).

    `progress(k, inertia, elapsed)` is called as each k's exact inertia is known (k_max first);
    `log(message)` gets a line per phase (compression, forward chain).
    """
    from threadpoolctl import threadpool_limits  # ships with scikit-learn

    started = time.perf_counter()
    X = _as_matrix(X_scaled)
    check_k_range(X.shape[0], k_min, k_max)
    rng = np.random.default_rng(seed)
    # BLAS threads fight over 2 shared cores on these small products (measured: up to 10x slower);
    # parallelism comes from evaluating several k at once instead.
    with threadpool_limits(limits=1, user_api="blas"), ThreadPoolExecutor(max(1, n_threads)) as pool:
        size = max(int(coreset_size), 20 * k_max)
        direct = X.shape[0] <= direct_factor * size   # compression would keep too many points to pay
        if not direct:
            P, w, _ = compress(X, size, rng)
            direct = P.shape[0] <= k_max + EXTRA_K   # few distinct rows: nothing to gain either
        if direct:
            P, w = X, np.ones(X.shape[0])
        compressed_at = time.perf_counter()
        if log is not None:
            log(f"searching the {X.shape[0]:,} rows themselves (compression would not pay)" if direct else
                f"compressed {X.shape[0]:,} rows into {P.shape[0]:,} weighted points in "
                f"{compressed_at - started:.1f}s")
        pts = _Points(P, w)
        rows = _Rows(X)
        # The forward chain runs a few k past k_max so that k_max, too, gets a backward candidate.
        k_top = min(k_max + EXTRA_K, P.shape[0] - 1)
        forward = {}
        fit = pts.start()
        for k in range(2, k_top + 1):
            fit = pts.add_centre(fit, rng, candidates, trials)
            if k >= k_min:
                forward[k] = fit
        if log is not None:
            log(f"forward chain for k={k_min}..{k_max} (run to k={k_top}, so k_max too gets a "
                f"backward candidate) on the compressed points done at "
                f"{time.perf_counter() - started:.1f}s ({pts.iterations} Lloyd iterations); "
                "now the backward chain, and each k's exact inertia over all rows")
        futures = {}
        for k in range(k_top, k_min - 1, -1):
            if k < k_top:   # the backward chain: k+1's best fit minus one centre, against the forward one
                back = pts.drop_centre(fit)
                fit = back if back.inertia < forward[k].inertia else forward[k]
            if k <= k_max:
                futures[k] = pool.submit(_exact, rows, fit.C, refine_iters)
        searched_at = time.perf_counter()
        centres, inertias = {}, {}
        for k, future in futures.items():    # k_max first: the order they were submitted
            centres[k], inertias[k] = future.result()
            if progress is not None:
                progress(k, inertias[k], time.perf_counter() - started)
    ks = np.arange(k_min, k_max + 1)
    finished = time.perf_counter()
    phases = {"compress": compressed_at - started, "search": searched_at - compressed_at,
              "exact_wait": finished - searched_at, "lloyd_iterations": pts.iterations}
    return SweepResult(ks, np.array([inertias[k] for k in ks], dtype=np.float64),
                       [centres[k] for k in ks], int(P.shape[0]), finished - started, phases)


def elbow_sweep(X_scaled, k_min: int, k_max: int, seed: int,
                progress: Progress | None = None, **options) -> tuple[np.ndarray, np.ndarray]:
    """(ks, inertias) for k in [k_min, k_max]: the exact k-means objective on all rows of X_scaled.

    `progress(k, inertia, elapsed_seconds)` is called as each k's exact inertia is known.
    Deterministic for a given seed. Options: see `sweep`.
    """
    result = sweep(X_scaled, k_min, k_max, seed, progress, **options)
    return result.ks, result.inertias


# --- the knee --------------------------------------------------------------------------------
def choose_k(ks, inertias, k_override: int = 0) -> tuple[int, int | None, str]:
    """(chosen_k, knee_k, method) for an elbow curve.

    knee_k is Kneedle's knee (steps/knee.py: kneed's KneeLocator answer for curve="convex",
    direction="decreasing", computed with numpy and scipy, which the SKLearn image ships), or
    None when it finds none (a straight or concave curve). method is:
    - "override" when k_override > 0: chosen_k = k_override, which must lie in the swept range;
    - "kneedle" when Kneedle found a knee: chosen_k = knee_k;
    - "fallback" otherwise: chosen_k is the smallest k whose inertia has fallen by at least
      FALLBACK_SHARE (90%) of the whole drop from the first k to the last (k_min when the
      curve does not fall at all).
    """
    ks = np.asarray(ks)
    y = np.asarray(inertias, dtype=np.float64)
    if ks.ndim != 1 or ks.shape != y.shape or ks.size == 0:
        raise ValueError(f"ks and inertias must be 1-D and of equal, non-zero length (got {ks.shape}, {y.shape})")
    if not np.all(np.diff(ks) > 0) or not np.all(ks == np.round(ks)):
        raise ValueError("ks must be whole numbers in increasing order")
    if not np.isfinite(y).all():
        raise ValueError("inertias hold NaN or infinite values")
    ks = ks.astype(int)
    k_override = int(k_override or 0)
    if k_override < 0 or (k_override and not ks[0] <= k_override <= ks[-1]):
        raise ValueError(f"k_override={k_override} is outside the swept range [{ks[0]}, {ks[-1]}]: "
                         "pass a k in that range, or 0 to use the detected knee")
    knee = _kneedle(ks, y)
    if k_override:
        return k_override, knee, "override"
    if knee is not None:
        return knee, knee, "kneedle"
    return _fallback_k(ks, y), None, "fallback"


def _kneedle(ks: np.ndarray, y: np.ndarray) -> int | None:
    knee = kneedle(ks, y)
    return None if knee is None else int(knee)


def _fallback_k(ks: np.ndarray, y: np.ndarray) -> int:
    drop = y[0] - y
    total = drop[-1]
    if total <= 0:
        return int(ks[0])
    return int(ks[np.argmax(drop >= FALLBACK_SHARE * total)])
