"""Reading the published table `myflix.movie_clusters`: where it is (the catalog) and its rows (parquet).

Two catalogs with one shape (Glue's GetTable()["Table"]): AWS Glue through boto3, and the local
runner's `<workdir>/catalog/<database>/<table>.json`. The rows are the parquet files under the
table's location: read with awswrangler on S3, with pyarrow under `<workdir>/s3/<bucket>/...`
locally. The catalog is asked first and cheaply (`TableRef`), so the API re-reads rows only when
the location has moved (a new execution published).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from chalicelib.config import Settings
from chalicelib.errors import TableUnavailable

COLUMNS = ("tconst", "title", "year", "runtime", "genres", "rating", "votes", "cluster", "distance", "embedding")
RUN_FIRST = "run `make run` or `myflix run` first"


@dataclass(frozen=True)
class TableRef:
    """What the catalog says about the table: enough to tell whether the rows changed."""
    location: str
    parameters: dict = field(default_factory=dict)
    version: str | None = None

    @property
    def features(self) -> list[str] | None:
        raw = self.parameters.get("myflix_features")
        try:
            names = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            return None
        return list(names) if isinstance(names, list) else None


def _ref_from_table(table: dict, where: str) -> TableRef:
    location = (table.get("StorageDescriptor") or {}).get("Location")
    if not location:
        raise TableUnavailable(f"{where} has no StorageDescriptor.Location: the table was not published completely; "
                               f"{RUN_FIRST}")
    return TableRef(location=location, parameters=dict(table.get("Parameters") or {}),
                    version=str(table.get("VersionId")) if table.get("VersionId") is not None else None)


def s3_to_local(uri: str, workdir: Path) -> Path:
    """s3://<bucket>/<key> is <workdir>/s3/<bucket>/<key> (docs/CONTRACTS.md, local stand-ins)."""
    if not uri.startswith("s3://"):
        raise TableUnavailable(f"location {uri!r} is not an s3:// URI")
    rest = uri[len("s3://"):].strip("/")
    if not rest or ".." in rest.split("/"):
        raise TableUnavailable(f"location {uri!r} is not a usable s3:// URI")
    return Path(workdir) / "s3" / rest


# --- catalogs -----------------------------------------------------------------------------------

def local_catalog_path(settings: Settings) -> Path:
    return Path(settings.workdir) / "catalog" / settings.database / f"{settings.table}.json"


def get_table_local(settings: Settings) -> TableRef:
    path = local_catalog_path(settings)
    if not path.is_file():
        raise TableUnavailable(f"no published table in {settings.workdir} (missing {path}): {RUN_FIRST}")
    try:
        table = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise TableUnavailable(f"{path} is not readable JSON ({err}): re-run the Publish step") from None
    return _ref_from_table(table, str(path))


def get_table_glue(settings: Settings, glue=None) -> TableRef:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    glue = glue or boto3.client("glue", region_name=settings.region)
    try:
        table = glue.get_table(DatabaseName=settings.database, Name=settings.table)["Table"]
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "EntityNotFoundException":
            raise TableUnavailable(f"Glue table {settings.database}.{settings.table} does not exist yet: "
                                   "run the pipeline (its Publish step creates it)") from None
        raise TableUnavailable(f"Glue GetTable {settings.database}.{settings.table} failed: {code}: {err}") from None
    except BotoCoreError as err:
        raise TableUnavailable(f"Glue is unreachable: {err}") from None
    return _ref_from_table(table, f"Glue table {settings.database}.{settings.table}")


def get_table(settings: Settings) -> TableRef:
    return get_table_local(settings) if settings.local else get_table_glue(settings)


# --- rows ---------------------------------------------------------------------------------------

def read_rows_local(ref: TableRef, settings: Settings) -> pd.DataFrame:
    import pyarrow.parquet as pq

    folder = s3_to_local(ref.location, settings.workdir)
    files = sorted(p for p in folder.rglob("*.parquet") if p.is_file()) if folder.is_dir() else []
    if not files:
        raise TableUnavailable(f"the table's location {ref.location} ({folder}) holds no parquet files: "
                               f"re-run the Publish step ({RUN_FIRST})")
    return pd.concat([pq.read_table(p).to_pandas() for p in files], ignore_index=True)


def read_rows_s3(ref: TableRef, settings: Settings) -> pd.DataFrame:
    import awswrangler as wr

    try:
        return wr.s3.read_parquet(path=ref.location.rstrip("/") + "/", dataset=False,
                                  path_suffix=".parquet", ignore_empty=True)
    except Exception as err:  # noqa: BLE001 - any S3/parquet failure means the same thing to a reader
        raise TableUnavailable(f"could not read the table's parquet under {ref.location}: "
                               f"{type(err).__name__}: {err}") from None


def read_rows(ref: TableRef, settings: Settings) -> pd.DataFrame:
    frame = read_rows_local(ref, settings) if settings.local else read_rows_s3(ref, settings)
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise TableUnavailable(f"the table under {ref.location} lacks the columns {missing} "
                               "(docs/CONTRACTS.md, 'The published table'): re-run the Publish step")
    return frame


def embeddings_matrix(frame: pd.DataFrame) -> np.ndarray:
    """The `embedding` list column as one float32 (n, d) matrix; rows of other lengths are an error."""
    column = frame["embedding"]
    try:
        import pyarrow as pa

        arr = pa.array(column)  # pandas list column -> arrow list array, flattened without Python loops
        lengths = arr.value_lengths().to_numpy(zero_copy_only=False)
        flat = arr.flatten().to_numpy(zero_copy_only=False)
    except Exception:  # noqa: BLE001 - fall back to the plain (slow) path for odd inputs
        rows = [np.asarray(v, dtype=np.float64) for v in column]
        lengths = np.array([len(r) for r in rows])
        flat = np.concatenate(rows) if rows else np.zeros(0)
    if len(lengths) == 0:
        return np.zeros((0, 0), dtype=np.float32)
    dim = int(lengths[0])
    if not (lengths == dim).all():
        bad = int((lengths != dim).sum())
        raise TableUnavailable(f"{bad} rows of the table have an embedding whose length is not {dim}: "
                               "re-run the Publish step")
    return np.asarray(flat, dtype=np.float32).reshape(len(lengths), dim)
