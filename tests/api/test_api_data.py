"""Serving test data: a real model and published table built from real movies (../shared/data/vega_movies.json).

The movies go through the Preprocess step itself (tests/imdb_fixtures.py `cached_preprocess`,
which also makes up their ids: vega's movies carry none). `build_workdir(tmp)` then lays out what
the local runner leaves behind (docs/CONTRACTS.md, "Local AWS stand-ins"): the model artefact
(steps.artifacts.save_model, packed as model.tar.gz), the table built and written by the Publish
step's own code (steps/publish.py, steps/aws_io.py) under a per-execution prefix with its catalog
entry in Glue's GetTable shape, and the endpoint record. The tests at the bottom check the result
against the contract.
"""
from __future__ import annotations

import json
import os
import tarfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.pipeline import Pipeline

from imdb_fixtures import cached_preprocess
from steps import artifacts, aws_io, publish, schema, train_kmeans, train_scaler

BUCKET = "myflix-local"
EXECUTION = "exec-0001"
PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:000000000000:model-package/myflix-movie-clusters/1"
KEPT_GENRES = [g for g in schema.ALL_IMDB_GENRES if g not in schema.DEFAULT_DROPPED_GENRES]
FEATURES = [*schema.LEADING_NUMERIC_FEATURES, *KEPT_GENRES, *schema.TRAILING_NUMERIC_FEATURES]
TABLE_COLUMNS = ["tconst", "title", "year", "runtime", "genres", "rating", "votes", "cluster", "distance", "embedding"]


def vega_catalog() -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The Preprocess step's own output on the vega movies: catalogue rows, the feature matrix, its report."""
    out = cached_preprocess("vega")
    features = artifacts.read_features(out["features"])
    if features.names != FEATURES:
        raise AssertionError(f"Preprocess wrote the features {features.names}; these tests expect {FEATURES}")
    catalog = pd.read_parquet(out["catalog"] / schema.CATALOG_PARQUET)
    catalog = catalog.set_index("tconst").loc[features.ids].reset_index()   # rows in the features' order
    catalog = catalog[list(schema.CATALOG_COLUMNS)]   # the training set's rows, as serving tests know them
    report = json.loads((out["report"] / schema.QUALITY_JSON).read_text())
    return catalog, features.X, report


def fit_model(X: np.ndarray, k: int = 8, seed: int = 42) -> Pipeline:
    """The model as TrainScaler + TrainKMeans fit it (their own pure functions)."""
    return train_kmeans.fit_model(X, train_scaler.fit_scaler(X, "standard"), k, seed)


def table_frame(catalog: pd.DataFrame, X: np.ndarray, model: Pipeline) -> pd.DataFrame:
    """The published rows, built by the Publish step's own pure function."""
    features = artifacts.Features(ids=catalog["tconst"].to_numpy(dtype=object), X=X, names=FEATURES,
                                  meta={"id_column": "tconst", "features": FEATURES})
    return publish.build_table(catalog, features, model)


@contextmanager
def local_root(workdir: Path | None):
    """steps.aws_io's switch: the local stand-ins under `workdir`, or (None) real AWS, i.e. moto."""
    before = os.environ.get(aws_io.LOCAL_ROOT_ENV)
    if workdir is None:
        os.environ.pop(aws_io.LOCAL_ROOT_ENV, None)
    else:
        os.environ[aws_io.LOCAL_ROOT_ENV] = str(workdir)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(aws_io.LOCAL_ROOT_ENV, None)
        else:
            os.environ[aws_io.LOCAL_ROOT_ENV] = before


def publish_table(frame: pd.DataFrame, location: str, features: list[str], k: int, execution: str,
                  database: str = schema.GLUE_DATABASE, table: str = schema.GLUE_TABLE) -> dict:
    """Publish's own writers: the parquet under the new prefix, then the table pointed at it."""
    aws_io.write_parquet_dataset(frame[TABLE_COLUMNS], location, dict(publish.TABLE_COLUMNS))
    return aws_io.point_table(database, table, location, publish.TABLE_COLUMNS,
                              publish.table_parameters(features, k, execution, PACKAGE_ARN))


def write_table(frame: pd.DataFrame, workdir: Path, execution: str, features: list[str], k: int) -> str:
    """Publish the rows into the local stand-ins under `workdir` (object store + catalog)."""
    location = f"s3://{BUCKET}/{schema.TABLE_PREFIX}/{execution}/"
    with local_root(Path(workdir)):
        publish_table(frame, location, features, k, execution)
    return location


def write_model(model: Pipeline, workdir: Path, k: int, seed: int = 42) -> tuple[Path, str]:
    """The TrainKMeans artefact (steps.artifacts.save_model) packed as model.tar.gz in the object store."""
    out = Path(workdir) / "build" / "model"
    artifacts.save_model(model, {"features": FEATURES, "k": k, "seed": seed,
                                 "inertia": float(model.named_steps["kmeans"].inertia_)}, out)
    key = f"models/{EXECUTION}/{schema.MODEL_TARBALL}"
    tarball = Path(workdir) / "s3" / BUCKET / key
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball, "w:gz") as archive:
        for p in sorted(out.rglob("*")):
            archive.add(p, arcname=str(p.relative_to(out)), recursive=False)
    return out, f"s3://{BUCKET}/{key}"


def build_workdir(workdir: Path, k: int = 8) -> dict:
    workdir = Path(workdir)
    catalog, X, report = vega_catalog()
    model = fit_model(X, k)
    model_dir, model_url = write_model(model, workdir, k)
    frame = table_frame(catalog, X, model)
    location = write_table(frame, workdir, EXECUTION, FEATURES, k)
    endpoint = workdir / "endpoints" / f"{schema.ENDPOINT_NAME}.json"
    endpoint.parent.mkdir(parents=True, exist_ok=True)
    endpoint.write_text(json.dumps({"EndpointName": schema.ENDPOINT_NAME, "EndpointStatus": "InService",
                                    "ModelPackageArn": "arn:aws:sagemaker:us-east-1:000000000000:model-package/"
                                                       "myflix-movie-clusters/1", "ModelDataUrl": model_url}))
    return {"workdir": workdir, "frame": frame, "X": X, "model": model, "model_dir": model_dir,
            "model_url": model_url, "location": location, "report": report, "k": k}


# --- the data itself is checked, so a test that uses it knows what it stands on ------------------

def test_vega_catalog_is_the_preprocess_output():
    catalog, X, report = vega_catalog()
    assert 900 < len(catalog) < 1100
    assert X.shape == (len(catalog), 26) and np.isfinite(X).all()
    assert catalog["tconst"].is_unique and list(catalog.columns) == list(schema.CATALOG_COLUMNS)
    assert (X[:, 0] == catalog["year"]).all() and (X[:, -1] == catalog["votes"]).all()


def test_built_workdir_follows_the_table_contract(tmp_path):
    built = build_workdir(tmp_path, k=5)
    entry = json.loads((tmp_path / "catalog" / "myflix" / "movie_clusters.json").read_text())
    assert entry["StorageDescriptor"]["Location"] == built["location"]
    files = list((tmp_path / "s3" / BUCKET / schema.TABLE_PREFIX / EXECUTION).glob("*.parquet"))
    assert len(files) == 1
    table = pq.read_table(files[0])
    assert table.column_names == TABLE_COLUMNS
    assert pa.types.is_list(table.schema.field("embedding").type)
    assert table.schema.field("embedding").type.value_type == pa.float64()
    assert sorted(set(table.column("cluster").to_pylist())) == list(range(5))
