"""Viewer events: `POST /events` checks and stores them, `DELETE /viewers/{id}` forgets a viewer.

What a batch must look like, field by field, is docs/CONTRACTS.md "Collected events"; `parse_batch`
checks it and returns each event as the one stored shape (`STORED_KEYS`, timestamp as integer
epoch seconds): nothing else from the request is kept (no IP, no user agent, no headers).

Two sinks with one protocol (`Sink`):
- `LocalSink` (`myflix serve`, MYFLIX_WORKDIR): the local S3 stand-in,
  `<workdir>/s3/<bucket>/events/dt=YYYY-MM-DD/<batch>.jsonl`. A batch is acknowledged only after
  its file is durable: written to a temporary name, fsync'd, renamed, and the folder fsync'd, so a
  crash (even SIGKILL, even a power cut) after the 200 keeps it and a crash before leaves at most a
  stray `.tmp` file that nothing reads. Idempotent by event_id: the ids already stored are read
  from the files once (on first use) and kept in memory, under one lock with the writes, so a
  replayed or concurrent batch is stored once.
- `FirehoseSink` (AWS): PutRecordBatch to the stack's delivery stream, which writes
  `s3://<bucket>/events/dt=.../` (GZIP). Records that fail are retried (only those); if some still
  fail the answer is 503 so the client sends the batch again: a 200 is never given for a lost
  event. Firehose delivers at least once and a client may resend after a timeout, so duplicates
  can be stored: PrepareInteractions dedupes by event_id (this sink only skips ids it saw itself
  recently).

Forgetting writes a forget record `events/forgotten/<sha256 of the id>.json` (the id itself is not
in it) that makes PrepareInteractions drop the viewer's events arriving later, then removes the
viewer's lines from the stored objects (an atomic rewrite per object; on S3 with their older
versions too, the bucket being versioned).
"""
from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from chalice import BadRequestError as InvalidRequest  # Code "BadRequestError", as docs/CONTRACTS.md says

from chalicelib.errors import PayloadTooLarge, ServiceUnavailable, clip

MAX_EVENTS = 100                 # events in one batch
MAX_BODY_BYTES = 64 * 1024       # one batch's body
EVENT_ID_LENGTH = (8, 64)
VIEWER_ID_LENGTH = (1, 64)
MAX_TIMESTAMP_TEXT = 40          # an ISO 8601 string is at most this long
EVENT_KINDS = ("like", "unlike", "list_add", "list_remove", "view", "play", "rating")
RATING_RANGE = (0, 10)           # IMDb's scale
# This century, as epoch seconds: 1999-12-31 .. 2100-01-02 UTC, so that every ISO time of the years
# 2000..2099 (any offset) lies inside; anything else is a client's bug
TIMESTAMP_RANGE = (946_598_400, 4_102_531_200)
# RFC 3339 / ISO 8601 times of the years 2000..2099, month by month (only February 29 of a year
# that is not a leap year passes the pattern and is refused); the same pattern is in /openapi.json
ISO_PATTERN = (r"20[0-9]{2}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9])|(0[13-9]|1[0-2])-30|(0[13578]|1[02])-31)"
               r"[Tt]([01][0-9]|2[0-3]):[0-5][0-9]"
               r"(:[0-5][0-9](\.[0-9]{1,6})?)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?")
ID_CHARS = "A-Za-z0-9_-"
_ID = re.compile(f"[{ID_CHARS}]+")
TCONST_PATTERN = r"tt[0-9]{7,9}"
_TCONST = re.compile(TCONST_PATTERN)
_ISO = re.compile(ISO_PATTERN)
FIELDS = ("event_id", "viewer_id", "tconst", "event", "value", "timestamp")
REQUIRED = ("event_id", "viewer_id", "tconst", "event")
STORED_KEYS = FIELDS             # exactly these keys, in this order, per stored line
EVENTS_PREFIX = "events"
FORGOTTEN_PREFIX = "events/forgotten"
BATCH_EXAMPLE = ('{"events": [{"event_id": "e8f1c2a9", "viewer_id": "v-3f2a", "tconst": "tt0133093", '
                 '"event": "like"}]}')


# --- checks ------------------------------------------------------------------------------------

def _fail(path: str, message: str):
    raise InvalidRequest(f"{path}: {message}")


def _name(key: str) -> str:
    """A field name as it may appear in a path: plain names as they are, anything else quoted and clipped."""
    return key if re.fullmatch(r"[A-Za-z0-9_]{1,40}", key) else clip(key)


def _check_id(value, path: str, length: tuple[int, int]) -> str:
    low, high = length
    if not isinstance(value, str):
        _fail(path, f"must be a string of {low}..{high} characters [{ID_CHARS}], "
                    f"got {clip(json.dumps(value))}")
    if not low <= len(value) <= high or not _ID.fullmatch(value):
        _fail(path, f"must be {low}..{high} characters of [{ID_CHARS}], got {clip(value)}")
    return value


def _timestamp(value, path: str) -> int:
    if isinstance(value, str):
        if len(value) > MAX_TIMESTAMP_TEXT or not _ISO.fullmatch(value):
            _fail(path, f"must be epoch seconds or an ISO 8601 time of this century (2024-05-01T10:00:00Z, "
                        f"offset optional: UTC), got {clip(value)}")
        try:
            moment = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1] in "Zz" else value)
        except ValueError:   # the pattern's fields are in range, but the day is not in that month
            _fail(path, f"is not a date of the calendar, got {clip(value)}")
        if moment.tzinfo is None:      # a time without an offset is taken as UTC
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = moment.timestamp()
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = float(value)
        low, high = TIMESTAMP_RANGE
        if not low <= seconds <= high:
            _fail(path, f"epoch seconds must lie between {low} and {high} (this century), got {clip(value)}")
    else:
        _fail(path, f"must be epoch seconds (a number) or an ISO 8601 string, got {clip(json.dumps(value))}")
    return int(seconds)


def check_event(raw, path: str, now: float) -> dict:
    # `now` is the server's time, stored for an event that carries no timestamp
    """One event in its stored shape, or InvalidRequest naming `path.field`."""
    if not isinstance(raw, dict):
        _fail(path, "must be an object with " + ", ".join(FIELDS))
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        _fail(f"{path}.{_name(unknown[0])}", f"unknown field; an event has only {list(FIELDS)}")
    for name in REQUIRED:
        if name not in raw:
            _fail(f"{path}.{name}", "is required")
    event = {
        "event_id": _check_id(raw["event_id"], f"{path}.event_id", EVENT_ID_LENGTH),
        "viewer_id": _check_id(raw["viewer_id"], f"{path}.viewer_id", VIEWER_ID_LENGTH),
    }
    tconst = raw["tconst"]
    if not isinstance(tconst, str) or not _TCONST.fullmatch(tconst):
        _fail(f"{path}.tconst", f"must be an IMDb id, 'tt' and 7 to 9 digits, got {clip(json.dumps(tconst))}")
    kind = raw["event"]
    if kind not in EVENT_KINDS:
        _fail(f"{path}.event", f"must be one of {list(EVENT_KINDS)}, got {clip(json.dumps(kind))}")
    value = raw.get("value")
    if kind == "rating":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not ok or not RATING_RANGE[0] <= value <= RATING_RANGE[1]:
            _fail(f"{path}.value", f"a rating needs a number from {RATING_RANGE[0]} to {RATING_RANGE[1]} "
                                   f"(IMDb's scale), got {clip(json.dumps(value))}")
        value = float(value)
    elif value is not None:
        _fail(f"{path}.value", f"only a rating has a value; send null or leave it out for {kind!r}")
    stamp = _timestamp(raw["timestamp"], f"{path}.timestamp") if "timestamp" in raw else int(now)
    event.update(tconst=tconst, event=kind, value=value, timestamp=stamp)
    return event


def parse_batch(raw_body: bytes | str | None, now: float | None = None) -> list[dict]:
    """The checked events of a `POST /events` body; 413 when too large, 400 naming the field path."""
    if raw_body is None or len(raw_body) == 0:
        raise InvalidRequest(f"send a JSON body: {BATCH_EXAMPLE}")
    if len(raw_body) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"the body is {len(raw_body)} bytes; /events takes at most {MAX_BODY_BYTES}: "
                              f"send at most {MAX_EVENTS} events a batch")
    try:
        body = json.loads(raw_body)
    except RecursionError:
        raise InvalidRequest("the JSON body is nested too deeply") from None
    except ValueError as err:
        raise InvalidRequest(f"the body is not valid JSON ({clip(err, 80)})") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"send a JSON object: {BATCH_EXAMPLE}")
    unknown = sorted(set(body) - {"events"})
    if unknown:
        _fail(_name(unknown[0]), "unknown field; the body has only 'events'")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        _fail("events", f"must be a non-empty list of events: {BATCH_EXAMPLE}")
    if len(events) > MAX_EVENTS:
        _fail("events", f"holds {len(events)} events; at most {MAX_EVENTS} a batch")
    now = time.time() if now is None else now
    return [check_event(e, f"events[{i}]", now) for i, e in enumerate(events)]


def check_viewer_id(viewer_id: str) -> str:
    return _check_id(viewer_id, "viewer_id", VIEWER_ID_LENGTH)


def viewer_sha256(viewer_id: str) -> str:
    return hashlib.sha256(viewer_id.encode("utf-8")).hexdigest()


def to_line(event: dict) -> str:
    return json.dumps({k: event[k] for k in STORED_KEYS}, separators=(",", ":"), allow_nan=False) + "\n"


def forget_record(viewer_id: str, now: float | None = None) -> tuple[str, bytes]:
    """(key under the bucket, body) of a viewer's forget record: the id's digest, never the id."""
    digest = viewer_sha256(viewer_id)
    body = {"viewer_sha256": digest, "forgotten_at": int(time.time() if now is None else now)}
    return f"{FORGOTTEN_PREFIX}/{digest}.json", json.dumps(body).encode()


def _dedupe(events: list[dict], seen) -> tuple[list[dict], int]:
    fresh, ids = [], set()
    for event in events:
        if event["event_id"] in ids or event["event_id"] in seen:
            continue
        ids.add(event["event_id"])
        fresh.append(event)
    return fresh, len(events) - len(fresh)


def _partition(now: float) -> str:
    return "dt=" + datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y-%m-%d")


# --- sinks -------------------------------------------------------------------------------------

class Sink(Protocol):
    def put(self, events: list[dict]) -> dict:
        """Store the batch (durably) before returning `{"accepted": n, "duplicates": m}`."""

    def forget(self, viewer_id: str) -> dict:
        """Write the forget record and remove the viewer's stored events: `{"events_deleted": n, ...}`."""


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """`path` holds `data` after a crash at any point after this returns (temp, fsync, rename, dir fsync)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _lines(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    return data.decode("utf-8").splitlines(keepends=True)


class LocalSink:
    """Events under `<workdir>/s3/<bucket>/events/`, one durable file per stored batch."""

    def __init__(self, bucket_root: Path, clock=time.time):
        self.root = Path(bucket_root) / EVENTS_PREFIX
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: set[str] | None = None

    def files(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.glob("dt=*/*") if p.is_file() and not p.name.startswith(".")
                      and (p.name.endswith(".jsonl") or p.name.endswith(".jsonl.gz")))

    def stored(self) -> list[dict]:
        """Every stored event (tests, the benchmark): unreadable lines are skipped, never fatal."""
        out = []
        for path in self.files():
            for line in _lines(path):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def _ids(self) -> set[str]:
        if self._seen is None:
            self._seen = {e.get("event_id") for e in self.stored()}
        return self._seen

    def put(self, events: list[dict]) -> dict:
        with self._lock:
            fresh, duplicates = _dedupe(events, self._ids())
            if fresh:
                now = self.clock()
                name = f"{int(now * 1000):013d}-{uuid.uuid4().hex[:12]}.jsonl"
                data = "".join(to_line(e) for e in fresh).encode("utf-8")
                write_durably(self.root / _partition(now) / name, data)
                self._seen.update(e["event_id"] for e in fresh)
        return {"accepted": len(fresh), "duplicates": duplicates}

    def forget(self, viewer_id: str) -> dict:
        key, record = forget_record(viewer_id, self.clock())
        deleted = 0
        with self._lock:
            # the record first: from now on a late copy of their events is dropped by training
            write_durably(self.root.parent / key, record)
            for path in self.files():
                lines = _lines(path)
                keep = [line for line in lines if _viewer_of(line) != viewer_id]
                if len(keep) == len(lines):
                    continue
                deleted += len(lines) - len(keep)
                if keep:
                    data = "".join(keep).encode("utf-8")
                    write_durably(path, gzip.compress(data) if path.name.endswith(".gz") else data)
                else:
                    path.unlink()
                    _fsync_dir(path.parent)
        return {"events_deleted": deleted, "complete": True}


def _viewer_of(line: str):
    try:
        return json.loads(line).get("viewer_id")
    except (ValueError, AttributeError):
        return None


class FirehoseSink:
    """PutRecordBatch to `stream`; forgetting rewrites the viewer's objects under s3://bucket/events/."""

    ATTEMPTS = 4
    MAX_FORGET_OBJECTS = 5000     # objects read per DELETE; beyond: the forget record keeps training clean
    RECENT_IDS = 50_000           # event ids this container remembers (duplicates answered without a write)

    def __init__(self, stream: str, bucket: str | None, region: str | None = None, firehose=None, s3=None,
                 sleep=time.sleep):
        self.stream, self.bucket, self.region = stream, bucket, region
        self._firehose, self._s3 = firehose, s3
        self.sleep = sleep
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def firehose(self):
        if self._firehose is None:
            import boto3
            self._firehose = boto3.client("firehose", region_name=self.region)
        return self._firehose

    @property
    def s3(self):
        if self._s3 is None:
            import boto3
            self._s3 = boto3.client("s3", region_name=self.region)
        return self._s3

    def put(self, events: list[dict]) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        with self._lock:
            fresh, duplicates = _dedupe(events, self._recent)
        pending = [{"Data": to_line(e).encode("utf-8")} for e in fresh]
        error = None
        for attempt in range(self.ATTEMPTS):
            if not pending:
                break
            if attempt:
                self.sleep(min(1.0, 0.1 * 2 ** attempt))
            try:
                answer = self.firehose.put_record_batch(DeliveryStreamName=self.stream, Records=pending)
            except (ClientError, BotoCoreError) as err:    # the whole call failed: every record is pending
                error = str(err)
                continue
            if not answer.get("FailedPutCount"):
                pending = []
                break
            results = answer.get("RequestResponses", [])
            error = next((r.get("ErrorCode") for r in results if r.get("ErrorCode")), "a record failed")
            pending = [record for record, result in zip(pending, results) if result.get("ErrorCode")]
        if pending:
            raise ServiceUnavailable(f"{len(pending)} of {len(fresh)} events could not be delivered "
                                     f"({clip(error, 80)}); nothing of this answer is acknowledged: send the "
                                     "batch again (event ids make a resend safe)")
        with self._lock:
            for event in fresh:
                self._recent[event["event_id"]] = None
            while len(self._recent) > self.RECENT_IDS:
                self._recent.popitem(last=False)
        return {"accepted": len(fresh), "duplicates": duplicates}

    def forget(self, viewer_id: str) -> dict:
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.bucket:
            raise ServiceUnavailable("the API has no bucket to forget in: set MYFLIX_BUCKET")
        key, record = forget_record(viewer_id)
        deleted, scanned, complete = 0, 0, True
        try:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=record, ContentType="application/json")
            pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=EVENTS_PREFIX + "/dt=")
            for page in pages:
                for obj in page.get("Contents", []):
                    if scanned >= self.MAX_FORGET_OBJECTS:
                        complete = False
                        break
                    scanned += 1
                    deleted += self._forget_in(obj["Key"], viewer_id)
                if not complete:
                    break
        except (ClientError, BotoCoreError) as err:
            written = "was" if scanned else "may not have been"
            raise ServiceUnavailable(f"forgetting did not finish ({clip(str(err), 80)}); the forget record "
                                     f"{written} written: send the request again") from None
        return {"events_deleted": deleted, "complete": complete, "objects_scanned": scanned}

    def _forget_in(self, key: str, viewer_id: str) -> int:
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        zipped = key.endswith(".gz") or body[:2] == b"\x1f\x8b"
        lines = (gzip.decompress(body) if zipped else body).decode("utf-8").splitlines(keepends=True)
        keep = [line for line in lines if _viewer_of(line) != viewer_id]
        if len(keep) == len(lines):
            return 0
        if keep:
            data = "".join(keep).encode("utf-8")
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(data) if zipped else data)
        else:
            self.s3.delete_object(Bucket=self.bucket, Key=key)
        # the bucket is versioned: the old versions hold the viewer's lines until they are deleted too
        versions = self.s3.list_object_versions(Bucket=self.bucket, Prefix=key)
        for version in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
            if version["Key"] == key and not version.get("IsLatest"):
                self.s3.delete_object(Bucket=self.bucket, Key=key, VersionId=version["VersionId"])
        return len(lines) - len(keep)


def make_sink(settings) -> Sink:
    """The sink the settings name: local files with MYFLIX_WORKDIR, else Firehose (503 when unset)."""
    from chalicelib import local_layout  # copy of local_aws/layout.py: the API Lambda ships api/ only
    from chalicelib.config import DEFAULT_LOCAL_BUCKET

    if settings.local:
        return LocalSink(local_layout.s3_root(settings.workdir) / (settings.bucket or DEFAULT_LOCAL_BUCKET))
    if not settings.events_stream:
        raise ServiceUnavailable("this API collects no events: set MYFLIX_EVENTS_STREAM to the stack's "
                                 "EventsStreamName output (and MYFLIX_BUCKET for forgetting)")
    return FirehoseSink(settings.events_stream, settings.bucket, settings.region)
