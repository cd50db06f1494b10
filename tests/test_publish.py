"""Publish's main() on real data: under moto (S3 + Glue, read back with awswrangler) and locally."""
from __future__ import annotations

import json

import numpy as np
import pytest

from steps import artifacts, aws_io, publish, schema, train_kmeans, train_scaler
from test_artifacts import movie_count, tar_folder, write_vega_dataset

BUCKET = "myflix-test-bucket"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/myflix-movie-clusters/3"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """catalog/, features/ and a model channel holding model.tar.gz, trained on the vega movies."""
    root = tmp_path_factory.mktemp("publish")
    features_dir, catalog_dir = write_vega_dataset(root / "data")
    assert train_scaler.main(["--features", str(features_dir), "--model-dir", str(root / "scaler")]) == 0
    placeholder = root / "inference.py"
    placeholder.write_text("# placeholder serving handler (test only)\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(artifacts, "default_inference_source", lambda: placeholder)
        assert train_kmeans.main(["--k", "9", "--features", str(features_dir), "--scaler-dir", str(root / "scaler"),
                                  "--model-dir", str(root / "model")]) == 0
    tar_folder(root / "model", root / "model_channel" / schema.MODEL_TARBALL)
    return {"catalog": catalog_dir, "features": features_dir, "model": root / "model_channel"}


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials and region: nothing can reach AWS."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(aws_io.LOCAL_ROOT_ENV, raising=False)


def run_publish(inputs, execution_id, bucket=BUCKET):
    location = f"s3://{bucket}/{schema.TABLE_PREFIX}/{execution_id}/"
    code = publish.main(["--catalog", str(inputs["catalog"]), "--features", str(inputs["features"]),
                         "--model", str(inputs["model"]), "--table-location", location,
                         "--database", schema.GLUE_DATABASE, "--table", schema.GLUE_TABLE,
                         "--execution-id", execution_id, "--model-package-arn", ARN])
    return code, location


def check_rows(frame, inputs):
    model, _ = artifacts.load_model(inputs["model"])
    features = artifacts.read_features(inputs["features"])
    assert len(frame) == movie_count(inputs["features"])
    frame = frame.set_index("tconst").loc[features.ids]
    assert np.array_equal(frame["cluster"].to_numpy(), model.predict(features.X))
    scaled = model.named_steps["scaler"].transform(features.X)
    assert np.allclose(np.stack(frame["embedding"].to_numpy()), scaled)
    centres = model.named_steps["kmeans"].cluster_centers_[frame["cluster"].to_numpy()]
    assert np.allclose(frame["distance"].to_numpy(), np.linalg.norm(scaled - centres, axis=1))
    assert frame.loc[features.ids[0], "title"] and frame["votes"].min() > 0


def test_publish_under_moto_moves_the_table_to_each_new_prefix(inputs, aws_env, capsys):
    import boto3
    from moto import mock_aws
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        code, first = run_publish(inputs, "exec-1")
        assert code == 0, capsys.readouterr().err
        glue = boto3.client("glue")
        table = glue.get_table(DatabaseName="myflix", Name="movie_clusters")["Table"]
        assert table["StorageDescriptor"]["Location"] == first
        assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == publish.TABLE_COLUMNS
        params = table["Parameters"]
        assert json.loads(params["myflix_features"]) == artifacts.read_features(inputs["features"]).names
        assert params["myflix_k"] == "9" and params["myflix_execution_id"] == "exec-1"
        assert params["myflix_model_package_arn"] == ARN

        import awswrangler as wr
        check_rows(wr.s3.read_parquet(path=first, dataset=True), inputs)

        code, second = run_publish(inputs, "exec-2")
        assert code == 0
        table = glue.get_table(DatabaseName="myflix", Name="movie_clusters")["Table"]
        assert table["StorageDescriptor"]["Location"] == second
        assert table["Parameters"]["myflix_execution_id"] == "exec-2"
        # The old prefix is kept, whole.
        assert len(wr.s3.read_parquet(path=first, dataset=True)) == movie_count(inputs["features"])
        assert "previous prefix" in capsys.readouterr().out
        # A retry of the same execution finds its work done; another execution onto that prefix is refused.
        code, _ = run_publish(inputs, "exec-2")
        assert code == 0 and "nothing to do" in capsys.readouterr().out
        code = publish.main(["--catalog", str(inputs["catalog"]), "--features", str(inputs["features"]),
                             "--model", str(inputs["model"]), "--table-location", second,
                             "--execution-id", "exec-3", "--model-package-arn", ARN])
        assert code == 2 and "already points at" in capsys.readouterr().err
        assert glue.get_table(DatabaseName="myflix", Name="movie_clusters")["Table"]["Parameters"][
            "myflix_execution_id"] == "exec-2"


def test_publish_locally_writes_the_store_and_the_catalog(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(aws_io.LOCAL_ROOT_ENV, str(tmp_path))
    code, location = run_publish(inputs, "local-1", bucket="myflix-local")
    assert code == 0, capsys.readouterr().err
    record = json.loads((tmp_path / "catalog" / "myflix" / "movie_clusters.json").read_text())
    assert record["Name"] == "movie_clusters" and record["DatabaseName"] == "myflix"
    assert record["StorageDescriptor"]["Location"] == location and record["VersionId"] == "1"
    assert record["Parameters"]["myflix_k"] == "9"
    files = list((tmp_path / "s3" / "myflix-local" / schema.TABLE_PREFIX / "local-1").glob("*.parquet"))
    assert len(files) == 1
    check_rows(aws_io.read_parquet_dataset(location), inputs)
    import pyarrow.parquet as pq
    types = {f.name: str(f.type) for f in pq.read_schema(files[0])}
    assert types["year"] == "int32" and types["votes"] == "int64" and types["embedding"] == "list<element: double>"
    assert run_publish(inputs, "local-2", bucket="myflix-local")[0] == 0
    record = json.loads((tmp_path / "catalog" / "myflix" / "movie_clusters.json").read_text())
    assert record["VersionId"] == "2" and record["StorageDescriptor"]["Location"].endswith("/local-2/")
    assert (tmp_path / "s3" / "myflix-local" / schema.TABLE_PREFIX / "local-1").is_dir()


def test_catalog_from_another_run_is_refused(inputs, tmp_path, monkeypatch, capsys):
    import pandas as pd
    monkeypatch.setenv(aws_io.LOCAL_ROOT_ENV, str(tmp_path))
    catalog = pd.read_parquet(inputs["catalog"] / schema.CATALOG_PARQUET).iloc[5:]
    (tmp_path / "cat").mkdir()
    catalog.to_parquet(tmp_path / "cat" / schema.CATALOG_PARQUET, index=False)
    code = publish.main(["--catalog", str(tmp_path / "cat"), "--features", str(inputs["features"]),
                         "--model", str(inputs["model"]), "--table-location", "s3://myflix-local/t/x/",
                         "--execution-id", "x"])
    assert code == 2
    assert "5 ids only in features.parquet" in capsys.readouterr().err
    assert not (tmp_path / "catalog").exists()      # the table never moved
