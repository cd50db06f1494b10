"""TrainRecommender, and the recommender's way through Evaluate (ranking + gate) and Publish, on real files.

The viewers here are simulated (steps/simulated_viewers.py) over the vega movies' real catalogue:
they exercise the code paths; no figure below is taken as a quality of the model.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from test_artifacts import tar_folder, write_vega_dataset

from steps import (
    artifacts,
    evaluate,
    interactions,
    prepare_interactions,
    publish,
    recommender,
    schema,
    simulated_viewers,
    train_recommender,
)

ARN = "arn:aws:sagemaker:us-east-1:000000000000:model-package/myflix-movie-clusters/7"


@pytest.fixture(scope="module")
def world(tmp_path_factory, train_kmeans_channel):
    """features/, catalog/, the k-means model channel, and prepared interactions of 150 viewers."""
    root = tmp_path_factory.mktemp("recommender")
    features_dir, catalog_dir = write_vega_dataset(root / "data")
    model_channel = train_kmeans_channel(root, features_dir, k=6)
    catalog = pd.read_parquet(catalog_dir / schema.CATALOG_PARQUET)
    events = simulated_viewers.simulate(catalog, 150, seed=5)
    pairs, counts = interactions.prepare([(events, Counter())], catalog["tconst"], set())
    return {"root": root, "features": features_dir, "catalog": catalog_dir, "model": model_channel,
            "pairs": pairs, "counts": counts}


def interactions_dir(world, tmp_path, simulated: bool):
    report = {"source": "simulated" if simulated else "interactions_uri", "simulated": simulated,
              **world["counts"], "collaborative": "trained"}
    return prepare_interactions.write_outputs(world["pairs"], report, str(tmp_path / "interactions"))


def train(folder, tmp_path, monkeypatch, *argv):
    model_dir = tmp_path / "recommender"
    monkeypatch.setenv("SM_CHANNEL_INTERACTIONS", str(folder))
    monkeypatch.setenv("SM_MODEL_DIR", str(model_dir))
    assert train_recommender.main(list(argv)) == 0
    return model_dir


def test_tunes_then_saves_the_released_refit_and_the_heldout_fit(world, tmp_path, monkeypatch, capsys):
    folder = interactions_dir(world, tmp_path, simulated=True)
    # hyperparameters as the sagemaker-training toolkit spells them
    model_dir = train(folder, tmp_path, monkeypatch, "--min_interactions", "100.0", "--seed", "3",
                      "--ranking_k", "10")
    out = capsys.readouterr().out
    assert out.count("tune {") == len(train_recommender.TUNING_GRID["l2"]) and "SIMULATED" in out
    arrays, meta = recommender.load(model_dir)
    pairs = world["pairs"]
    assert meta["kind"] == "ease" and meta["simulated"] is True
    assert meta["params"]["l2"] in train_recommender.TUNING_GRID["l2"]
    assert meta["hybrid"] == recommender.HYBRID_PARAMS          # what Evaluate and the API serve with
    assert meta["n_interactions"] == len(pairs)                    # refit on every pair
    assert "ndcg_at_10" in meta["validation"]
    assert meta["params"]["neighbours"] == recommender.DEFAULTS["neighbours"]
    held_arrays, held_meta = recommender.load(model_dir / schema.RECOMMENDER_HELDOUT_DIR)
    assert held_meta["n_interactions"] == int((pairs["split"] != "test").sum())   # never saw the test pairs
    assert held_meta["params"] == meta["params"]
    assert list(arrays["items"]) == sorted(pairs["tconst"].unique())


def test_too_few_interactions_write_kind_none_with_the_reason(world, tmp_path, monkeypatch, capsys):
    folder = interactions_dir(world, tmp_path, simulated=False)
    model_dir = train(folder, tmp_path, monkeypatch, "--min_interactions", str(len(world["pairs"]) + 1))
    meta = json.loads((model_dir / schema.RECOMMENDER_JSON).read_text())
    assert meta["kind"] == "none"
    assert f"fewer than min_interactions={len(world['pairs']) + 1}" in meta["reason"]
    assert "collaborative skipped" in capsys.readouterr().out


def test_missing_channel_is_a_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SM_MODEL_DIR", str(tmp_path / "m"))
    monkeypatch.setenv("SM_CHANNEL_INTERACTIONS", str(tmp_path / "nothing"))
    assert train_recommender.main([]) == 2
    assert "PrepareInteractions writes it" in capsys.readouterr().err


def run_evaluate(world, tmp_path, folder, model_dir, *extra):
    tar_folder(model_dir, tmp_path / "rec_channel" / schema.MODEL_TARBALL)
    out = tmp_path / "evaluation"
    assert evaluate.main(["--features", str(world["features"]), "--model", str(world["model"]),
                          "--interactions", str(folder), "--recommender", str(tmp_path / "rec_channel"),
                          "--output", str(out), "--silhouette-sample", "300", "--recall-queries", "50",
                          *extra]) == 0
    return json.loads((out / schema.EVALUATION_JSON).read_text())


def test_evaluate_on_simulated_viewers_reports_but_never_gates(world, tmp_path, monkeypatch, local_root):
    folder = interactions_dir(world, tmp_path, simulated=True)
    model_dir = train(folder, tmp_path, monkeypatch, "--min_interactions", "100")
    result = run_evaluate(world, tmp_path, folder, model_dir)
    ranking, gate = result["ranking"], result["ranking_gate"]
    assert ranking["viewers"] == "simulated" and "SIMULATED" in ranking["note"]
    assert set(ranking["methods"]) == {"content", "popularity", "collaborative", "hybrid"}
    pairs = world["pairs"]
    assert ranking["held_out_viewers"] == pairs.loc[pairs["split"] == "test", "viewer_id"].nunique()
    for figures in ranking["methods"].values():
        assert {"hr", "ndcg", "mrr", "coverage", "popular_share"} <= set(figures)
        assert 0 <= figures["ndcg"] <= 1
    # one list for everyone covers least of the catalogue
    assert ranking["methods"]["popularity"]["coverage"] < ranking["methods"]["content"]["coverage"]
    assert gate["status"].startswith("skipped: the viewers are simulated")
    assert gate["required_over_popularity"] == 0 and gate["production_ndcg"] == 0


def test_evaluate_gates_real_viewers_against_popularity_and_production(world, tmp_path, monkeypatch,
                                                                       local_root):
    folder = interactions_dir(world, tmp_path, simulated=False)
    model_dir = train(folder, tmp_path, monkeypatch, "--min_interactions", "100")
    # production recorded a hybrid NDCG measured on real viewers: Evaluate reads it from the registry
    recorded = local_root / "s3" / "myflix-local" / "prod" / schema.EVALUATION_JSON
    recorded.parent.mkdir(parents=True)
    recorded.write_text(json.dumps({"ranking_gate": {"status": "checked", "hybrid_ndcg": 0.987}}))
    package = {"ModelPackageArn": ARN, "ModelPackageVersion": 7, "ModelApprovalStatus": "Approved",
               "ModelMetrics": {"ModelQuality": {"Statistics": {
                   "S3Uri": f"s3://myflix-local/prod/{schema.EVALUATION_JSON}"}}}}
    assert evaluate.production_ranking(package) == (0.987, "version 7's recorded hybrid NDCG")
    result = run_evaluate(world, tmp_path, folder, model_dir, "--min-ndcg-lift-over-popularity", "0.5",
                          "--baseline-package", "none")
    gate = result["ranking_gate"]
    assert result["ranking"]["viewers"] == "real" and gate["status"] == "checked"
    pop = result["ranking"]["methods"]["popularity"]["ndcg"]
    assert gate["required_over_popularity"] == pytest.approx(pop * 1.5)
    assert gate["hybrid_ndcg"] == result["ranking"]["methods"]["hybrid"]["ndcg"]
    # the gate's decision as the ConditionStep takes it: a margin no model meets fails it
    ranking = result["ranking"]
    failing = evaluate.ranking_gate(ranking, 1e6, (0.0, "none"))
    assert failing["hybrid_ndcg"] < failing["required_over_popularity"]
    behind = evaluate.ranking_gate(ranking, 0.0, (1.0, "production"))
    assert behind["hybrid_ndcg"] < behind["production_ndcg"] == 1.0
    # collaborative skipped: nothing to gate, and said so
    skipped = evaluate.ranking_gate({**ranking, "collaborative": "skipped: 3 interactions"}, 0.05, (1.0, "p"))
    assert skipped["status"] == "skipped: collaborative skipped: 3 interactions"
    assert skipped["required_over_popularity"] == skipped["production_ndcg"] == 0


def test_production_ranking_only_from_a_check_on_real_viewers(local_root):
    assert evaluate.production_ranking(None) == (0.0, "no production model")
    assert evaluate.production_ranking({"ModelMetrics": {}})[0] == 0.0
    recorded = local_root / "s3" / "myflix-local" / "sim" / schema.EVALUATION_JSON
    recorded.parent.mkdir(parents=True)
    recorded.write_text(json.dumps({"ranking_gate": {"status": "skipped: the viewers are simulated",
                                                     "hybrid_ndcg": 0.3}}))
    value, why = evaluate.production_ranking(
        {"ModelMetrics": {"ModelQuality": {"Statistics": {
            "S3Uri": f"s3://myflix-local/sim/{schema.EVALUATION_JSON}"}}}})
    assert value == 0.0 and "not checked on real viewers" in why


def test_publish_copies_the_recommender_beside_the_table_before_the_manifest(world, tmp_path, monkeypatch,
                                                                             local_root):
    folder = interactions_dir(world, tmp_path, simulated=True)
    model_dir = train(folder, tmp_path, monkeypatch, "--min_interactions", "100")
    channel = tar_folder(model_dir, tmp_path / "rec_channel" / schema.MODEL_TARBALL).parent
    location = f"s3://myflix-local/{schema.TABLE_PREFIX}/exec-1/"
    args = ["--catalog", str(world["catalog"]), "--features", str(world["features"]),
            "--model", str(world["model"]),
            "--recommender", str(channel), "--table-location", location, "--execution-id", "exec-1",
            "--model-package-arn", ARN]
    assert publish.main(args) == 0
    prefix = local_root / "s3" / "myflix-local" / schema.TABLE_PREFIX / "exec-1"
    copied = prefix / schema.TABLE_RECOMMENDER_NPZ
    assert copied.read_bytes() == (model_dir / schema.RECOMMENDER_NPZ).read_bytes()
    meta = json.loads((prefix / schema.TABLE_RECOMMENDER_JSON).read_text())
    assert meta["sha256"][schema.RECOMMENDER_NPZ] == artifacts.sha256_file(copied)
    manifest = json.loads((prefix / publish.RELEASE_MANIFEST).read_text())
    parameters = manifest["TableInput"]["Parameters"]
    assert parameters[schema.TABLE_RECOMMENDER_PARAMETER] == schema.TABLE_RECOMMENDER_NPZ
    # the served copy loads as the API loads it: digest checked, no pickles
    with np.load(prefix / schema.TABLE_RECOMMENDER_NPZ, allow_pickle=False) as npz:
        assert list(npz["items"]) == sorted(world["pairs"]["tconst"].unique())


def test_publish_refuses_a_tampered_recommender(world, tmp_path, monkeypatch, local_root, capsys):
    folder = interactions_dir(world, tmp_path, simulated=True)
    model_dir = train(folder, tmp_path, monkeypatch, "--min_interactions", "100")
    with open(model_dir / schema.RECOMMENDER_NPZ, "ab") as handle:
        handle.write(b"tampered")
    location = f"s3://myflix-local/{schema.TABLE_PREFIX}/exec-2/"
    assert publish.main(["--catalog", str(world["catalog"]), "--features", str(world["features"]),
                         "--model", str(world["model"]), "--recommender", str(model_dir),
                         "--table-location", location, "--execution-id", "exec-2",
                         "--model-package-arn", ARN]) == 2
    assert "does not match the digest" in capsys.readouterr().err
    prefix = local_root / "s3" / "myflix-local" / schema.TABLE_PREFIX / "exec-2"
    assert not (prefix / publish.RELEASE_MANIFEST).exists()


def test_publish_without_a_recommender_is_content_only(world, tmp_path, local_root):
    location = f"s3://myflix-local/{schema.TABLE_PREFIX}/exec-3/"
    assert publish.main(["--catalog", str(world["catalog"]), "--features", str(world["features"]),
                         "--model", str(world["model"]), "--recommender", str(tmp_path / "absent"),
                         "--table-location", location, "--execution-id", "exec-3",
                         "--model-package-arn", ARN]) == 0
    prefix = local_root / "s3" / "myflix-local" / schema.TABLE_PREFIX / "exec-3"
    manifest = json.loads((prefix / publish.RELEASE_MANIFEST).read_text())
    assert schema.TABLE_RECOMMENDER_PARAMETER not in manifest["TableInput"]["Parameters"]
    assert not (prefix / schema.TABLE_RECOMMENDER_NPZ).exists()


def test_publish_under_moto_puts_the_recommender_beside_the_table(world, tmp_path, monkeypatch,
                                                                  aws_credentials):
    import boto3
    from moto import mock_aws
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    folder = interactions_dir(world, tmp_path, simulated=True)
    model_dir = train(folder, tmp_path, monkeypatch, "--min_interactions", "100")
    channel = tar_folder(model_dir, tmp_path / "rec_channel" / schema.MODEL_TARBALL).parent
    monkeypatch.delenv("MYFLIX_LOCAL_ROOT", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="myflix-data")
        location = f"s3://myflix-data/{schema.TABLE_PREFIX}/exec-9/"
        assert publish.main(["--catalog", str(world["catalog"]), "--features", str(world["features"]),
                             "--model", str(world["model"]), "--recommender", str(channel),
                             "--table-location", location, "--execution-id", "exec-9",
                             "--model-package-arn", ARN]) == 0
        prefix = f"{schema.TABLE_PREFIX}/exec-9/"
        body = s3.get_object(Bucket="myflix-data", Key=prefix + schema.TABLE_RECOMMENDER_NPZ)["Body"].read()
        assert body == (model_dir / schema.RECOMMENDER_NPZ).read_bytes()
        written = s3.get_object(Bucket="myflix-data", Key=prefix + publish.RELEASE_MANIFEST)["Body"].read()
    parameters = json.loads(written)["TableInput"]["Parameters"]
    assert parameters[schema.TABLE_RECOMMENDER_PARAMETER] == schema.TABLE_RECOMMENDER_NPZ
