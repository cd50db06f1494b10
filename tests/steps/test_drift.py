"""steps/drift.py on hand-made cases with known answers."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from steps import drift


def test_psi_is_zero_for_the_same_sample_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x = rng.normal(size=5000)
    assert drift.psi(x, x) == pytest.approx(0.0, abs=1e-12)
    same_law = drift.psi(x, rng.normal(size=5000))
    small = drift.psi(x, rng.normal(loc=0.1, size=5000))
    large = drift.psi(x, rng.normal(loc=1.0, size=5000))
    assert same_law < 0.02 and same_law < small < 0.1 < 0.25 < large


def test_psi_of_a_flag_is_the_two_category_formula():
    before = np.array([1.0] * 20 + [0.0] * 80)     # share 0.2
    after = np.array([1.0] * 40 + [0.0] * 60)      # share 0.4
    expected = (0.4 - 0.2) * np.log(0.4 / 0.2) + (0.6 - 0.8) * np.log(0.6 / 0.8)
    assert drift.psi(before, after) == pytest.approx(expected)


def test_psi_stays_finite_when_a_bin_empties():
    before = np.arange(1000, dtype=float)
    after = np.arange(500, 1000, dtype=float)       # the lower half is gone
    value = drift.psi(before, after)
    assert np.isfinite(value) and value > 1.0
    with pytest.raises(ValueError):
        drift.psi(before, np.array([]))


def test_feature_drift_uses_scipy_ks_and_reports_means():
    rng = np.random.default_rng(1)
    b, a = rng.normal(size=(300, 2)), rng.normal(loc=[0.0, 2.0], size=(400, 2))
    out = drift.feature_drift(b, a, ["x", "y"])
    assert out["y"]["ks"] == pytest.approx(ks_2samp(b[:, 1], a[:, 1]).statistic)
    assert out["y"]["psi"] > out["x"]["psi"] and out["y"]["mean_after"] == pytest.approx(a[:, 1].mean())
    with pytest.raises(ValueError, match="2 names for 3"):
        drift.feature_drift(np.zeros((2, 3)), np.zeros((2, 3)), ["x", "y"])


def test_genre_shares_and_catalogue_changes():
    names = ["startYear", "Comedy", "Drama"]
    before = np.array([[2000, 1, 0], [2001, 1, 1], [2002, 0, 1], [2003, 0, 1]], dtype=float)
    after = np.array([[2000, 1, 0], [2004, 0, 0]], dtype=float)
    shares = drift.genre_shares(before, after, names, ["Comedy", "Drama", "Western"])
    assert shares == {"Comedy": {"before": 0.5, "after": 0.5, "change": 0.0},
                      "Drama": {"before": 0.75, "after": 0.0, "change": -0.75}}
    movies = drift.catalogue_changes(np.array(["a", "b", "c"]), np.array(["b", "c", "d", "e"]))
    assert movies == {"before": 3, "after": 4, "common": 2, "added": 2, "removed": 1,
                      "added_examples": ["d", "e"], "removed_examples": ["a"]}


def test_top_k_is_exact_and_orders_ties_by_row():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 4))
    got = drift.top_k(X, np.arange(300), 10)
    d = ((X[:, None, :] - X[None, :, :]) ** 2).sum(axis=2)
    np.fill_diagonal(d, np.inf)
    assert (got == np.argsort(d, axis=1, kind="stable")[:, :10]).all()
    line = np.array([[0.0], [1.0], [-1.0], [2.0], [-2.0]])     # 1 and 2 tie for query 0, as 3 and 4
    assert drift.top_k(line, np.array([0]), 4).tolist() == [[1, 2, 3, 4]]
    with pytest.raises(ValueError, match="top-5 needs at least 6"):
        drift.top_k(line, np.array([0]), 5)


def test_similar_churn_none_when_nothing_changes_all_when_scrambled():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 5))
    ids = np.array([f"tt{i:05d}" for i in range(400)])
    same = drift.similar_churn(X, ids, X[::-1], ids[::-1], 10, 0, 0)    # row order does not matter
    assert same["similar_churn"] == 0.0 and same["mean_overlap"] == 1.0 and same["queries"] == 400
    assert same["overlap_histogram"][10] == 400
    scrambled = drift.similar_churn(X, ids, X, rng.permutation(ids), 10, 100, 0)
    assert scrambled["similar_churn"] > 0.95 and scrambled["queries"] == 100


def test_similar_churn_counts_removed_neighbours_as_changes():
    # Points on a line: each one's 2 nearest are its two neighbours. Dropping every odd point
    # replaces both neighbours of every kept point but 0, which keeps 2 (half its list: no churn).
    X = np.arange(20, dtype=float)[:, None]
    ids = np.array([f"m{i:02d}" for i in range(20)])
    keep = np.arange(0, 20, 2)
    out = drift.similar_churn(X, ids, X[keep], ids[keep], 2, 0, 0)
    assert out["queries"] == 10 and out["k"] == 2
    assert out["mean_overlap"] == pytest.approx(0.05) and out["similar_churn"] == pytest.approx(0.9)
    assert out["overlap_histogram"] == [9, 1, 0]


def test_adjusted_rand_on_common_movies_ignores_label_names():
    ids = np.array(["a", "b", "c", "d", "e", "f"])
    labels = np.array([0, 0, 1, 1, 2, 2])
    assert drift.adjusted_rand(labels, ids, (labels + 1) % 3, ids) == pytest.approx(1.0)
    assert drift.adjusted_rand(labels, ids, np.array([0, 1, 0, 1, 0, 1]), ids) < 0.1
    # only the common movies count: the extra movie "z" does not change the figure
    assert drift.adjusted_rand(labels, ids, np.append(labels, 0), np.append(ids, "z")) == pytest.approx(1.0)
    assert drift.adjusted_rand(labels, ids, np.array([0]), np.array(["q"])) is None


def test_drift_report_names_the_worst_feature():
    rng = np.random.default_rng(4)
    b = rng.normal(size=(500, 3))
    a = b + np.array([0.0, 0.0, 3.0])
    ids = np.array([str(i) for i in range(500)])
    report = drift.drift_report(b, ids, a, ids, ["x", "y", "Comedy"], [])
    assert report["max_psi_feature"] == "Comedy" and report["max_feature_psi"] == report["features"]["Comedy"]["psi"]
    assert report["movies"]["added"] == 0 and report["max_ks"] > 0.8


# --- the plot, drawn outside the containers (reports/drift.py) ----------------------------
def test_drift_png_is_drawn_beside_a_comparison_and_repeats_byte_for_byte(tmp_path):
    import json

    from reports import drift as drift_plot
    rng = np.random.default_rng(5)
    names = ["startYear", "runtimeMinutes", "Comedy", "Drama", "averageRating", "numVotes"]
    before = np.column_stack([rng.integers(1950, 2015, 400), rng.normal(100, 20, 400),
                              rng.random(400) < 0.3, rng.random(400) < 0.5, rng.normal(6.5, 1, 400),
                              rng.lognormal(8, 1, 400)]).astype(float)
    after = before[:350].copy()
    after[:, 5] *= 2.0
    ids = np.array([f"tt{i:05d}" for i in range(400)])
    report = drift.drift_report(before, ids, after, ids[:350], names, ["Comedy", "Drama"])
    report["churn"] = drift.similar_churn(before, ids, after, ids[:350], 10, 0, 0)
    report["churn"]["adjusted_rand_index"] = 0.7
    report.update(status="compared with version 1", baseline={"version": 1})
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "drift.json").write_text(json.dumps(report))
    (written,) = drift_plot.render(tmp_path / "a")
    assert written == tmp_path / "a" / "drift.png" and written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    first = written.read_bytes()
    assert drift_plot.render(tmp_path / "a")[0].read_bytes() == first
    # nothing in production: nothing to draw
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "drift.json").write_text(json.dumps({"status": "no production model", "baseline": None}))
    assert drift_plot.render(tmp_path / "b") == [] and not (tmp_path / "b" / "drift.png").exists()
    assert drift_plot.render(tmp_path / "c") == []


def test_run_summary_lines_show_the_figures_or_why_there_are_none():
    from reports.drift import summary_lines
    assert summary_lines({"silhouette": 0.2}) == []
    first = {"baseline": None,
             "drift": {"status": "no production model (no Approved package in g): passes by definition"},
             "churn": {"status": "no production model", "similar_churn": 0.0}}
    assert summary_lines(first) == [
        "against production: no production model (no Approved package in g): passes by definition"]
    second = {"baseline": {"version": 1, "model_package_arn": "arn:x/1"},
              "drift": {"max_feature_psi": 0.118, "max_psi_feature": "numVotes", "max_ks": 0.079,
                        "movies": {"added": 0, "removed": 720, "common": 8448}},
              "churn": {"similar_churn": 0.008, "queries": 2000, "k": 10, "mean_overlap": 0.924,
                        "adjusted_rand_index": 0.655}}
    text = "\n".join(summary_lines(second))
    assert "version 1" in text and "PSI 0.118 (numVotes)" in text and "-720" in text
    assert "0.8% of 2,000 movies' top-10" in text and "adjusted Rand index 0.655" in text
