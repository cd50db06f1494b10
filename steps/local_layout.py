"""The local AWS stand-ins' layout under a work folder, spelled once, and the one way to write their records.

`<workdir>/s3/<bucket>/<key>` (S3), `<workdir>/catalog/<database>/<table>.json` (Glue, GetTable's
shape), `<workdir>/registry/<group>/<version>.json` (the model registry), `<workdir>/models/` (CreateModel),
`<workdir>/endpoints/<name>.json` (endpoints, written by the deployer's local backend; its release lock
and unpacked models beside them). docs/CONTRACTS.md, "Local AWS stand-ins", says what each file holds.
Standard library only, and nothing of the project: it runs in a job, in the API Lambda and in the CLI.

COPIES: steps/local_layout.py and api/chalicelib/local_layout.py are byte-identical copies of
local_aws/layout.py, because packaging forces them: a job's code bundle ships steps/ (and inference/)
only, and the API Lambda ships api/ only. Edit local_aws/layout.py and copy it over both;
tests/test_local_aws.py fails while they differ.
"""
from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

S3_SCHEME = "s3://"
S3_DIR = "s3"
CATALOG_DIR = "catalog"
REGISTRY_DIR = "registry"
MODELS_DIR = "models"
ENDPOINTS_DIR = "endpoints"
RELEASE_LOCK = ".release.lock"        # in ENDPOINTS_DIR: one release at a time
MODEL_CACHE = ".models"               # in ENDPOINTS_DIR: endpoints' model.tar.gz unpacked once


class LayoutError(ValueError):
    """A URI or name the local stand-ins cannot map, or a record that is not readable JSON."""


# --- S3 -------------------------------------------------------------------------------------------
def split_s3_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/part` -> ("bucket", "key/part") (the key may be empty); a LayoutError else.

    The one S3-URI parser: a bucket name has 3 or more characters (S3's minimum) and no '/'."""
    if not isinstance(uri, str) or not uri.startswith(S3_SCHEME):
        raise LayoutError(f"{uri!r} is not an s3:// URI (s3://<bucket>/<key>)")
    bucket, _, key = uri[len(S3_SCHEME):].partition("/")
    if len(bucket) < 3 or bucket in (".", ".."):
        raise LayoutError(f"{uri!r} has no valid bucket name (S3 bucket names have 3 to 63 characters)")
    return bucket, key


def s3_key_parts(uri: str) -> tuple[str, str]:
    """split_s3_uri, refusing a key with a '..' part: what may be mapped to a local file."""
    bucket, key = split_s3_uri(uri)
    if any(part == ".." for part in key.split("/")):
        raise LayoutError(f"{uri!r} contains '..': S3 keys with parent references are refused locally")
    return bucket, key


def s3_root(workdir: str | Path) -> Path:
    return Path(workdir) / S3_DIR


def s3_path(workdir: str | Path, uri: str) -> Path:
    """The local file (or folder, for a prefix) of `s3://bucket/key`: `<workdir>/s3/<bucket>/<key>`."""
    bucket, key = s3_key_parts(uri)
    return s3_root(workdir) / bucket / key


# --- Glue catalog ---------------------------------------------------------------------------------
def catalog_path(workdir: str | Path, database: str, table: str) -> Path:
    return Path(workdir) / CATALOG_DIR / database / f"{table}.json"


def put_table(workdir: str | Path, database: str, table: str, table_input: dict[str, Any],
              now: str | None = None) -> dict[str, Any]:
    """CreateTable/UpdateTable on the local catalog: the entry in GetTable's shape, replaced in one
    rename (a reader sees the old location or the new one); CreateTime kept, VersionId counted up."""
    path = catalog_path(workdir, database, table)
    previous = read_record(path)
    now = now or datetime.now(timezone.utc).isoformat()
    record = {**table_input, "DatabaseName": database,
              "CreateTime": (previous or {}).get("CreateTime", now), "UpdateTime": now,
              "VersionId": str(int((previous or {}).get("VersionId", "0")) + 1),
              "IsRegisteredWithLakeFormation": False}
    write_json_atomic(path, record, sort_keys=True)
    return record


# --- model registry and models --------------------------------------------------------------------
def registry_dir(workdir: str | Path) -> Path:
    return Path(workdir) / REGISTRY_DIR


def registry_group_dir(workdir: str | Path, group: str) -> Path:
    """The group's folder, found whatever its case (ARNs carry group names lower-cased)."""
    base = registry_dir(workdir)
    if base.is_dir():
        for folder in sorted(base.iterdir()):
            if folder.is_dir() and folder.name.lower() == group.lower():
                return folder
    return base / group


def package_versions(group_dir: Path) -> list[int]:
    """The version numbers with a file in a group's folder, oldest first."""
    return sorted(int(p.stem) for p in Path(group_dir).glob("*.json") if p.stem.isdigit())


def models_dir(workdir: str | Path) -> Path:
    return Path(workdir) / MODELS_DIR


# --- endpoints ------------------------------------------------------------------------------------
def endpoints_dir(workdir: str | Path) -> Path:
    return Path(workdir) / ENDPOINTS_DIR


def endpoint_path(workdir: str | Path, name: str) -> Path:
    return endpoints_dir(workdir) / f"{name}.json"


def release_lock_path(workdir: str | Path) -> Path:
    return endpoints_dir(workdir) / RELEASE_LOCK


def model_cache_dir(workdir: str | Path) -> Path:
    return endpoints_dir(workdir) / MODEL_CACHE


def read_endpoint(workdir: str | Path, name: str) -> dict[str, Any] | None:
    """The endpoint's record (DescribeEndpoint-like, plus ModelPackageArn, ModelDataUrl, Tags), None
    when there is none; a LayoutError naming the file when it is unreadable or not a record."""
    return read_record(endpoint_path(workdir, name))


# --- records --------------------------------------------------------------------------------------
def read_record(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`; None when the file does not exist; a LayoutError when it is not one."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise LayoutError(f"{path} is unreadable ({type(err).__name__}: {str(err)[:120]})") from None
    if not isinstance(record, dict):
        raise LayoutError(f"{path} is unreadable (not a JSON object)")
    return record


def write_json_atomic(path: str | Path, document: Any, *, sort_keys: bool = False, indent: int | None = 2,
                      mode: int = 0o644, default: Callable[[Any], Any] | None = str) -> None:
    """Write `document` as JSON (and a newline) to a temp file beside `path`, then rename it into place:
    a reader sees the old file or the new one, never half of one. Temp names start with '.' and end
    with '.tmp', which the local store does not count as objects. The file gets `mode`; what JSON
    cannot hold is written as `default` gives it (None: a TypeError, the strict artefacts' choice)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(document, handle, indent=indent, sort_keys=sort_keys, default=default)
            handle.write("\n")
        os.chmod(tmp, mode)                     # mkstemp's 0600 is not what a plain write gives
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
