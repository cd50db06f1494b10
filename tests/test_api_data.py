"""Serving test data: a real model and published table built from real movies (../shared/data/vega_movies.json).

`build_workdir(tmp)` lays out what the local runner leaves behind (docs/CONTRACTS.md, "Local AWS
stand-ins"): the model artefact (steps.artifacts.save_model, packed as model.tar.gz), the table's
parquet under a per-execution prefix, the catalog entry in Glue's GetTable shape, and the endpoint
record. The movie ids are made up (`tt9000000` + row number): vega's movies carry none. The table
is built and written by the Publish step's own code (steps/publish.py, steps/aws_io.py); the tests
at the bottom check the result against the contract.
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
from sklearn.cluster import KMeans
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from steps import artifacts, aws_io, publish, schema

VEGA = Path(__file__).resolve().parents[2] / "shared" / "data" / "vega_movies.json"
BUCKET = "myflix-local"
EXECUTION = "exec-0001"
PACKAGE_ARN = "arn:aws:sagemaker:us-east-1:000000000000:model-package/myflix-movie-clusters/1"
GENRE_MAP = {  # vega's "Major Genre" -> IMDb genre names
    "Action": ["Action"], "Adventure": ["Adventure"], "Comedy": ["Comedy"], "Drama": ["Drama"],
    "Horror": ["Horror"], "Musical": ["Musical"], "Western": ["Western"], "Documentary": ["Documentary"],
    "Thriller/Suspense": ["Thriller"], "Romantic Comedy": ["Comedy", "Romance"], "Black Comedy": ["Comedy"],
    "Concert/Performance": ["Music"],
}
KEPT_GENRES = [g for g in schema.ALL_IMDB_GENRES if g not in schema.DEFAULT_DROPPED_GENRES]
FEATURES = [*schema.LEADING_NUMERIC_FEATURES, *KEPT_GENRES, *schema.TRAILING_NUMERIC_FEATURES]
TABLE_COLUMNS = ["tconst", "title", "year", "runtime", "genres", "rating", "votes", "cluster", "distance", "embedding"]


def vega_catalog(path: Path = VEGA) -> tuple[pd.DataFrame, np.ndarray, dict]:
    """The complete vega movies as catalogue rows and the 26-feature matrix; counts what was left out."""
    rows = json.loads(Path(path).read_text())
    kept, dropped = [], {"missing field": 0, "year after 2026": 0, "unmapped genre": 0}
    for i, r in enumerate(rows):
        date, runtime, genre = r.get("Release Date"), r.get("Running Time min"), r.get("Major Genre")
        rating, votes = r.get("IMDB Rating"), r.get("IMDB Votes")
        if None in (date, runtime, genre, rating, votes) or not r.get("Title"):
            dropped["missing field"] += 1
            continue
        year = int(str(date)[-4:])
        if year > 2026:   # the file's deliberate errors
            dropped["year after 2026"] += 1
            continue
        if genre not in GENRE_MAP:
            dropped["unmapped genre"] += 1
            continue
        kept.append({"tconst": f"tt{9000000 + i}", "title": str(r["Title"]), "year": year, "runtime": int(runtime),
                     "genres": ",".join(sorted(GENRE_MAP[genre])), "rating": float(rating), "votes": int(votes)})
    catalog = pd.DataFrame(kept)
    X = np.zeros((len(catalog), len(FEATURES)))
    X[:, 0], X[:, 1] = catalog["year"], catalog["runtime"]
    for j, g in enumerate(KEPT_GENRES):
        X[:, 2 + j] = catalog["genres"].str.split(",").apply(lambda gs, g=g: g in gs)
    X[:, -2], X[:, -1] = catalog["rating"], catalog["votes"]
    return catalog, X, dropped


def fit_model(X: np.ndarray, k: int = 8, seed: int = 42) -> Pipeline:
    model = Pipeline([("scaler", StandardScaler()), ("kmeans", KMeans(n_clusters=k, n_init=4, random_state=seed))])
    return model.fit(X)


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
    catalog, X, dropped = vega_catalog()
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
            "model_url": model_url, "location": location, "dropped": dropped, "k": k}


# --- the data itself is checked, so a test that uses it knows what it stands on ------------------

def test_vega_catalog_keeps_complete_real_movies_and_counts_the_rest():
    catalog, X, dropped = vega_catalog()
    assert 900 < len(catalog) < 1300
    assert X.shape == (len(catalog), 26) and np.isfinite(X).all()
    assert dropped["missing field"] > 1000 and sum(dropped.values()) + len(catalog) == 3201
    assert catalog["tconst"].is_unique


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
