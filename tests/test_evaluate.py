"""Metrics on hand-made cases with known answers, and Evaluate's main() on real data (deterministic)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from steps import evaluate, metrics, schema, train_kmeans, train_scaler
from test_artifacts import movie_count, tar_folder, write_vega_dataset


# --- metrics, known answers -----------------------------------------------------------------------
def blobs(per_cluster=30, k=4, seed=0):
    """k tight, far-apart groups: clusters separate perfectly."""
    rng = np.random.default_rng(seed)
    centres = np.arange(k)[:, None] * 100.0 * np.ones((1, 3))
    X = np.concatenate([c + rng.normal(scale=0.5, size=(per_cluster, 3)) for c in centres])
    return X, np.repeat(np.arange(k), per_cluster)


def test_recall_is_one_when_clusters_separate_perfectly():
    X, labels = blobs()
    assert metrics.recall_at_k(X, labels, np.arange(len(X)), 10) == pytest.approx(1.0)


def test_recall_is_low_for_a_random_assignment():
    X, _ = blobs()
    labels = np.random.default_rng(1).integers(0, 4, size=len(X))
    assert metrics.recall_at_k(X, labels, np.arange(len(X)), 10) < 0.5


def test_recall_counts_a_too_small_cluster_against_k():
    # 1-D points; the query 0.0 sits alone in its cluster with one neighbour: 1 hit out of k=2.
    X = np.array([[0.0], [1.0], [2.0], [10.0]])
    labels = np.array([0, 0, 1, 1])
    assert metrics.recall_at_k(X, labels, np.array([0]), 2) == pytest.approx(0.5)


def test_recall_treats_ties_at_the_kth_distance_as_hits():
    # Query 0 has neighbours at distance 1 on both sides; either one is a correct top-1.
    X = np.array([[0.0], [1.0], [-1.0]])
    assert metrics.recall_at_k(X, np.array([0, 1, 0]), np.array([0]), 1) == pytest.approx(1.0)


def test_recall_rejects_impossible_k():
    X, labels = blobs(per_cluster=2, k=2)
    with pytest.raises(ValueError, match="recall k=4"):
        metrics.recall_at_k(X, labels, np.arange(4), 4)


def test_gini_and_sizes():
    assert metrics.gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert metrics.gini(np.array([0, 0, 0, 12])) == pytest.approx(0.75)   # (n-1)/n for one holding all
    sizes = metrics.cluster_sizes(np.array([0, 0, 0, 2]), 3)
    assert sizes == {"min": 0, "max": 3, "gini": pytest.approx(metrics.gini(np.array([3, 0, 1]))),
                     "max_share": 0.75, "counts": [3, 0, 1]}
    with pytest.raises(ValueError, match="must lie in 0..1"):
        metrics.cluster_sizes(np.array([0, 2]), 2)


def test_silhouette_known_cases():
    X, labels = blobs()
    assert metrics.silhouette(X, labels, 0, 0) > 0.95
    assert metrics.silhouette(X, np.zeros(len(X), dtype=int), 0, 0) == -1.0   # one cluster: worst
    # A seeded sample gives the same figure twice, and differs from another seed's only a little.
    a, b = metrics.silhouette(X, labels, 50, 7), metrics.silhouette(X, labels, 50, 7)
    assert a == b


# --- Evaluate main() on real data -------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("evaluate")
    features_dir, _ = write_vega_dataset(root / "data")
    assert train_scaler.main(["--features", str(features_dir), "--model-dir", str(root / "scaler")]) == 0
    tar_folder(root / "scaler", root / "scaler_channel" / schema.MODEL_TARBALL)
    placeholder = root / "inference.py"
    placeholder.write_text("# placeholder serving handler (test only)\n")
    with pytest.MonkeyPatch.context() as mp:
        from steps import artifacts
        mp.setattr(artifacts, "default_inference_source", lambda: placeholder)
        assert train_kmeans.main(["--k", "12", "--features", str(features_dir),
                                  "--scaler-dir", str(root / "scaler_channel"), "--model-dir", str(root / "model")]) == 0
    tar_folder(root / "model", root / "model_channel" / schema.MODEL_TARBALL)
    return root, features_dir


def run_evaluate(root, features_dir, out_name, *extra):
    out = root / out_name
    assert evaluate.main(["--features", str(features_dir), "--model", str(root / "model_channel"),
                          "--output", str(out), "--silhouette-sample", "800", "--recall-queries", "200",
                          "--seed", "5", *extra]) == 0
    return out


def test_main_writes_the_contract_shape_deterministically(trained, capsys):
    root, features_dir = trained
    first = run_evaluate(root, features_dir, "eval1")
    second = run_evaluate(root, features_dir, "eval2")
    assert (first / schema.EVALUATION_JSON).read_bytes() == (second / schema.EVALUATION_JSON).read_bytes()
    result = json.loads((first / schema.EVALUATION_JSON).read_text())
    n = movie_count(features_dir)
    assert result["k"] == 12 and result["n_movies"] == n and result["recall_k"] == 10
    assert -1 <= result["silhouette"] <= 1 and 0 < result["recall_at_k"] <= 1
    sizes = result["cluster_sizes"]
    assert sum(sizes["counts"]) == n and len(sizes["counts"]) == 12
    assert sizes["max_share"] == pytest.approx(sizes["max"] / n)
    assert {m: v["value"] for m, v in result["clustering_metrics"].items()}["silhouette"] == result["silhouette"]
    assert "recall@10 200/200 queries" in capsys.readouterr().out


def test_a_random_assignment_scores_below_the_model(trained):
    root, features_dir = trained
    from steps import artifacts
    features = artifacts.read_features(features_dir)
    model, _ = artifacts.load_model(root / "model_channel")
    Xs = model.named_steps["scaler"].transform(features.X)
    good = evaluate.evaluate_clustering(Xs, model.predict(features.X), 12, 800, 200, 10, 5, log=lambda m: None)
    random_labels = np.random.default_rng(0).integers(0, 12, size=len(Xs))
    bad = evaluate.evaluate_clustering(Xs, random_labels, 12, 800, 200, 10, 5, log=lambda m: None)
    assert bad["recall_at_k"] < good["recall_at_k"] / 2 and bad["silhouette"] < 0 < good["silhouette"]


def test_tampered_model_fails_the_step(trained, tmp_path, capsys):
    import shutil
    root, features_dir = trained
    shutil.copytree(root / "model", tmp_path / "model")
    with open(tmp_path / "model" / schema.MODEL_JOBLIB, "ab") as handle:
        handle.write(b"x")
    assert evaluate.main(["--features", str(features_dir), "--model", str(tmp_path / "model"),
                          "--output", str(tmp_path / "out")]) == 2
    assert "does not match the digest recorded when it was written" in capsys.readouterr().err
