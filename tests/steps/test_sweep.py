"""steps/sweep.py: the knee choice, the exact objective, quality against scikit-learn, determinism, bad input.

Real data: the bundled demo films (bokeh-sampledata, 9,168 movies after Preprocess's default
filters), standardised as TrainScaler does. At that size the sweep compresses (about 4,100
points); `direct_factor=3` makes it search the rows themselves instead (the path it takes below
~6,000 rows), so both paths are tested on real data.
"""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from imdb_fixtures import cached_preprocess
from steps import artifacts
from steps.sweep import binary_columns, choose_k, compress, elbow_sweep, inertia, sweep


@pytest.fixture(scope="module")
def demo_scaled() -> np.ndarray:
    features = artifacts.read_features(cached_preprocess("demo")["features"])
    return StandardScaler().fit_transform(features.X)


PATHS = {"direct": {"direct_factor": 3}, "compressed": {}}


@pytest.fixture(scope="module", params=sorted(PATHS))
def path(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def demo_sweep(demo_scaled, path):
    return sweep(demo_scaled, 2, 10, seed=42, **PATHS[path])


# --- the knee ----------------------------------------------------------------------------------
def test_knee_of_a_curve_with_a_clear_elbow():
    ks = np.arange(2, 21)
    inertia = np.where(ks <= 8, 1000 - 110 * (ks - 2), 340 - 5 * (ks - 8)).astype(float)
    assert choose_k(ks, inertia) == (8, 8, "kneedle")


def test_no_knee_falls_back_to_ninety_percent_of_the_drop():
    ks = np.arange(2, 22)
    inertia = 500.0 - 10.0 * ks                      # a straight line: Kneedle finds nothing
    chosen, knee, method = choose_k(ks, inertia)
    assert (knee, method) == (None, "fallback")
    # the drop from k=2 is 10*(k-2); 90% of the whole drop (190) is first reached at k=20
    assert chosen == 20


def test_flat_curve_falls_back_to_k_min():
    assert choose_k([3, 4, 5, 6], [7.0, 7.0, 7.0, 7.0]) == (3, None, "fallback")


def test_override_wins_and_keeps_the_knee():
    ks = np.arange(2, 21)
    inertia = np.where(ks <= 8, 1000 - 110 * (ks - 2), 340 - 5 * (ks - 8)).astype(float)
    assert choose_k(ks, inertia, k_override=12) == (12, 8, "override")
    for bad in (1, 21, -3):
        with pytest.raises(ValueError, match="outside the swept range"):
            choose_k(ks, inertia, k_override=bad)


def test_choose_k_rejects_malformed_curves():
    with pytest.raises(ValueError, match="equal"):
        choose_k([2, 3, 4], [3.0, 2.0])
    with pytest.raises(ValueError, match="increasing"):
        choose_k([2, 4, 3], [3.0, 2.0, 1.0])
    with pytest.raises(ValueError, match="NaN"):
        choose_k([2, 3, 4], [3.0, np.nan, 1.0])


# --- the sweep ---------------------------------------------------------------------------------
def test_inertia_is_the_true_objective_on_all_rows(demo_scaled, demo_sweep, path):
    assert list(demo_sweep.ks) == list(range(2, 11))
    if path == "direct":
        assert demo_sweep.compressed_points == len(demo_scaled)
    else:
        assert demo_sweep.compressed_points < len(demo_scaled)
    for k, C, reported in zip(demo_sweep.ks, demo_sweep.centres, demo_sweep.inertias):
        assert C.shape == (k, demo_scaled.shape[1])
        brute = ((demo_scaled[:, None, :] - C[None, :, :]) ** 2).sum(axis=2).min(axis=1).sum()
        assert reported == pytest.approx(brute, rel=1e-10)


def test_within_one_percent_of_scikit_learn_at_every_k(demo_scaled, demo_sweep):
    for k, ours in zip(demo_sweep.ks, demo_sweep.inertias):
        with threadpool_limits(1):   # the same fit, without OpenMP threads spinning on a busy machine
            plain = KMeans(n_clusters=int(k), n_init=1, random_state=42).fit(demo_scaled).inertia_
        assert ours <= plain * 1.01, f"k={k}: {ours:.1f} vs scikit-learn {plain:.1f}"


def test_mean_inertia_within_a_tenth_of_a_percent_of_the_best_known(demo_scaled, demo_sweep):
    # best known per k: the lower of scikit-learn's best of 4 k-means++ starts and ours
    with threadpool_limits(1):
        sklearn_best = np.array([KMeans(n_clusters=int(k), n_init=4, random_state=7).fit(demo_scaled).inertia_
                                 for k in demo_sweep.ks])
    best = np.minimum(sklearn_best, demo_sweep.inertias)
    excess = (demo_sweep.inertias - best) / best
    assert excess.mean() <= 0.001, f"mean excess {excess.mean():.4%} per k: {np.round(excess * 100, 3)}"


def test_inertia_falls_with_k(demo_sweep):
    assert np.all(np.diff(demo_sweep.inertias) < 0)


def test_same_seed_same_curve_and_progress_per_k(demo_scaled, demo_sweep, path):
    seen = []
    ks, inertias = elbow_sweep(demo_scaled, 2, 10, 42, progress=lambda k, i, t: seen.append((k, i, t)),
                               **PATHS[path])
    assert np.array_equal(ks, demo_sweep.ks)
    assert np.array_equal(inertias, demo_sweep.inertias)       # bit for bit
    again = sweep(demo_scaled, 2, 10, seed=42, **PATHS[path])
    assert all(np.array_equal(a, b) for a, b in zip(again.centres, demo_sweep.centres))
    assert sorted(k for k, _, _ in seen) == list(range(2, 11))
    assert all(t >= 0 and i == inertias[k - 2] for k, i, t in seen)


def test_small_input_is_swept_without_compression():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(c, 0.1, size=(40, 3)) for c in ((0, 0, 0), (5, 0, 0), (0, 5, 0))])
    result = sweep(X, 2, 5, seed=1)
    assert result.compressed_points == len(X)
    # three tight blobs: the big drop is from 2 to 3
    assert result.inertias[0] > 10 * result.inertias[1]


@pytest.mark.parametrize("k_min,k_max,message", [
    (1, 5, "k_min >= 2"),
    (6, 5, "smaller than k_min"),
    (2, 120, "smaller than the number of movies"),
])
def test_bad_k_range_is_refused(k_min, k_max, message):
    X = np.random.default_rng(0).normal(size=(120, 4))
    with pytest.raises(ValueError, match=message):
        elbow_sweep(X, k_min, k_max, 0)


def test_non_finite_rows_are_refused_with_a_count():
    X = np.random.default_rng(0).normal(size=(50, 4))
    X[[3, 7], 1] = np.nan
    with pytest.raises(ValueError, match="2 of 50 rows"):
        elbow_sweep(X, 2, 4, 0)


# --- the compression -----------------------------------------------------------------------------
def test_compression_keeps_every_row_and_never_mixes_genre_combinations(demo_scaled):
    points, weights, row_label = compress(demo_scaled, 1500, np.random.default_rng(3))
    binary = binary_columns(demo_scaled)
    genres = np.arange(2, 24)                                  # the one-hot genre columns...
    present = genres[demo_scaled[:, genres].std(axis=0) > 0]   # ...that some film has
    assert np.array_equal(binary, present)
    assert weights.sum() == len(demo_scaled)
    assert np.array_equal(np.bincount(row_label), weights)
    # every point is the mean of its rows
    for label in (0, len(points) // 2, len(points) - 1):
        assert np.allclose(points[label], demo_scaled[row_label == label].mean(axis=0))
    # rows of one point share every genre: the point's genre values are exactly the rows' values
    lo, hi = demo_scaled[:, binary].min(axis=0), demo_scaled[:, binary].max(axis=0)
    # (to rounding: a point is a sum of equal values divided by their count)
    values = points[:, binary]
    assert np.all(np.isclose(values, lo, rtol=0, atol=1e-9) | np.isclose(values, hi, rtol=0, atol=1e-9))


def test_full_data_refinement_never_raises_the_inertia(demo_scaled, demo_sweep, path):
    refined = sweep(demo_scaled, 2, 10, seed=42, refine_iters=2, **PATHS[path])
    assert np.all(refined.inertias <= demo_sweep.inertias)
    for C, reported in zip(refined.centres, refined.inertias):
        assert reported == pytest.approx(inertia(demo_scaled, C), rel=1e-12)


def test_data_without_binary_columns_is_compressed_in_two_levels():
    # no genre structure at all: one group, split in two levels (sqrt(m) coarse cells first)
    X = np.random.default_rng(5).normal(size=(6000, 3))
    points, weights, row_label = compress(X, 1000, np.random.default_rng(0))
    assert binary_columns(X).size == 0
    assert 500 < len(points) <= 1000 + int(0.005 * len(X)) + 1
    assert weights.sum() == len(X) and np.all(weights > 0)
    result = sweep(X, 2, 6, seed=0, coreset_size=1000)
    for k, ours in zip(result.ks, result.inertias):
        plain = KMeans(n_clusters=int(k), n_init=1, random_state=0).fit(X).inertia_
        assert ours <= plain * 1.01


def test_phases_are_logged(demo_scaled):
    lines = []
    sweep(demo_scaled, 2, 4, seed=1, log=lines.append)
    assert lines[0].startswith(f"compressed {len(demo_scaled):,} rows into")
    assert lines[1].startswith("forward chain for k=2..4 (run to k=7")   # the swept range first
    lines.clear()
    sweep(demo_scaled[:5000], 2, 4, seed=1, log=lines.append)    # below 1.5 x 4,000 rows
    assert lines[0].startswith("searching the 5,000 rows themselves")


def test_a_different_seed_is_as_good():
    # the direct path's result depends on the seed, its quality should not (real data, k 2..10)
    features = artifacts.read_features(cached_preprocess("demo")["features"])
    X = StandardScaler().fit_transform(features.X)
    a, b = sweep(X, 2, 10, seed=1, direct_factor=3), sweep(X, 2, 10, seed=2, direct_factor=3)
    assert not all(np.array_equal(x, y) for x, y in zip(a.centres, b.centres))
    assert np.all(abs(a.inertias - b.inertias) / np.minimum(a.inertias, b.inertias) < 0.02)


def test_fewer_distinct_rows_than_k_still_sweeps():
    # 5 distinct movies repeated: k >= 5 puts every row on a centre (inertia 0), as it should
    base = np.random.default_rng(2).normal(size=(5, 3))
    X = np.repeat(base, 900, axis=0)
    result = sweep(X, 2, 8, seed=0, coreset_size=200)
    assert np.all(result.inertias[3:] == pytest.approx(0.0, abs=1e-9))
    assert result.inertias[0] > result.inertias[1] > result.inertias[2] > 0
