"""Metrics on hand-made cases with known answers, and Evaluate's main() on real data (deterministic).

Evaluate also compares with the production model (newest Approved package): through the local
registry stand-in (MYFLIX_LOCAL_ROOT) and under moto's SageMaker + S3.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from test_artifacts import movie_count, tar_folder, write_vega_dataset

from steps import evaluate, metrics, schema


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
# Every test of this file (Evaluate's runs above all) uses the local stand-ins, tests/steps/conftest.py's
# local_root: an empty registry, nothing in production.
pytestmark = pytest.mark.usefixtures("local_root")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, train_kmeans_channel):
    root = tmp_path_factory.mktemp("evaluate")
    features_dir, _ = write_vega_dataset(root / "data")
    train_kmeans_channel(root, features_dir, k=12)         # root/model_channel/model.tar.gz
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
    # nothing in production: the drift and churn checks pass by definition, and say so
    assert result["baseline"] is None and result["similar_churn"] == 0.0 and result["max_feature_psi"] == 0.0
    assert result["drift"]["status"].startswith("no production model")
    assert result["clustering_metrics"]["similar_churn"] == {"value": 0.0}
    assert "adjusted_rand_index" not in result["clustering_metrics"]
    assert json.loads((first / evaluate.DRIFT_JSON).read_text())["baseline"] is None


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


# --- against production ---------------------------------------------------------------------------
def store_package(root, version, model_tarball, features_dir, status="Approved", features_key=True):
    """A registered package in the local stand-ins: its files in the store, its registry record."""
    prefix = f"s3://myflix-local/runs/test/{version}"
    store = root / "s3" / "myflix-local" / "runs" / "test" / str(version)
    (store / "model").mkdir(parents=True)
    shutil.copyfile(model_tarball, store / "model" / schema.MODEL_TARBALL)
    shutil.copytree(features_dir, store / "features")
    arn = f"arn:aws:sagemaker:us-east-1:000000000000:model-package/{schema.MODEL_PACKAGE_GROUP}/{version}"
    record = {"ModelPackageGroupName": schema.MODEL_PACKAGE_GROUP, "ModelPackageVersion": version,
              "ModelPackageArn": arn, "ModelApprovalStatus": status,
              "InferenceSpecification": {"Containers": [{"ModelDataUrl": f"{prefix}/model/{schema.MODEL_TARBALL}"}]},
              "CustomerMetadataProperties": {"myflix_execution_id": f"exec{version}"}}
    if features_key:
        record["CustomerMetadataProperties"]["myflix_features_uri"] = f"{prefix}/features"
    path = root / "registry" / schema.MODEL_PACKAGE_GROUP / f"{version}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return arn


@pytest.fixture(scope="module")
def perturbed(trained, train_kmeans_channel):
    """A second model on a changed catalogue: 15% of the movies gone, votes doubled for a third."""
    import pandas as pd
    root, features_dir = trained
    pdir = root / "perturbed_features"
    shutil.copytree(features_dir, pdir)
    frame = pd.read_parquet(pdir / schema.FEATURES_PARQUET)
    rng = np.random.default_rng(11)
    frame = frame.loc[rng.random(len(frame)) > 0.15].reset_index(drop=True)
    boost = rng.random(len(frame)) < 1 / 3
    frame.loc[boost, "numVotes"] = frame.loc[boost, "numVotes"] * 2
    frame.to_parquet(pdir / schema.FEATURES_PARQUET, index=False)
    return train_kmeans_channel(root, pdir, k=12, prefix="p") / schema.MODEL_TARBALL, pdir


def test_the_same_model_in_production_shows_no_drift_and_no_churn(trained, local_root, capsys):
    root, features_dir = trained
    arn = store_package(local_root, 1, root / "model_channel" / schema.MODEL_TARBALL, features_dir)
    store_package(local_root, 2, root / "model_channel" / schema.MODEL_TARBALL, features_dir,
                  status="PendingManualApproval")          # newer but not approved: not production
    out = run_evaluate(root, features_dir, "eval_same")
    result = json.loads((out / schema.EVALUATION_JSON).read_text())
    assert result["baseline"]["model_package_arn"] == arn and result["baseline"]["execution_id"] == "exec1"
    assert result["similar_churn"] == 0.0 and result["max_feature_psi"] == pytest.approx(0.0, abs=1e-12)
    assert result["churn"]["adjusted_rand_index"] == pytest.approx(1.0)
    assert result["clustering_metrics"]["adjusted_rand_index"]["value"] == pytest.approx(1.0)
    assert result["drift"]["movies"]["added"] == 0 and result["drift"]["status"] == "compared with version 1"
    report = json.loads((out / evaluate.DRIFT_JSON).read_text())
    assert set(report["features"]) == set(json.loads((features_dir / schema.FEATURES_JSON).read_text())["features"])
    assert "against production: largest feature PSI 0.000" in capsys.readouterr().out


def test_a_changed_catalogue_shows_drift_and_churn(trained, perturbed, local_root):
    root, features_dir = trained
    ptar, pdir = perturbed
    store_package(local_root, 1, root / "model_channel" / schema.MODEL_TARBALL, features_dir)
    out = run_evaluate(root, pdir, "eval_changed", "--model", str(ptar.parent))
    result = json.loads((out / schema.EVALUATION_JSON).read_text())
    report = json.loads((out / evaluate.DRIFT_JSON).read_text())
    assert result["drift"]["movies"]["removed"] == report["movies"]["removed"] > 0.1 * movie_count(features_dir)
    assert result["drift"]["max_psi_feature"] == "numVotes" and result["max_feature_psi"] > 0.02
    assert 0.0 < result["similar_churn"] < 1.0 and result["churn"]["mean_overlap"] < 1.0
    assert result["churn"]["adjusted_rand_index"] < 1.0
    assert report["genres"]["Drama"]["before"] > 0


def test_baseline_none_skips_and_an_arn_picks_a_version(trained, local_root):
    root, features_dir = trained
    old = store_package(local_root, 1, root / "model_channel" / schema.MODEL_TARBALL, features_dir)
    out = run_evaluate(root, features_dir, "eval_none", "--baseline-package", "none")
    result = json.loads((out / schema.EVALUATION_JSON).read_text())
    assert result["baseline"] is None and "skipped" in result["drift"]["status"]
    out = run_evaluate(root, features_dir, "eval_arn", "--baseline-package", old)
    assert json.loads((out / schema.EVALUATION_JSON).read_text())["baseline"]["version"] == 1


def test_a_production_package_without_features_or_with_a_tampered_model_fails(trained, local_root, tmp_path, capsys):
    root, features_dir = trained
    store_package(local_root, 1, root / "model_channel" / schema.MODEL_TARBALL, features_dir, features_key=False)
    args = ["--features", str(features_dir), "--model", str(root / "model_channel"), "--output", str(tmp_path / "o")]
    assert evaluate.main(args) == 2
    assert "has no myflix_features_uri metadata" in capsys.readouterr().err
    # a production model whose model.joblib no longer matches its digest
    shutil.copytree(root / "model", tmp_path / "bad")
    with open(tmp_path / "bad" / schema.MODEL_JOBLIB, "ab") as handle:
        handle.write(b"x")
    tar_folder(tmp_path / "bad", tmp_path / "bad.tar.gz")
    store_package(local_root, 2, tmp_path / "bad.tar.gz", features_dir)
    assert evaluate.main(args) == 2
    assert "does not match the digest recorded" in capsys.readouterr().err
    assert not (tmp_path / "o" / schema.EVALUATION_JSON).exists()


def test_production_found_through_sagemaker_and_s3_under_moto(trained, monkeypatch, aws_credentials):
    import boto3
    from moto import mock_aws
    root, features_dir = trained
    monkeypatch.delenv("MYFLIX_LOCAL_ROOT")
    # No region in the environment (a processing job is not promised one): the definition's
    # --region argument is what the step uses.
    for key in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(key, raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="myflix-data")
        s3.upload_file(str(root / "model_channel" / schema.MODEL_TARBALL), "myflix-data", "runs/p/e1/model.tar.gz")
        for name in (schema.FEATURES_PARQUET, schema.FEATURES_JSON):
            s3.upload_file(str(features_dir / name), "myflix-data", f"runs/p/e1/Preprocess/features/{name}")
        sm = boto3.client("sagemaker", region_name="us-east-1")
        sm.create_model_package_group(ModelPackageGroupName=schema.MODEL_PACKAGE_GROUP)
        container = {"Image": "sklearn", "ModelDataUrl": "s3://myflix-data/runs/p/e1/model.tar.gz"}
        spec = {"Containers": [container], "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"]}
        first = sm.create_model_package(
            ModelPackageGroupName=schema.MODEL_PACKAGE_GROUP, InferenceSpecification=spec,
            ModelApprovalStatus="Approved",
            CustomerMetadataProperties={"myflix_features_uri": "s3://myflix-data/runs/p/e1/Preprocess/features"})
        sm.create_model_package(ModelPackageGroupName=schema.MODEL_PACKAGE_GROUP, InferenceSpecification=spec,
                                ModelApprovalStatus="Rejected")
        out = run_evaluate(root, features_dir, "eval_moto", "--region", "us-east-1")
    result = json.loads((out / schema.EVALUATION_JSON).read_text())
    assert result["baseline"]["model_package_arn"] == first["ModelPackageArn"]
    assert result["similar_churn"] == 0.0 and result["churn"]["adjusted_rand_index"] == pytest.approx(1.0)
