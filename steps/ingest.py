"""Ingest (SageMaker processing step, first in the pipeline): IMDb's two files, fetched or given, verified.

Downloads `title.basics.tsv.gz` and `title.ratings.tsv.gz` from `--imdb-base-url` into `--output`
(SageMaker uploads that folder to the step's raw/ prefix; Preprocess reads the step's output
property), or, when `--basics-uri`/`--ratings-uri` are given, only verifies those files and passes
them on (copied in, gzipped on the way if they are plain TSV). Standard library only (the SKLearn
image has nothing else that helps): the body streams to disk in 1 MiB chunks, never whole in
memory; 5xx answers, 408/429, resets and timeouts are retried with exponential backoff (a
`Retry-After` is honoured, capped); a broken transfer resumes with `Range` (guarded by `If-Range`
so a file republished meanwhile restarts) when the server answers 206, and restarts from byte 0
when it answers 200. Each file is then checked: a complete gzip (decompressed to its end, so the
CRC-32 and length trailers are checked) whose first line is IMDb's header. Files are written under
a dot-prefixed `.part` name beside their final name and renamed only once verified; any failure
removes them, so the output never holds a half-written file. `ingest.json` (sources, bytes,
sha256, rows) is written last.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import http.client
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Callable

if __package__ in (None, ""):  # started as a file, as the containers do: make `steps` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from steps import local_layout, schema  # noqa: E402  (local_layout: a copy of local_aws/layout.py)

OUTPUT = f"{schema.PROCESSING_ROOT}/output/raw"
INGEST_JSON = "ingest.json"
CHUNK = 1 << 20
PART_SUFFIX = ".part"
USER_AGENT = "myflix-ingest/1 (+SageMaker processing step)"
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class ImdbFile:
    """One of IMDb's files: its name on the server and in the output, and its header line."""
    key: str                  # "basics" | "ratings" (argument and parameter prefix)
    name: str                 # title.basics.tsv.gz
    columns: tuple[str, ...]

    @property
    def header(self) -> bytes:
        return "\t".join(self.columns).encode("utf-8")


FILES = (ImdbFile("basics", f"{schema.BASICS_FILE_STEM}.gz", schema.BASICS_COLUMNS),
         ImdbFile("ratings", f"{schema.RATINGS_FILE_STEM}.gz", schema.RATINGS_COLUMNS))


class IngestError(Exception):
    """A file could not be fetched or is not what IMDb publishes; the message says what to do."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a download is retried (waits grow by `factor`, up to `max_wait`)."""
    attempts: int = 8
    first_wait: float = 2.0
    factor: float = 2.0
    max_wait: float = 60.0
    timeout: float = 60.0           # seconds without a byte before a read counts as dropped

    def wait(self, failures: int, retry_after: float | None = None) -> float:
        backoff = min(self.max_wait, self.first_wait * self.factor ** max(0, failures - 1))
        return min(self.max_wait, max(backoff, retry_after or 0.0))


@dataclass
class Download:
    """What one download did: bytes on disk, how many requests and restarts it took."""
    url: str
    bytes: int = 0
    total: int | None = None
    requests: int = 0
    resumed: int = 0          # requests answered 206 from a non-zero offset
    restarts: int = 0         # partial files thrown away (no Range support, or the file changed)
    validator: str | None = None
    notes: list[str] = field(default_factory=list)


# --- downloading ----------------------------------------------------------------------------
_RETRYABLE_ERRORS = (ConnectionError, TimeoutError, socket.timeout, http.client.HTTPException,
                     urllib.error.URLError, OSError)


def _retry_after(headers) -> float | None:
    value = (headers or {}).get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None   # an HTTP date: fall back to the backoff


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    """'bytes 100-199/1000' -> (100, 1000); '*' total -> None; anything else -> None."""
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    start, _, _ = span.partition("-")
    try:
        return int(start), (int(total) if total.strip() not in ("", "*") else None)
    except ValueError:
        return None


def _progress(log: Callable[[str], None], name: str, done: int, total: int | None) -> None:
    mib = done / (1 << 20)
    if total:
        log(f"ingest: {name} {mib:,.1f} of {total / (1 << 20):,.1f} MiB ({100.0 * done / total:.0f}%)")
    else:
        log(f"ingest: {name} {mib:,.1f} MiB")


def download(url: str, part: Path, *, policy: RetryPolicy = RetryPolicy(),
             log: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep,
             progress_every: float = 0.05) -> Download:
    """Stream `url` into the file `part`, retrying and resuming; returns what it took.

    Raises IngestError for an answer that retrying cannot fix (404, 403, other 4xx) and when the
    attempts are used up. Completeness against Content-Length/Content-Range is checked here; the
    content itself is checked by `verify`.
    """
    state = Download(url=url)
    name = Path(urllib.parse.urlparse(url).path).name or url
    part.parent.mkdir(parents=True, exist_ok=True)
    part.write_bytes(b"")
    failures = 0
    last_error = "no attempt made"

    def back_off(reason: str, retry_after: float | None = None) -> None:
        """Count a failed attempt, say why, and wait before the next one."""
        nonlocal failures, last_error
        failures += 1
        last_error = reason
        wait = policy.wait(failures, retry_after)
        log(f"ingest: {name}: {reason}; retrying in {wait:.1f}s (attempt {failures + 1} of {policy.attempts})")
        sleep(wait)

    while True:
        if failures >= policy.attempts:
            raise IngestError(f"{url}: gave up after {failures} failed attempts ({last_error}); "
                              f"{state.bytes:,} bytes were received. Check the network path to the host "
                              "(in a VPC: a NAT gateway), or run again later")
        have = part.stat().st_size
        headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
            if state.validator:
                headers["If-Range"] = state.validator
        state.requests += 1
        try:
            response = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                              timeout=policy.timeout)
        except urllib.error.HTTPError as err:
            err.close()
            if err.code == 416 and have and state.total == have:
                return _finished(state, have, log, name)
            if err.code in (404, 410):
                raise IngestError(f"{url}: HTTP {err.code} {err.reason}: the file is not there. Check "
                                  "--imdb-base-url (the pipeline parameter imdb_base_url; IMDb publishes "
                                  f"{' and '.join(f.name for f in FILES)} at its root), or give the files "
                                  "with basics_uri/ratings_uri") from None
            if 400 <= err.code < 500 and err.code not in (408, 416, 429):
                raise IngestError(f"{url}: HTTP {err.code} {err.reason}: the server refuses the request; "
                                  "retrying will not help. Check the URL and that it is public") from None
            if err.code == 416:   # our offset is past the (republished, shorter) file: start over
                part.write_bytes(b"")
                state.restarts += 1
            back_off(f"HTTP {err.code} {err.reason}", _retry_after(err.headers))
            continue
        except _RETRYABLE_ERRORS as err:
            back_off(f"{type(err).__name__}: {err}")
            continue
        with response:
            status = response.status
            state.validator = response.headers.get("ETag") or response.headers.get("Last-Modified") \
                or state.validator
            if status == 206 and have:
                span = _content_range(response.headers.get("Content-Range"))
                if span is None or span[0] != have:
                    # A range we did not ask for: trust nothing on disk and start over.
                    log(f"ingest: {name}: the server answered Content-Range "
                        f"{response.headers.get('Content-Range')!r} to bytes={have}-; restarting")
                    part.write_bytes(b"")
                    state.restarts += 1
                    failures += 1
                    last_error = "unexpected Content-Range"
                    continue
                state.total = span[1]
                state.resumed += 1
                log(f"ingest: {name}: resuming at byte {have:,}")
                mode = "ab"
            elif status == 200:
                if have:
                    state.notes.append("the server ignored Range (or the file changed): restarted from byte 0")
                    log(f"ingest: {name}: the server sent the whole file again (no Range support, or "
                        "the file changed); restarting from byte 0")
                    state.restarts += 1
                have = 0
                length = response.headers.get("Content-Length")
                state.total = int(length) if length and length.isdigit() else None
                mode = "wb"
            else:
                raise IngestError(f"{url}: unexpected HTTP {status} {response.reason}: expected 200 or 206")
            done = have
            step = max(CHUNK, int((state.total or 0) * progress_every))
            next_report = done + step
            try:
                with open(part, mode) as out:
                    while True:
                        chunk = response.read(CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        done += len(chunk)
                        if done >= next_report:
                            _progress(log, name, done, state.total)
                            next_report = done + step
            except _RETRYABLE_ERRORS as err:
                state.bytes = done
                back_off(f"connection dropped at byte {done:,} ({type(err).__name__}: {err})")
                continue
            state.bytes = done
            if state.total is not None and done < state.total:
                back_off(f"the body ended at byte {done:,} of {state.total:,}")
                continue
            if state.total is not None and done > state.total:
                raise IngestError(f"{url}: received {done:,} bytes, more than the {state.total:,} announced: "
                                  "the server is misbehaving; run again later")
            return _finished(state, done, log, name)


def _finished(state: Download, size: int, log: Callable[[str], None], name: str) -> Download:
    state.bytes = size
    _progress(log, name, size, state.total or size)
    return state


# --- verifying ------------------------------------------------------------------------------
class _HashingReader:
    """A read-only file wrapper that hashes every byte read through it."""

    def __init__(self, raw: BinaryIO):
        self.raw = raw
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.sha256.update(data)
        self.bytes += len(data)
        return data


def verify(path: Path, file: ImdbFile, where: str,
           max_input_mb: int = schema.DEFAULTS["max_input_mb"]) -> dict:
    """Decompress `path` to its end (gzip checks CRC-32 and length) and check its header line.

    Returns {"bytes", "sha256", "rows", "decompressed_bytes"} (rows: data lines after the header).
    `where` names the file's source in the error messages. More than `max_input_mb` MiB once
    decompressed is refused while streaming (a gzip bomb is not read to its end).
    """
    limit = max_input_mb * (1 << 20)
    with open(path, "rb") as raw:
        reader = _HashingReader(raw)
        try:
            with gzip.GzipFile(fileobj=reader, mode="rb") as gz:   # type: ignore[arg-type]
                first = gz.readline(1 << 16)
                lines, size = 0, len(first)
                last = b"\n"
                for chunk in iter(lambda: gz.read(CHUNK), b""):
                    lines += chunk.count(b"\n")
                    last = chunk[-1:]
                    size += len(chunk)
                    if size > limit:
                        raise IngestError(f"{where}: more than max_input_mb={max_input_mb:,} MiB once "
                                          "decompressed: not IMDb's file (a gzip bomb?), or raise max_input_mb")
        except EOFError as err:
            raise IngestError(f"{where}: the gzip stream ends early ({err}): the file is truncated. "
                              "Download it again (or re-upload it)") from None
        except (gzip.BadGzipFile, zlib.error, OSError) as err:
            raise IngestError(f"{where}: not a valid gzip file ({err}): the file is corrupt or not "
                              f"{file.name}. Download it again (or re-upload it)") from None
    header = first.rstrip(b"\r\n")
    if not first:
        raise IngestError(f"{where}: the file is empty once decompressed: expected {file.name} "
                          f"starting with {file.header.decode()!r}")
    if header != file.header:
        shown = header[:200].decode("utf-8", "replace")
        raise IngestError(f"{where}: the first line is {shown!r}, not IMDb's {file.name} header "
                          f"{file.header.decode()!r}: is this the right file?")
    rows = lines + (0 if last == b"\n" else 1)
    return {"bytes": reader.bytes, "sha256": reader.sha256.hexdigest(), "rows": rows,
            "decompressed_bytes": size}


# --- given files ----------------------------------------------------------------------------
def copy_given(uri: str, part: Path, log: Callable[[str], None] = print, region: str | None = None) -> dict:
    """Copy a given file (s3:// URI or prefix; locally through the stand-in store) into `part`,
    gzip-compressing it on the way when it is a plain TSV. Returns {"source", "gzipped"}."""
    from steps import aws_io
    file = _file_for(part)
    try:
        source = aws_io.find_object(uri, (file.name, file.name[:-len(".gz")]), region)
        log(f"ingest: {file.name}: verifying the given file {source}")
        return _copy(aws_io.open_object(source, region), part, source)
    except aws_io.AwsIoError as err:
        raise IngestError(f"{file.key}_uri: {err}") from None


def _copy(opened, part: Path, source: str) -> dict:
    with opened as stream:
        head = stream.read(2)
        gzipped = head == GZIP_MAGIC
        with open(part, "wb") as out:
            if gzipped:
                out.write(head)
                shutil.copyfileobj(stream, out, CHUNK)
            else:
                with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
                    gz.write(head)
                    shutil.copyfileobj(stream, gz, CHUNK)
    return {"source": source, "gzipped": not gzipped}


def _file_for(part: Path) -> ImdbFile:
    for file in FILES:
        if part.name == f".{file.name}{PART_SUFFIX}":
            return file
    raise ValueError(f"{part} is not a part file of {[f.name for f in FILES]}")


# --- the step -------------------------------------------------------------------------------
def file_url(base_url: str, file: ImdbFile) -> str:
    """`<base_url>/<file name>`; only http(s), and never a download inside a local run."""
    url = urllib.parse.urljoin(base_url.strip().rstrip("/") + "/", file.name)
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise IngestError(f"--imdb-base-url {base_url!r} is not an http(s) URL: give the address "
                          f"where IMDb's files are published (default {schema.DEFAULTS['imdb_base_url']})")
    from steps import aws_io
    if aws_io.local_root() is not None and not (parsed.hostname == "localhost"
                                                 or parsed.hostname.startswith("127.")):
        # The local runner blocks the network for steps: fail at once instead of retrying.
        raise IngestError(f"{url}: a local run does not download (steps have no network there): give "
                          "the files with -p basics_uri=... -p ratings_uri=... (a local path or s3:// "
                          "URI; `myflix run` gives its demo data by default)")
    return url


def part_path(output: Path, file: ImdbFile) -> Path:
    return output / f".{file.name}{PART_SUFFIX}"


def ingest(output: Path, base_url: str, given: dict[str, str], *, policy: RetryPolicy = RetryPolicy(),
           log: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep,
           max_input_mb: int = schema.DEFAULTS["max_input_mb"], input_version: str = "",
           region: str | None = None) -> dict:
    """Fetch or copy each file, verify it, rename it into `output`; write and return ingest.json.

    `given` maps "basics"/"ratings" to a URI ("" or missing: download from `base_url`). On any
    failure the part files are removed and IngestError raised; files already verified stay.
    """
    output.mkdir(parents=True, exist_ok=True)
    for stale in output.glob(f".*{PART_SUFFIX}"):
        stale.unlink()
    manifest: dict = {"base_url": base_url, "files": {}, "input_version": input_version,
                      "max_input_mb": max_input_mb}
    for file in FILES:
        part = part_path(output, file)
        try:
            source = (given.get(file.key) or "").strip()
            if source:
                record = copy_given(source, part, log, region)
                where = record["source"]
            else:
                url = file_url(base_url, file)
                log(f"ingest: downloading {url}")
                fetched = download(url, part, policy=policy, log=log, sleep=sleep)
                record = {"source": url, "requests": fetched.requests, "resumed": fetched.resumed,
                          "restarts": fetched.restarts}
                where = url
                try:
                    record.update(verify(part, file, where, max_input_mb))
                except IngestError:
                    if not (fetched.resumed or fetched.restarts):
                        raise
                    # A file stitched from ranges can mix two publications: fetch it once, whole.
                    log(f"ingest: {file.name}: the resumed download does not verify; downloading it again whole")
                    fetched = download(url, part, policy=policy, log=log, sleep=sleep)
                    record.update(requests=record["requests"] + fetched.requests, resumed=fetched.resumed,
                                  restarts=record["restarts"] + fetched.restarts + 1)
            if "sha256" not in record:
                record.update(verify(part, file, where, max_input_mb))
            os.replace(part, output / file.name)
        except BaseException:
            part.unlink(missing_ok=True)
            raise
        log(f"ingest: {file.name} verified: {record['bytes']:,} bytes, {record['rows']:,} rows, "
            f"sha256 {record['sha256'][:12]}")
        manifest["files"][file.name] = record
    local_layout.write_json_atomic(output / INGEST_JSON, manifest, sort_keys=True, default=None)
    return manifest


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    d = schema.DEFAULTS
    ap = argparse.ArgumentParser(prog="ingest.py", description=__doc__.splitlines()[0])
    ap.add_argument("--imdb-base-url", "--base-url", dest="base_url", default=d["imdb_base_url"],
                    help="where title.basics.tsv.gz and title.ratings.tsv.gz are published")
    ap.add_argument("--basics-uri", default="", help="a given title.basics file (s3:// URI or prefix): "
                    "verified and passed on instead of downloaded")
    ap.add_argument("--ratings-uri", default="", help="a given title.ratings file (s3:// URI or prefix)")
    ap.add_argument("--output", default=OUTPUT)
    ap.add_argument("--attempts", type=int, default=RetryPolicy.attempts)
    ap.add_argument("--retry-wait", type=float, default=RetryPolicy.first_wait,
                    help="seconds before the first retry (doubling after each failure)")
    ap.add_argument("--timeout", type=float, default=RetryPolicy.timeout)
    ap.add_argument("--input-version", default="",
                    help="what the inputs are (ETags/versions/sha256), set by the CLI: recorded, and part of "
                         "the step's cache key, so new data under the same URI is ingested again")
    ap.add_argument("--max-input-mb", type=int, default=schema.DEFAULTS["max_input_mb"],
                    help="refuse a file larger than this once decompressed (MiB)")
    ap.add_argument("--region", default=None, help="the AWS region of the given files' bucket, from the "
                    "definition (a processing job is not promised AWS_REGION)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    policy = RetryPolicy(attempts=max(1, args.attempts), first_wait=max(0.0, args.retry_wait),
                         timeout=args.timeout)
    started = time.monotonic()
    say = lambda m: print(m, flush=True)  # noqa: E731
    try:
        manifest = ingest(Path(args.output), args.base_url,
                          {"basics": args.basics_uri, "ratings": args.ratings_uri}, policy=policy, log=say,
                          max_input_mb=args.max_input_mb, input_version=args.input_version,
                          region=args.region or None)
    except IngestError as err:
        print(f"ingest: {err}", file=sys.stderr, flush=True)
        return 2
    rows = ", ".join(f"{name} {rec['rows']:,} rows" for name, rec in manifest["files"].items())
    say(f"ingest: done in {time.monotonic() - started:.1f}s: {rows}; wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
