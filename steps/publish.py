"""Publish (SageMaker processing step): the clustered catalogue staged for release, with its manifest.

Reads catalog.parquet, catalog_features.parquet + features.json (EVERY valid film, not only the
training set: the fences shape what the model learns, never what viewers can find) and the
TrainKMeans model; gives each movie the cluster the model predicts, its distance to the cluster's
centre and its scaled embedding (the model's own scaler, feature order of features.json); writes
parquet under the NEW per-execution prefix
`--table-location`, then, once every file is written, `_myflix_release.json` beside them: the
Glue TableInput that points `--database.--table` at this prefix, the model package, and the
smoke-test movies (per cluster, the movie nearest its centre, with its features and cluster).
Publish does not move the table: the deployer does, when this package is promoted to the prod
endpoint, so that the table and the endpoint change together (docs/CONTRACTS.md, "Releases").
The collaborative model (`--recommender`: TrainRecommender's model.tar.gz) travels with the table:
its recommender.npz + recommender.json are copied beside the parquet as `_myflix_recommender.npz`
/ `.json` (digest checked first) BEFORE the manifest, and the table parameter `myflix_recommender`
names them, so a release moves the table and the collaborative model together (a model of kind
"none" is copied too: the API then says why collaborative is off).
Earlier executions' prefixes are kept (a rollback points the table back at one). AWS calls (or
their local stand-ins under MYFLIX_LOCAL_ROOT) live in steps/aws_io.py.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from steps import artifacts, aws_io, schema

INPUT = f"{schema.PROCESSING_ROOT}/input"
# The published table's columns and Glue types (docs/CONTRACTS.md, "The published table").
TABLE_COLUMNS: list[tuple[str, str]] = [
    ("tconst", "string"), ("title", "string"), ("year", "int"), ("runtime", "int"), ("genres", "string"),
    ("rating", "double"), ("votes", "bigint"), ("cluster", "int"), ("distance", "double"),
    ("embedding", "array<double>"),
]


RELEASE_MANIFEST = "_myflix_release.json"   # deployer.release.RELEASE_MANIFEST
SMOKE_MAX_MOVIES = 50


class PublishError(Exception):
    """The inputs do not fit together or the table cannot move; the message says what to do."""


def build_table(catalog: pd.DataFrame, features: artifacts.Features, model) -> pd.DataFrame:
    """One row per movie: catalogue fields, cluster, distance to its centre, scaled embedding (pure)."""
    missing_cols = [c for c in schema.CATALOG_COLUMNS if c not in catalog.columns]
    if missing_cols:
        raise PublishError(f"catalog.parquet lacks the columns {missing_cols}: re-run Preprocess")
    catalog = catalog.assign(tconst=catalog["tconst"].astype(str))
    dupes = catalog["tconst"].duplicated()
    if dupes.any():
        raise PublishError(f"catalog.parquet lists {int(dupes.sum())} ids twice (for example "
                           f"{catalog.loc[dupes, 'tconst'].head(3).tolist()}): re-run Preprocess")
    ids = pd.Index(features.ids)
    only_features = ids.difference(catalog["tconst"])
    only_catalog = pd.Index(catalog["tconst"]).difference(ids)
    if len(only_features) or len(only_catalog):
        raise PublishError(f"features and catalog disagree: {len(only_features)} ids only in the features "
                           f"(for example {list(only_features[:3])}), {len(only_catalog)} only in catalog.parquet "
                           f"(for example {list(only_catalog[:3])}); they come from different Preprocess runs")
    scaled = model.named_steps["scaler"].transform(features.X)
    kmeans = model.named_steps["kmeans"]
    to_centres = kmeans.transform(scaled)
    clusters = kmeans.predict(scaled)      # the serving handler's own assignment
    table = catalog.set_index("tconst").loc[features.ids].reset_index()
    out = pd.DataFrame({
        "tconst": table["tconst"].astype(str),
        "title": table["title"].astype(str),
        "year": pd.array(table["year"], dtype="Int32"),
        "runtime": pd.array(table["runtime"], dtype="Int32"),
        "genres": table["genres"].fillna("").astype(str),
        "rating": table["rating"].astype("float64"),
        "votes": pd.array(table["votes"], dtype="Int64"),
        "cluster": clusters.astype(np.int32),
        "distance": to_centres[np.arange(len(clusters)), clusters].astype(np.float64),
    })
    out["embedding"] = [row for row in scaled.astype(np.float64)]
    return out


def read_catalogue_features(folder: str) -> artifacts.Features:
    """The features of every catalogue film (Preprocess's catalog_features.parquet)."""
    if not (Path(folder) / schema.CATALOG_FEATURES_PARQUET).is_file():
        raise PublishError(f"{Path(folder) / schema.CATALOG_FEATURES_PARQUET} is missing: this features "
                           "folder comes from an older Preprocess (training set only); re-run Preprocess")
    return artifacts.read_features(folder, schema.CATALOG_FEATURES_PARQUET)


def table_parameters(feature_names: list[str], k: int, execution_id: str, package_arn: str,
                     model_sha256: str = "") -> dict[str, str]:
    """The table parameters readers use (Glue keeps strings only). `myflix_model_sha256` is the
    model's own digest (model.json's sha256 of model.joblib): the API pairs every endpoint answer,
    which carries the digest of the model that made it, with the table by it."""
    return {"myflix_features": json.dumps(list(feature_names)), "myflix_k": str(int(k)),
            "myflix_execution_id": execution_id, "myflix_model_package_arn": package_arn or "",
            "myflix_model_sha256": model_sha256 or ""}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", default=f"{INPUT}/catalog", help="folder with catalog.parquet")
    parser.add_argument("--features", default=f"{INPUT}/features",
                        help="folder with catalog_features.parquet + features.json")
    parser.add_argument("--model", default=f"{INPUT}/model", help="TrainKMeans's model.tar.gz folder or files")
    parser.add_argument("--recommender", default=f"{INPUT}/recommender",
                        help="TrainRecommender's model.tar.gz folder or files; missing: content only")
    parser.add_argument("--table-location", required=True,
                        help=f"new per-execution prefix, s3://<bucket>/{schema.TABLE_PREFIX}/<execution id>/")
    parser.add_argument("--database", default=schema.GLUE_DATABASE)
    parser.add_argument("--table", default=schema.GLUE_TABLE)
    parser.add_argument("--execution-id", required=True)
    parser.add_argument("--model-package-arn", default="")
    parser.add_argument("--region", default=None, help="the AWS region of the bucket and Glue, from the "
                        "definition (else the package ARN's; a job is not promised AWS_REGION)")
    return parser.parse_args(argv)


def smoke_cases(table: pd.DataFrame, features: artifacts.Features, limit: int = SMOKE_MAX_MOVIES) -> list[dict]:
    """Per cluster, the movie nearest its centre: its features by name and the cluster the table
    gives it (pure). The endpoint must place each one there (the deployer's smoke test)."""
    nearest = table.reset_index(drop=True).sort_values(["cluster", "distance", "tconst"]) \
        .groupby("cluster", sort=True).head(1).head(limit)
    cases = []
    for row in nearest.index:
        cases.append({"tconst": str(table["tconst"].iloc[row]), "title": str(table["title"].iloc[row]),
                      "cluster": int(table["cluster"].iloc[row]),
                      "features": {name: float(value) for name, value in zip(features.names, features.X[row])}})
    return cases


def recommender_files(path: str) -> tuple[dict[str, Path], dict] | None:
    """{table file name: local file} of the recommender artefact, and its recommender.json; None when
    there is no artefact at `path` (an older pipeline: content only). The npz's digest is checked."""
    folder = Path(path)
    if not folder.exists():
        return None
    folder = artifacts.open_model_dir(folder)
    meta_path = folder / schema.RECOMMENDER_JSON
    if not meta_path.is_file():
        raise PublishError(f"{folder} holds no {schema.RECOMMENDER_JSON}: pass TrainRecommender's model "
                           "output")
    meta = artifacts.read_json(meta_path, "the recommender artefact")
    files = {schema.TABLE_RECOMMENDER_JSON: meta_path}
    npz = folder / schema.RECOMMENDER_NPZ
    if npz.is_file():
        artifacts.verify_digest(npz, (meta.get("sha256") or {}).get(schema.RECOMMENDER_NPZ))
        files[schema.TABLE_RECOMMENDER_NPZ] = npz
    elif meta.get("kind") not in (None, "none"):
        raise PublishError(f"{folder} has no {schema.RECOMMENDER_NPZ} for a model of kind "
                           f"{meta.get('kind')!r}")
    return files, meta


def release_manifest(database: str, table_input: dict, execution_id: str, package_arn: str,
                     cases: list[dict], files: list[str] | None = None) -> dict:
    """What the deployer needs to release this table with its model (pure). `Files`: the data
    files, which the deployer's smoke test reads."""
    return {"DatabaseName": database, "TableInput": table_input, "ExecutionId": execution_id,
            "ModelPackageArn": package_arn, "Smoke": cases, "Files": list(files or [])}


def _read_manifest(uri: str, region: str | None) -> dict | None:
    try:
        with aws_io.open_object(uri, region) as stream:
            return json.load(stream)
    except aws_io.AwsIoError:
        return None
    except ValueError as err:
        raise PublishError(f"{uri} is not JSON ({err}): remove it and publish again") from err


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    location = args.table_location.rstrip("/") + "/"
    manifest_uri = location + RELEASE_MANIFEST
    region = args.region or aws_io.region_of(args.model_package_arn)
    try:
        aws_io.parse_s3_uri(location)
        if not args.execution_id.strip():
            raise PublishError("--execution-id is empty: pass the pipeline execution id")
        if not args.model_package_arn.strip():
            raise PublishError("--model-package-arn is empty: pass the Register step's ModelPackageArn")
        existing = _read_manifest(manifest_uri, region)
        if existing is not None:
            if existing.get("ExecutionId") == args.execution_id:
                # A retry of this very execution after it finished: the work is done, and the
                # prefix may be live (promoted): rewriting it would show readers a half-written table.
                print(f"publish: {manifest_uri} was already written by execution {args.execution_id}; "
                      "nothing to do", flush=True)
                return 0
            raise PublishError(f"{location} already holds the release of execution {existing.get('ExecutionId')}: "
                               "publish each execution to its own prefix")
        features = read_catalogue_features(args.features)
        model, meta = artifacts.load_model(args.model)
        artifacts.check_feature_order(features.names, meta.get("features", []), "the model artefact")
        catalog_path = Path(args.catalog) / schema.CATALOG_PARQUET
        if not catalog_path.is_file():
            raise PublishError(f"{catalog_path} is missing: pass the Preprocess step's catalog output folder")
        table = build_table(artifacts.read_parquet(catalog_path), features, model)
        k = int(model.named_steps["kmeans"].n_clusters)
        print(f"publish: {len(table)} movies in {k} clusters; writing parquet to {location}", flush=True)
        files = aws_io.write_parquet_dataset(table, location, dict(TABLE_COLUMNS), region)
        parameters = table_parameters(features.names, k, args.execution_id, args.model_package_arn,
                                      (meta.get("sha256") or {}).get(schema.MODEL_JOBLIB, ""))
        recommender = recommender_files(args.recommender)
        if recommender is not None:
            for name, local in recommender[0].items():
                aws_io.put_file(local, location + name, region)
            parameters[schema.TABLE_RECOMMENDER_PARAMETER] = schema.TABLE_RECOMMENDER_NPZ
            rmeta = recommender[1]
            print(f"publish: recommender of kind {rmeta.get('kind')!r}"
                  f"{' (SIMULATED viewers)' if rmeta.get('simulated') else ''} copied beside the table"
                  + (f": {rmeta.get('reason')}" if rmeta.get("kind") == "none" else ""), flush=True)
        spec = aws_io.table_input(
            args.table, location, TABLE_COLUMNS, parameters,
            description="MyFlix movies with their k-means cluster, distance and scaled embedding")
        cases = smoke_cases(table, features)
        # Written last: its presence says every data file is there.
        aws_io.write_json_object(manifest_uri, release_manifest(args.database, spec, args.execution_id,
                                                                args.model_package_arn, cases, files), region)
    except (artifacts.ArtifactError, aws_io.AwsIoError, PublishError) as err:
        print(f"publish: {err}", file=sys.stderr)
        return 2
    print(f"publish: wrote {len(files)} file(s) and {manifest_uri} ({len(cases)} smoke-test movies); "
          f"{args.database}.{args.table} moves there when {args.model_package_arn} is promoted to prod "
          "(`myflix deploy status`)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
