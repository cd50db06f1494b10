"""Reading the published table `myflix.movie_clusters`: where it is (the catalog) and its rows (parquet).

Two catalogs with one shape (Glue's GetTable()["Table"]): AWS Glue through boto3, and the local
runner's `<workdir>/catalog/<database>/<table>.json`. The rows are the parquet files under the
table's location, fetched with boto3 on S3 (or read under `<workdir>/s3/<bucket>/...` locally)
and parsed with pyarrow, so the embeddings go straight from arrow into one numpy matrix (going
through pandas' object column costs seconds at 300k rows). The catalog is asked first and
cheaply (`TableRef`), so the API re-reads rows only when the location has moved (a new execution
published). With the table comes the collaborative model released with it (`read_recommender`):
both move together.
"""
from __future__ import annotations

import functools
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from chalicelib import local_layout  # copy of local_aws/layout.py: the API Lambda ships api/ only
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
    try:
        return local_layout.s3_path(workdir, uri)
    except local_layout.LayoutError:
        raise TableUnavailable(f"location {uri!r} is not a usable s3:// URI") from None


# --- catalogs -----------------------------------------------------------------------------------

def local_catalog_path(settings: Settings) -> Path:
    return local_layout.catalog_path(settings.workdir, settings.database, settings.table)


def get_table_local(settings: Settings) -> TableRef:
    path = local_catalog_path(settings)
    try:
        table = local_layout.read_record(path)
    except OSError as err:
        raise TableUnavailable(f"{path} is not readable JSON ({err}): re-run the Publish step") from None
    except local_layout.LayoutError as err:
        raise TableUnavailable(f"{err}: not readable JSON; re-run the Publish step") from None
    if table is None:
        raise TableUnavailable(f"no published table in {settings.workdir} (missing {path}): {RUN_FIRST}")
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

def _parquet_objects_s3(location: str, settings: Settings) -> list[bytes]:
    """Every parquet object under the table's location, read whole (boto3; the table is tens of MB)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = local_layout.split_s3_uri(location)
    s3 = boto3.client("s3", region_name=settings.region)
    try:
        keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
                for obj in page.get("Contents", []) if obj["Key"].endswith(".parquet")]
        return [s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in sorted(keys)]
    except (ClientError, BotoCoreError) as err:
        raise TableUnavailable(f"could not read the table's parquet under {location}: {err}") from None


def read_arrow(ref: TableRef, settings: Settings):
    """The table's rows as one pyarrow Table (local folder or S3)."""
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    if not ref.location.startswith("s3://"):
        raise TableUnavailable(f"the table's location {ref.location!r} is not an s3:// URI: re-run the Publish step")
    if settings.local:
        folder = s3_to_local(ref.location, settings.workdir)
        sources = sorted(p for p in folder.rglob("*.parquet") if p.is_file()) if folder.is_dir() else []
    else:
        sources = [io.BytesIO(body) for body in _parquet_objects_s3(ref.location, settings)]
    if not sources:
        raise TableUnavailable(f"the table's location {ref.location} holds no parquet files: "
                               f"re-run the Publish step ({RUN_FIRST})")
    try:
        _use_jemalloc()
        tables = [pq.read_table(source) for source in sources]
        return pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    except (pa.ArrowException, OSError) as err:
        raise TableUnavailable(f"the table's parquet under {ref.location} is unreadable ({err}): "
                               "re-run the Publish step") from None


@functools.cache          # once per process
def _use_jemalloc() -> None:
    """Make jemalloc pyarrow's default pool in this process, when this pyarrow has it.

    The cold start reads ~100 MB of columns into fresh memory: with pyarrow's default mimalloc
    pool that first read took 0.75-0.95 s at 300k movies, with jemalloc 0.2 s
    (benchmarks/bench_api.py's cold start: 2.2 s -> 1.6 s on the 2-core machine). read_table
    takes no pool of its own, so the process default is set, once; the API owns its process.
    """
    import pyarrow as pa
    try:
        pa.set_memory_pool(pa.jemalloc_memory_pool())
    except (NotImplementedError, AttributeError, pa.ArrowException):
        pass            # a pyarrow built without jemalloc keeps its default


def read_rows(ref: TableRef, settings: Settings) -> tuple[pd.DataFrame, np.ndarray]:
    """(every column but the embedding as a DataFrame, the embeddings as a float32 matrix)."""
    table = read_arrow(ref, settings)
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise TableUnavailable(f"the table under {ref.location} lacks the columns {missing} "
                               "(docs/CONTRACTS.md, 'The published table'): re-run the Publish step")
    embeddings = embeddings_matrix(table.column("embedding"))
    frame = table.drop_columns(["embedding"]).to_pandas()
    return frame, embeddings


def embeddings_matrix(column) -> np.ndarray:
    """An arrow list<double> column as one float32 (n, d) matrix, without a Python loop per row.

    Rows whose embedding is null or of another length are kept as NaN rows, so the index counts
    and reports them instead of the whole table failing.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(column)
    if n == 0:
        return np.zeros((0, 0), dtype=np.float32)
    offsets = column.offsets.to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    if column.null_count == 0 and (lengths == lengths[0]).all() and lengths[0] > 0:
        # the common case: one flat buffer of values, read in place (no per-row work at all)
        values = column.values.slice(int(offsets[0]), int(offsets[-1] - offsets[0]))
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(n, int(lengths[0]))
    lengths = pc.fill_null(pc.list_value_length(column), 0).to_numpy(zero_copy_only=False)
    dim = int(np.bincount(lengths).argmax())     # the common length; others are malformed rows
    if dim == 0:
        raise TableUnavailable("the table's embeddings are empty: re-run the Publish step")
    good = lengths == dim
    flat = pc.list_flatten(column.filter(pa.array(good))).to_numpy(zero_copy_only=False)
    out = np.full((n, dim), np.nan, dtype=np.float32)
    out[good] = np.asarray(flat, dtype=np.float32).reshape(int(good.sum()), dim)
    return out


# --- the collaborative model released with the table (docs/CONTRACTS.md, "Release and serving") --

RECOMMENDER_PARAMETER = "myflix_recommender"
_ARTEFACT_NAME = re.compile(r"_myflix_recommender[A-Za-z0-9_.-]*\.npz")


@dataclass(frozen=True)
class RecommenderArtefact:
    """The served hybrid over the table's recommender (content + popularity when there is none) and
    what /health says about it."""
    hybrid: object                 # chalicelib.hybrid.Hybrid
    meta: dict
    reason: str | None = None      # why collaborative is off (None: it is on)

    @property
    def collaborative(self) -> bool:
        return self.reason is None

    def health(self) -> dict:
        if not self.collaborative:
            return {"kind": "none", "reason": self.reason}
        return {"kind": self.meta.get("kind"), "simulated": bool(self.meta.get("simulated")),
                "viewers": int(self.meta.get("n_viewers") or 0), "films": int(self.meta.get("n_items") or 0),
                "interactions": int(self.meta.get("n_interactions") or 0)}


CONTENT_TASTE_DECAY = 0.1          # content only: a like's next film counts 0.1x per film it placed
PART_BYTES = 16 * 1024 * 1024      # ranged GETs of this size, 8 at a time, for a large object


def _object_bytes(uri: str, settings: Settings) -> bytes | bytearray:
    """The whole object; on S3 a large one (the recommender: hundreds of MB at 1M viewers) in parallel
    ranged GETs, since one GET stream from Lambda runs at tens of MB/s."""
    if settings.local:
        return s3_to_local(uri, settings.workdir).read_bytes()
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    bucket, key = local_layout.split_s3_uri(uri)
    s3 = boto3.client("s3", region_name=settings.region)
    first = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{PART_BYTES - 1}")
    head = first["Body"].read()
    total = int(first.get("ContentRange", "").rpartition("/")[2] or len(head))
    if len(head) >= total:
        return head
    buffer = bytearray(total)
    buffer[:len(head)] = head
    etag = first["ETag"]         # every part from the same object (a 412 if it was replaced meanwhile)

    def part(start: int) -> None:
        end = min(start + PART_BYTES, total) - 1
        body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}", IfMatch=etag)["Body"].read()
        buffer[start:start + len(body)] = body
        if len(body) != min(PART_BYTES, total - start):
            raise OSError(f"{uri}: a ranged read at {start} returned {len(body)} bytes")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(part, range(len(head), total, PART_BYTES)))
    return buffer      # a bytearray: hashlib and npz_arrays read it in place (bytes() would copy it all)


def _large_object(uri: str, settings: Settings):
    """A large object's bytes: locally the file mapped read-only (hashed and parsed in the page cache,
    no 300 MB copy; Publish writes each release to a new prefix and never rewrites a file in place),
    on S3 the parallel ranged read."""
    if not settings.local:
        return _object_bytes(uri, settings)
    import mmap
    with open(s3_to_local(uri, settings.workdir), "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


class _BufferFile:
    """A read-only, seekable file over bytes or a bytearray without copying it (io.BytesIO copies a
    bytearray): zipfile reads only the central directory through it."""

    def __init__(self, data) -> None:
        self._view, self._pos = memoryview(data), 0

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = max(0, offset + (0, self._pos, len(self._view))[whence])
        return self._pos

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        out = bytes(self._view[self._pos:end])
        self._pos = max(self._pos, end)
        return out


def npz_arrays(data: bytes | bytearray) -> dict[str, np.ndarray]:
    """The arrays of an uncompressed .npz (what np.savez writes) as views on `data`, no copy.

    np.load reads each member through zipfile in chunks, with a CRC pass, into fresh memory: 1.3 s
    for the 337 MB artefact of 300k films and 1M viewers, against a few ms here (the sha256 checked
    before this already covers integrity). Like `allow_pickle=False`, object arrays are refused; a
    compressed member is read the slow way, and an unaligned id array (or small one) is copied.
    """
    import struct
    import zipfile

    out = {}
    with zipfile.ZipFile(_BufferFile(data)) as archive:
        for info in archive.infolist():
            name = info.filename[:-len(".npy")] if info.filename.endswith(".npy") else info.filename
            if info.compress_type != zipfile.ZIP_STORED:
                with archive.open(info) as member:
                    out[name] = np.lib.format.read_array(member, allow_pickle=False)
                continue
            start = info.header_offset
            if data[start:start + 4] != b"PK\x03\x04":
                raise ValueError(f"{info.filename}: no local file header where the directory says")
            name_len, extra_len = struct.unpack("<HH", data[start + 26:start + 30])
            start += 30 + name_len + extra_len
            header = io.BytesIO(data[start:start + min(info.file_size, 1 << 16)])
            version = np.lib.format.read_magic(header)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran, dtype = read_header(header)
            if dtype.hasobject:
                raise ValueError(f"{info.filename} holds Python objects: refused (no pickles)")
            count = int(np.prod(shape, dtype=np.int64))
            offset = start + header.tell()
            if offset + count * dtype.itemsize > start + info.file_size:
                raise ValueError(f"{info.filename}: its header promises more data than the member holds")
            array = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
            # np.savez does not align members: numpy's searchsorted copies an unaligned array on every
            # call (17 ms for the 1M viewer ids), gathers and reductions do not; so the id arrays
            # (strings, searched) are copied once here and the numeric ones stay views
            if offset % max(1, dtype.alignment) and (dtype.kind in "SU" or count * dtype.itemsize < 1 << 20):
                array = array.copy()
            out[name] = array.reshape(shape, order="F" if fortran else "C")
    return out


class RecommenderFetch:
    """The recommender the table names, fetched in a background thread while the table's rows load
    (S3 GETs, the sha256 and the parquet decoding all release the GIL): `result(popular)` waits for
    it and builds the hybrid. Never raises: a table without the parameter is served content +
    popularity, and a missing, altered or unreadable artefact is reported (on /health) while the
    API keeps serving that way.
    """

    def __init__(self, ref: TableRef, settings: Settings, background: bool = True):
        self.ref, self.settings = ref, settings
        self._meta: dict = {}
        self._arrays: dict | None = None
        self._reason: str | None = None
        self._thread = None
        if background:
            import threading
            self._thread = threading.Thread(target=self._fetch, name="myflix-recommender", daemon=True)
            self._thread.start()
        else:
            self._fetch()

    def _fetch(self) -> None:
        from chalicelib import hybrid

        name = self.ref.parameters.get(RECOMMENDER_PARAMETER)
        if not name:
            self._reason = "the table names no recommender: content and popularity only"
            return
        if not isinstance(name, str) or not _ARTEFACT_NAME.fullmatch(name):
            self._reason = (f"the table's {RECOMMENDER_PARAMETER} parameter {str(name)[:60]!r} is not an "
                            "artefact name: re-run the Publish step")
            return
        base = self.ref.location.rstrip("/") + "/"
        try:
            meta = json.loads(_object_bytes(base + name[:-len(".npz")] + ".json", self.settings))
            if not isinstance(meta, dict):
                raise ValueError("the .json is not an object")
            self._meta = meta
            if meta.get("kind") in (None, "none"):
                self._reason = f"collaborative model skipped: {meta.get('reason', 'no reason given')}"
                return
            data = _large_object(base + name, self.settings)
            hybrid.verify_npz(data, meta)            # the digest first: nothing unchecked is parsed
            self._arrays = npz_arrays(data)
        except Exception as err:  # noqa: BLE001 - any failure leaves the API serving content answers
            self._reason = (f"the recommender beside the table was not loaded ({type(err).__name__}: "
                            f"{str(err)[:200]})")

    def result(self, popular: list[str]) -> "RecommenderArtefact":
        """The hybrid over the fetched artefact (or content + popularity), `popular` as its cold prior,
        with the hybrid parameters Evaluate measured (`hybrid` in the .json)."""
        from chalicelib import hybrid

        if self._thread is not None:
            self._thread.join()
        # Evaluate's parameters, also for a kind-none artefact (it measured content + popularity with them)
        params = self._meta.get("hybrid") if isinstance(self._meta.get("hybrid"), dict) else {}
        if self._arrays is not None:
            try:
                kind = str(self._meta.get("kind", "collaborative"))
                served = hybrid.Hybrid.from_arrays(self._arrays, popular=popular, kind=kind, **params)
                return RecommenderArtefact(served, self._meta)
            except Exception as err:  # noqa: BLE001 - malformed arrays: content answers, and why
                self._reason = (f"the recommender's arrays are unusable ({type(err).__name__}: "
                                f"{str(err)[:200]})")
        # Content answers keep each like's taste (issue 19, docs/CONTRACTS.md): per-like lists
        # interleaved, whatever vote the collaborative release measured best (Evaluate's ranking gate
        # is skipped without a collaborative model, so no measured figure rests on this choice)
        params = {**params, "taste_decay": CONTENT_TASTE_DECAY}
        try:
            content_only = hybrid.Hybrid.from_arrays(None, popular=popular, **params)
        except Exception:  # noqa: BLE001 - parameters this copy does not know: its defaults
            content_only = hybrid.Hybrid.from_arrays(None, popular=popular, taste_decay=CONTENT_TASTE_DECAY)
        return RecommenderArtefact(content_only, self._meta, self._reason)


def read_recommender(ref: TableRef, settings: Settings, popular: list[str]) -> RecommenderArtefact:
    """The hybrid over `<location>/_myflix_recommender.npz` + `.json` when the table's parameter names
    them (digest checked before a byte is parsed, no pickles), fetched in this thread."""
    return RecommenderFetch(ref, settings, background=False).result(popular)
