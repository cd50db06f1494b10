"""Publish's main() on real data: under moto (S3, read back with awswrangler) and locally: staged data +
release manifest."""
from __future__ import annotations

import json

import numpy as np
import pytest
from test_artifacts import movie_count, write_vega_dataset

from steps import artifacts, aws_io, publish, schema

BUCKET = "myflix-test-bucket"
ARN = "arn:aws:sagemaker:us-east-1:123456789012:model-package/myflix-movie-clusters/3"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, train_kmeans_channel):
    """catalog/, features/ and a model channel holding model.tar.gz, trained on the vega movies."""
    root = tmp_path_factory.mktemp("publish")
    features_dir, catalog_dir = write_vega_dataset(root / "data")
    return {"catalog": catalog_dir, "features": features_dir,
            "model": train_kmeans_channel(root, features_dir, k=9)}


@pytest.fixture
def aws_env(monkeypatch, aws_credentials):
    """Fake credentials (tests/conftest.py) and a region: nothing can reach AWS."""
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "us-east-1")
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
    features = artifacts.read_features(inputs["features"], schema.CATALOG_FEATURES_PARQUET)
    # every valid film is published, the ones outside the training fences too, with the model's cluster
    training = movie_count(inputs["features"])
    assert len(frame) == len(features.ids) > training
    frame = frame.set_index("tconst").loc[features.ids]
    assert np.array_equal(frame["cluster"].to_numpy(), model.predict(features.X))
    scaled = model.named_steps["scaler"].transform(features.X)
    assert np.allclose(np.stack(frame["embedding"].to_numpy()), scaled)
    centres = model.named_steps["kmeans"].cluster_centers_[frame["cluster"].to_numpy()]
    assert np.allclose(frame["distance"].to_numpy(), np.linalg.norm(scaled - centres, axis=1))
    assert frame.loc[features.ids[0], "title"] and frame["votes"].min() > 0


def check_manifest(manifest, location, execution_id, inputs):
    """The release manifest: the TableInput the deployer applies, and smoke cases the model agrees with."""
    spec = manifest["TableInput"]
    assert manifest["ModelPackageArn"] == ARN and manifest["ExecutionId"] == execution_id
    assert spec["Name"] == "movie_clusters" and spec["StorageDescriptor"]["Location"] == location
    assert [(c["Name"], c["Type"]) for c in spec["StorageDescriptor"]["Columns"]] == publish.TABLE_COLUMNS
    params = spec["Parameters"]
    assert json.loads(params["myflix_features"]) == artifacts.read_features(inputs["features"]).names
    assert params["myflix_k"] == "9" and params["myflix_execution_id"] == execution_id
    assert params["myflix_model_package_arn"] == ARN
    # one movie per cluster, the nearest to its centre; the model itself puts each one there
    model, _ = artifacts.load_model(inputs["model"])
    cases = manifest["Smoke"]
    assert sorted(c["cluster"] for c in cases) == list(range(9))
    names = artifacts.read_features(inputs["features"]).names
    X = np.array([[c["features"][n] for n in names] for c in cases])
    assert model.predict(X).tolist() == [c["cluster"] for c in cases]


def test_publish_under_moto_stages_each_prefix_without_moving_the_table(inputs, aws_env, capsys):
    import boto3
    from moto import mock_aws
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        glue = boto3.client("glue")
        glue.create_database(DatabaseInput={"Name": "myflix"})
        code, first = run_publish(inputs, "exec-1")
        assert code == 0, capsys.readouterr().err
        # the table is the deployer's to move, on promotion: Publish leaves the catalog alone
        assert glue.get_tables(DatabaseName="myflix")["TableList"] == []
        body = boto3.client("s3").get_object(Bucket=BUCKET, Key=f"{schema.TABLE_PREFIX}/exec-1/"
                                             f"{publish.RELEASE_MANIFEST}")["Body"].read()
        check_manifest(json.loads(body), first, "exec-1", inputs)

        import awswrangler as wr
        check_rows(wr.s3.read_parquet(path=first, dataset=True, path_suffix=".parquet"), inputs)

        code, second = run_publish(inputs, "exec-2")
        assert code == 0
        # The old prefix is kept, whole.
        assert len(wr.s3.read_parquet(path=first, dataset=True, path_suffix=".parquet")) == len(
            artifacts.read_features(inputs["features"], schema.CATALOG_FEATURES_PARQUET).ids)
        # A retry of the same execution finds its work done; another execution onto that prefix is refused.
        capsys.readouterr()
        code, _ = run_publish(inputs, "exec-2")
        assert code == 0 and "nothing to do" in capsys.readouterr().out
        code = publish.main(["--catalog", str(inputs["catalog"]), "--features", str(inputs["features"]),
                             "--model", str(inputs["model"]), "--table-location", second,
                             "--execution-id", "exec-3", "--model-package-arn", ARN])
        assert code == 2 and "already holds the release of execution exec-2" in capsys.readouterr().err


def test_publish_locally_writes_the_store_and_the_manifest(inputs, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(aws_io.LOCAL_ROOT_ENV, str(tmp_path))
    code, location = run_publish(inputs, "local-1", bucket="myflix-local")
    assert code == 0, capsys.readouterr().err
    assert not (tmp_path / "catalog").exists()
    prefix = tmp_path / "s3" / "myflix-local" / schema.TABLE_PREFIX / "local-1"
    check_manifest(json.loads((prefix / publish.RELEASE_MANIFEST).read_text()), location, "local-1", inputs)
    files = list(prefix.glob("*.parquet"))
    assert len(files) == 1
    import pyarrow.parquet as pq
    check_rows(pq.read_table(files[0]).to_pandas(), inputs)
    types = {f.name: str(f.type) for f in pq.read_schema(files[0])}
    assert types["year"] == "int32" and types["votes"] == "int64" and types["embedding"] == "list<element: double>"
    assert run_publish(inputs, "local-2", bucket="myflix-local")[0] == 0
    assert prefix.is_dir() and (prefix.parent / "local-2" / publish.RELEASE_MANIFEST).is_file()


def test_catalog_from_another_run_is_refused(inputs, tmp_path, monkeypatch, capsys):
    import pandas as pd
    monkeypatch.setenv(aws_io.LOCAL_ROOT_ENV, str(tmp_path))
    catalog = pd.read_parquet(inputs["catalog"] / schema.CATALOG_PARQUET).iloc[5:]
    (tmp_path / "cat").mkdir()
    catalog.to_parquet(tmp_path / "cat" / schema.CATALOG_PARQUET, index=False)
    code = publish.main(["--catalog", str(tmp_path / "cat"), "--features", str(inputs["features"]),
                         "--model", str(inputs["model"]), "--table-location", "s3://myflix-local/t/x/",
                         "--execution-id", "x", "--model-package-arn", ARN])
    assert code == 2
    assert "5 ids only in the features" in capsys.readouterr().err
    assert not (tmp_path / "s3" / "myflix-local" / "t" / "x" / publish.RELEASE_MANIFEST).exists()


def test_an_older_features_folder_without_the_catalogue_is_refused(inputs, tmp_path, monkeypatch, capsys):
    import shutil
    monkeypatch.setenv(aws_io.LOCAL_ROOT_ENV, str(tmp_path))
    shutil.copytree(inputs["features"], tmp_path / "features")
    (tmp_path / "features" / schema.CATALOG_FEATURES_PARQUET).unlink()
    code = publish.main(["--catalog", str(inputs["catalog"]), "--features", str(tmp_path / "features"),
                         "--model", str(inputs["model"]), "--table-location", "s3://myflix-local/t/y/",
                         "--execution-id", "y", "--model-package-arn", ARN])
    assert code == 2 and "re-run Preprocess" in capsys.readouterr().err
