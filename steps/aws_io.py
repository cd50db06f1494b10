"""The edge that talks to AWS for the steps: S3 parquet and objects, the Glue table, the model registry.

With `MYFLIX_LOCAL_ROOT=<workdir>` set (the local runner sets it), every function uses the local
stand-ins of docs/CONTRACTS.md instead ("Local AWS stand-ins"): `<workdir>/s3/<bucket>/<key>`,
`<workdir>/catalog/<database>/<table>.json` (Glue's GetTable shape), `<workdir>/registry/<group>/
<version>.json` (DescribeModelPackage shape). Endpoints are the deployer's (deployer/). The step
scripts call the same functions either way. Only boto3, pyarrow and pandas are used: all three
ship in the SKLearn image (awswrangler does not), so no job installs anything.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from steps import local_layout  # copy of local_aws/layout.py: a job's bundle ships steps/ only

LOCAL_ROOT_ENV = "MYFLIX_LOCAL_ROOT"
PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]*):(\d{12}):model-package/([^/]+)/(\d+)$")
# Glue's parquet table description, as Athena and awswrangler write it.
PARQUET_STORAGE = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
                  "Parameters": {"serialization.format": "1"}},
}


class AwsIoError(Exception):
    """An AWS (or local stand-in) resource is missing or refused the request; the message says what to do."""


# --- where we are -------------------------------------------------------------------------------
def local_root() -> Path | None:
    """The local runner's work folder when MYFLIX_LOCAL_ROOT is set, else None (real AWS)."""
    value = os.environ.get(LOCAL_ROOT_ENV)
    return Path(value) if value else None


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """("bucket", "key/with/slashes") from s3://bucket/key; a clear error for anything else."""
    try:
        return local_layout.split_s3_uri(uri or "")
    except local_layout.LayoutError:
        raise AwsIoError(f"{uri!r} is not an s3://bucket/key URI: pass an S3 location") from None


def local_s3_path(uri: str, root: Path) -> Path:
    """`<root>/s3/<bucket>/<key>` for s3://bucket/key, refusing keys that climb out of the store."""
    parse_s3_uri(uri)
    try:
        return local_layout.s3_path(root, uri)
    except local_layout.LayoutError:
        raise AwsIoError(f"{uri!r} holds '..': refusing a key outside the object store") from None


def region_of(arn: str | None) -> str | None:
    """The region written in an ARN (None when there is none), so calls go where the resource is."""
    parts = (arn or "").split(":")
    return parts[3] if len(parts) > 4 and parts[3] else None


def _boto3_session(region: str | None = None):
    import boto3
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return boto3.session.Session(region_name=region)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


# --- S3: a parquet dataset under a prefix -------------------------------------------------------
PARQUET_FILE = "part-00000.snappy.parquet"


def write_parquet_dataset(df: pd.DataFrame, prefix_uri: str, dtype: dict[str, str],
                          region: str | None = None) -> list[str]:
    """Write `df` as parquet under `prefix_uri` (replacing whatever that prefix held); return the file URIs.

    `dtype` gives the Athena/Glue type per column (for example {"year": "int"}), so the files'
    schema matches the table's. pyarrow writes the file and boto3 puts it: both are in the
    SKLearn image, so the job installs nothing.
    """
    prefix_uri = prefix_uri.rstrip("/") + "/"
    body = parquet_bytes(df, dtype)
    root = local_root()
    if root is not None:
        folder = local_s3_path(prefix_uri, root)
        if folder.exists():
            shutil.rmtree(folder)          # overwrite the prefix, as on S3 below
        folder.mkdir(parents=True)
        tmp = folder / f".{PARQUET_FILE}.tmp"
        tmp.write_bytes(body)
        os.replace(tmp, folder / PARQUET_FILE)
        return [prefix_uri + PARQUET_FILE]
    bucket, prefix = parse_s3_uri(prefix_uri)
    s3 = _boto3_session(region).client("s3")
    stale = [{"Key": o["Key"]} for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
             for o in page.get("Contents", [])]
    for i in range(0, len(stale), 1000):                      # DeleteObjects takes 1,000 keys a call
        s3.delete_objects(Bucket=bucket, Delete={"Objects": stale[i:i + 1000], "Quiet": True})
    s3.put_object(Bucket=bucket, Key=prefix + PARQUET_FILE, Body=body,
                  ContentType="application/vnd.apache.parquet")
    return [prefix_uri + PARQUET_FILE]


def parquet_bytes(df: pd.DataFrame, dtype: dict[str, str]) -> bytes:
    """`df` as one snappy parquet file whose column types are the Glue types of `dtype` (pure)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([pa.field(name, _arrow_type(dtype.get(name), df[name])) for name in df.columns])
    table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue().to_pybytes()


def _arrow_type(athena: str | None, column: pd.Series):
    import pyarrow as pa
    types = {"string": pa.string(), "int": pa.int32(), "bigint": pa.int64(), "double": pa.float64(),
             "float": pa.float32(), "boolean": pa.bool_(), "array<double>": pa.list_(pa.float64())}
    if athena is None:
        return pa.Array.from_pandas(column).type
    if athena not in types:
        raise AwsIoError(f"no parquet type for the Glue type {athena!r}")
    return types[athena]


# --- S3: single objects (Ingest's given files, Evaluate's production baseline) -------------------
def find_object(uri: str, names: tuple[str, ...], region: str | None = None) -> str:
    """`uri` itself when it is an object, else the first of `names` under it as a prefix.

    The data parameters accept "the file, or a prefix holding it"; a clear error when neither.
    """
    root = local_root()
    if root is not None:
        path = local_s3_path(uri, root)
        if path.is_file():
            return uri
        for name in names:
            if (path / name).is_file():
                return uri.rstrip("/") + "/" + name
        raise AwsIoError(f"nothing at {uri} (local store {path}): give the file's s3:// URI, or a "
                         f"prefix holding one of {', '.join(names)}")
    from botocore.exceptions import ClientError
    bucket, key = parse_s3_uri(uri)
    s3 = _boto3_session(region).client("s3")
    candidates = ([key] if key and not key.endswith("/") else []) + \
        [f"{key.rstrip('/')}/{name}".lstrip("/") for name in names]
    for candidate in candidates:
        try:
            s3.head_object(Bucket=bucket, Key=candidate)
            return f"s3://{bucket}/{candidate}"
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code")
            if code in ("403", "AccessDenied"):
                raise AwsIoError(f"s3://{bucket}/{candidate}: access denied: the execution role may "
                                 "read only raw/ of the data bucket; put the file there") from err
            if code not in ("404", "NoSuchKey", "NotFound"):
                raise AwsIoError(f"cannot read s3://{bucket}/{candidate}: {err}") from err
    raise AwsIoError(f"nothing at {uri}: give the file's s3:// URI, or a prefix holding one of "
                     f"{', '.join(names)}")


def open_object(uri: str, region: str | None = None):
    """A binary stream of the object at `uri` (read in chunks; never loaded whole), closed by `with`."""
    import contextlib
    root = local_root()
    if root is not None:
        path = local_s3_path(uri, root)
        if not path.is_file():
            raise AwsIoError(f"nothing at {uri} (local store {path})")
        return open(path, "rb")
    from botocore.exceptions import ClientError
    bucket, key = parse_s3_uri(uri)
    try:
        body = _boto3_session(region).client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    except ClientError as err:
        raise AwsIoError(f"cannot read {uri}: {err}") from err
    return contextlib.closing(body)


def download_object(uri: str, dest: Path, region: str | None = None) -> Path:
    """Copy the object at `uri` to the file `dest` (streamed), via a temp name; returns `dest`."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open_object(uri, region) as stream, open(tmp, "wb") as out:
            shutil.copyfileobj(stream, out, 1 << 20)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def write_json_object(uri: str, payload: dict[str, Any], region: str | None = None) -> str:
    """Put one JSON object at `uri` (locally: written whole, then renamed into place); returns `uri`."""
    body = json.dumps(payload, indent=1, sort_keys=True, default=str).encode() + b"\n"
    root = local_root()
    if root is not None:
        path = local_s3_path(uri, root)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(body)
        os.replace(tmp, path)
        return uri
    bucket, key = parse_s3_uri(uri)
    _boto3_session(region).client("s3").put_object(Bucket=bucket, Key=key, Body=body,
                                                   ContentType="application/json")
    return uri


# --- Glue: point a table at a location ------------------------------------------------------------
def table_input(table: str, location: str, columns: list[tuple[str, str]], parameters: dict[str, str],
                description: str = "") -> dict[str, Any]:
    """Glue's TableInput for an external parquet table (pure; shared by AWS and the local catalog)."""
    return {
        "Name": table,
        "Description": description,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", **{k: str(v) for k, v in parameters.items()}},
        "StorageDescriptor": {"Location": location, "Columns": [{"Name": n, "Type": t} for n, t in columns],
                              "Compressed": True, **PARQUET_STORAGE},
        "PartitionKeys": [],
    }


def get_table(database: str, table: str, region: str | None = None) -> dict[str, Any] | None:
    """The table as Glue's GetTable()["Table"] describes it, or None when there is none."""
    root = local_root()
    if root is not None:
        try:
            return local_layout.read_record(local_layout.catalog_path(root, database, table))
        except local_layout.LayoutError as err:
            raise AwsIoError(f"the local catalog entry is damaged: {err}") from None
    glue = _boto3_session(region).client("glue")
    try:
        return glue.get_table(DatabaseName=database, Name=table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def point_table(database: str, table: str, location: str, columns: list[tuple[str, str]],
                parameters: dict[str, str], description: str = "", region: str | None = None) -> dict[str, Any]:
    """Create the table, or move it, to `location` with these columns and parameters; return it.

    Creates the database when missing. One UpdateTable call (locally, one atomic rename) moves
    the table, so a reader sees either the old location or the new one, never a mix.
    """
    spec = table_input(table, location, columns, parameters, description)
    root = local_root()
    if root is not None:
        return local_layout.put_table(root, database, spec["Name"], spec, now=_now())
    glue = _boto3_session(region).client("glue")
    try:
        glue.get_database(Name=database)
    except glue.exceptions.EntityNotFoundException:
        glue.create_database(DatabaseInput={"Name": database,
                                            "Description": "MyFlix tables (created by the Publish step)"})
    try:
        glue.get_table(DatabaseName=database, Name=table)
        glue.update_table(DatabaseName=database, TableInput=spec)
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=spec)
    return glue.get_table(DatabaseName=database, Name=table)["Table"]


# --- SageMaker: the model registry ----------------------------------------------------------------
def describe_model_package(arn: str) -> dict[str, Any]:
    """DescribeModelPackage for a versioned package ARN (locally, the registry file)."""
    match = PACKAGE_ARN.match(arn or "")
    if not match:
        raise AwsIoError(f"{arn!r} is not a versioned model package ARN "
                         "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")
    root = local_root()
    if root is not None:
        group, version = match.group(3), int(match.group(4))
        path = local_layout.registry_group_dir(root, group) / f"{version}.json"   # whatever its case
        if not path.is_file():
            raise AwsIoError(f"no model package {arn} in the local registry ({path} is missing): "
                             "run the pipeline's Register step first (see `myflix registry list`)")
        return json.loads(path.read_text())
    sagemaker = _boto3_session(match.group(1) or None).client("sagemaker")
    try:
        return sagemaker.describe_model_package(ModelPackageName=arn)
    except sagemaker.exceptions.ClientError as err:
        raise AwsIoError(f"cannot read the model package {arn}: {err}") from err


def latest_approved_package(group: str, region: str | None = None) -> dict[str, Any] | None:
    """DescribeModelPackage of the newest Approved package of `group` (locally, the registry
    files), or None when the group has none: "the model in production" for drift and churn."""
    root = local_root()
    if root is not None:
        folder = local_layout.registry_group_dir(root, group)
        for version in reversed(local_layout.package_versions(folder)):
            try:
                package = json.loads((folder / f"{version}.json").read_text())
            except (OSError, json.JSONDecodeError):
                continue                    # a version being written right now
            if package.get("ModelApprovalStatus") == "Approved":
                return package
        return None
    sagemaker = _boto3_session(region).client("sagemaker")
    try:
        found = sagemaker.list_model_packages(
            ModelPackageGroupName=group, ModelApprovalStatus="Approved", ModelPackageType="Versioned",
            SortBy="CreationTime", SortOrder="Descending", MaxResults=1)["ModelPackageSummaryList"]
    except sagemaker.exceptions.ClientError as err:
        code = err.response.get("Error", {}).get("Code")
        if code in ("ValidationException", "ResourceNotFound") and "not" in str(err).lower():
            return None                     # no such group yet: nothing in production
        raise AwsIoError(f"cannot list the model packages of {group}: {err}") from err
    if not found:
        return None
    return describe_model_package(found[0]["ModelPackageArn"])


# --- S3: listing a prefix (PrepareInteractions: the collected events, an interactions prefix) -----
def list_objects(prefix_uri: str, region: str | None = None) -> list[tuple[str, int]]:
    """(uri, size in bytes) of every object under `prefix_uri`, in key order; [] when there is none.

    Locally the stand-in's files (temp files of a writer, named `.<name>...`, are not objects yet).
    """
    root = local_root()
    if root is not None:
        base = local_s3_path(prefix_uri, root)
        bucket, key = parse_s3_uri(prefix_uri)
        if base.is_file():
            return [(prefix_uri, base.stat().st_size)]
        folder = base if base.is_dir() else base.parent
        if not folder.is_dir():
            return []
        found = []
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts):
                rel = path.relative_to(local_layout.s3_root(root) / bucket).as_posix()
                if rel.startswith(key):
                    found.append((f"s3://{bucket}/{rel}", path.stat().st_size))
        return found
    from botocore.exceptions import ClientError
    bucket, key = parse_s3_uri(prefix_uri)
    s3 = _boto3_session(region).client("s3")
    try:
        return [(f"s3://{bucket}/{o['Key']}", int(o["Size"]))
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
                for o in page.get("Contents", []) if not o["Key"].endswith("/")]
    except ClientError as err:
        raise AwsIoError(f"cannot list {prefix_uri}: {err}. The execution role needs s3:ListBucket "
                         "on the bucket for that prefix") from err


def put_file(path: Path, uri: str, region: str | None = None) -> str:
    """Put the local file `path` at `uri` (locally: copied to a temp name, then renamed); returns `uri`."""
    root = local_root()
    if root is not None:
        target = local_s3_path(uri, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)
        return uri
    bucket, key = parse_s3_uri(uri)
    _boto3_session(region).client("s3").upload_file(str(path), bucket, key)
    return uri
