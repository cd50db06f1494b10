"""POST /events and DELETE /viewers/{id}: field-by-field checks, bounds, idempotence, durable local
storage, forgetting, and the Firehose sink under moto (failed records retried, 503 when lost)."""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

import app as api_app
from chalicelib import config, events, service

NOW = int(time.time())


def event(i: int, viewer: str = "viewer-a", kind: str = "like", **extra) -> dict:
    return {"event_id": f"evt-{i:08d}", "viewer_id": viewer, "tconst": f"tt{1000000 + i:07d}", "event": kind,
            "timestamp": NOW - 60, **extra}


@pytest.fixture()
def work(tmp_path):
    service.reset(config.Settings(workdir=tmp_path, reload_seconds=0))
    return tmp_path


@pytest.fixture()
def client(work):
    with Client(api_app.app) as c:
        yield c


def post(client, payload, raw: bytes | None = None, path="/events"):
    body = raw if raw is not None else json.dumps(payload)
    response = client.http.post(path, headers={"Content-Type": "application/json"}, body=body)
    return response.status_code, json.loads(response.body)


def delete(client, path):
    response = client.http.delete(path)
    return response.status_code, json.loads(response.body)


def stored_files(work):
    return sorted((work / "s3" / "myflix-local" / "events").glob("dt=*/*.jsonl"))


def stored(work) -> list[dict]:
    return [json.loads(line) for path in stored_files(work) for line in path.read_text().splitlines()]


def test_a_batch_is_stored_durably_in_the_stored_shape_only(client, work):
    batch = [event(1), event(2, kind="rating", value=8.5),
             event(3, kind="play", timestamp="2024-05-01T10:00:00Z"),
             {k: v for k, v in event(4, kind="view").items() if k != "timestamp"}]
    status, body = post(client, {"events": batch})
    assert (status, body) == (200, {"accepted": 4, "duplicates": 0})
    (path,) = stored_files(work)
    assert path.parent.name == "dt=" + time.strftime("%Y-%m-%d", time.gmtime())
    rows = stored(work)
    assert [list(r) for r in rows] == [list(events.STORED_KEYS)] * 4     # exactly these keys, nothing else
    assert rows[1]["value"] == 8.5 and rows[0]["value"] is None
    assert rows[2]["timestamp"] == 1714557600 and isinstance(rows[0]["timestamp"], int)
    assert abs(rows[3]["timestamp"] - time.time()) < 60                     # server time when absent
    assert not list(path.parent.glob(".tmp-*"))                           # the temporary file was renamed


def test_a_replayed_batch_is_stored_once(client, work):
    batch = {"events": [event(i) for i in range(10)]}
    assert post(client, batch) == (200, {"accepted": 10, "duplicates": 0})
    assert post(client, batch) == (200, {"accepted": 0, "duplicates": 10})
    mixed = {"events": [event(5), event(11), event(11)]}                  # one old, one new twice
    assert post(client, mixed) == (200, {"accepted": 1, "duplicates": 2})
    assert len(stored(work)) == 11 and len(stored_files(work)) == 2


def test_a_restarted_api_still_knows_what_it_stored(client, work):
    assert post(client, {"events": [event(1), event(2)]})[0] == 200
    service.reset(config.Settings(workdir=work, reload_seconds=0))     # a new process over the same folder
    assert post(client, {"events": [event(2), event(3)]}) == (200, {"accepted": 1, "duplicates": 1})
    assert sorted(r["event_id"] for r in stored(work)) == ["evt-00000001", "evt-00000002", "evt-00000003"]


def test_concurrent_batches_are_all_stored_once(work):
    svc = service.get_service()
    errors: list[BaseException] = []

    def send(t: int):
        try:   # every thread sends its own 20 events and 5 shared ones
            batch = [event(1000 + t * 20 + i) for i in range(20)] + [event(i) for i in range(5)]
            svc.post_events(json.dumps({"events": batch}), {})
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=send, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    ids = [r["event_id"] for r in stored(work)]
    assert len(ids) == len(set(ids)) == 16 * 20 + 5


@pytest.mark.parametrize("mutate, path", [
    (lambda b: b["events"][1].update(tconst="nm0000001"), "events[1].tconst"),
    (lambda b: b["events"][1].update(tconst="tt123"), "events[1].tconst"),
    (lambda b: b["events"][0].update(event="share"), "events[0].event"),
    (lambda b: b["events"][0].update(event_id="short"), "events[0].event_id"),
    (lambda b: b["events"][0].update(event_id="x" * 65), "events[0].event_id"),
    (lambda b: b["events"][0].update(event_id="evt 0000 1"), "events[0].event_id"),
    (lambda b: b["events"][0].update(viewer_id=""), "events[0].viewer_id"),
    (lambda b: b["events"][0].update(viewer_id="v" * 65), "events[0].viewer_id"),
    (lambda b: b["events"][0].update(viewer_id=12), "events[0].viewer_id"),
    (lambda b: b["events"][0].update(ip="10.0.0.1"), "events[0].ip"),
    (lambda b: b["events"][0].pop("tconst"), "events[0].tconst"),
    (lambda b: b["events"][0].update(value=5), "events[0].value"),
    (lambda b: b["events"][0].update(event="rating"), "events[0].value"),
    (lambda b: b["events"][0].update(event="rating", value=11), "events[0].value"),
    (lambda b: b["events"][0].update(event="rating", value=True), "events[0].value"),
    (lambda b: b["events"][0].update(timestamp="yesterday"), "events[0].timestamp"),
    (lambda b: b["events"][0].update(timestamp=4_200_000_000), "events[0].timestamp"),
    (lambda b: b["events"][0].update(timestamp="1999-05-01T10:00:00Z"), "events[0].timestamp"),
    (lambda b: b["events"][0].update(timestamp="2023-02-30T10:00:00Z"), "events[0].timestamp"),
    (lambda b: b["events"][0].update(timestamp=None), "events[0].timestamp"),
    (lambda b: b["events"][0].update(timestamp=100), "events[0].timestamp"),
    (lambda b: b["events"][0].update(timestamp=True), "events[0].timestamp"),
    (lambda b: b["events"].__setitem__(0, "like"), "events[0]"),
    (lambda b: b.update(user_agent="x"), "user_agent"),
    (lambda b: b.update(events=[]), "events"),
    (lambda b: b.update(events=[event(i) for i in range(events.MAX_EVENTS + 1)]), "events"),
])
def test_bad_input_is_a_400_naming_the_field_and_nothing_is_stored(client, work, mutate, path):
    batch = {"events": [event(1), event(2)]}
    mutate(batch)
    status, body = post(client, batch)
    assert status == 400 and body["Code"] == "BadRequestError", body
    assert body["Message"].startswith(path + ":"), body["Message"]
    assert stored_files(work) == []


def test_bodies_that_are_not_a_batch(client, work):
    assert post(client, None, raw=b"")[0] == 400
    assert post(client, None, raw=b"[1, 2]")[0] == 400
    assert post(client, None, raw=b"{not json")[0] == 400
    assert post(client, None, raw=b"\xff\xfe")[0] == 400
    padded = {"events": [event(1)], "pad": "x" * events.MAX_BODY_BYTES}
    status, body = post(client, padded)
    assert status == 413 and "65536" in body["Message"]
    assert client.http.post("/events?debug=1", headers={"Content-Type": "application/json"},
                            body=json.dumps({"events": [event(1)]})).status_code == 400
    assert stored_files(work) == []


def test_forgetting_a_viewer_removes_their_lines_and_writes_a_record_without_the_id(client, work):
    post(client, {"events": [event(1, "viewer-a"), event(2, "viewer-b"), event(3, "viewer-a")]})
    post(client, {"events": [event(4, "viewer-a")]})
    post(client, {"events": [event(5, "viewer-b")]})
    status, body = delete(client, "/viewers/viewer-a")
    assert status == 200 and body["viewer_id"] == "viewer-a" and body["events_deleted"] == 3
    rows = stored(work)
    assert sorted(r["event_id"] for r in rows) == ["evt-00000002", "evt-00000005"]
    assert len(stored_files(work)) == 2                      # the file holding only viewer-a's event is gone
    digest = hashlib.sha256(b"viewer-a").hexdigest()
    record_path = work / "s3" / "myflix-local" / "events" / "forgotten" / f"{digest}.json"
    record = json.loads(record_path.read_text())
    assert set(record) == {"viewer_sha256", "forgotten_at"} and record["viewer_sha256"] == digest
    assert "viewer-a" not in record_path.read_text()
    assert delete(client, "/viewers/viewer-a")[1]["events_deleted"] == 0          # idempotent
    status, body = delete(client, "/viewers/bad%20id")
    assert status == 400 and body["Message"].startswith("viewer_id:")


def test_events_and_forgetting_need_no_published_table(client, work):
    assert client.http.get("/health").status_code == 200          # "no table"
    assert post(client, {"events": [event(1)]})[0] == 200


# --- the Firehose sink under moto --------------------------------------------------------------------

REGION = "us-east-1"
BUCKET = "myflix-events-test"
STREAM = "myflix-events"


@pytest.fixture()
def aws(monkeypatch, aws_credentials):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        boto3.client("firehose", region_name=REGION).create_delivery_stream(
            DeliveryStreamName=STREAM, ExtendedS3DestinationConfiguration={
                "RoleARN": "arn:aws:iam::123456789012:role/firehose", "BucketARN": f"arn:aws:s3:::{BUCKET}",
                "Prefix": "events/dt=!{timestamp:yyyy-MM-dd}/", "ErrorOutputPrefix": "events-errors/"})
        yield s3


def delivered(s3) -> list[dict]:
    rows = []
    for obj in s3.list_objects_v2(Bucket=BUCKET, Prefix="events/dt=").get("Contents", []):
        data = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        data = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
        rows += [json.loads(line) for line in data.decode().splitlines()]
    return rows


class FlakyFirehose:
    """moto's Firehose, but the first `failures` calls drop every other record (or all) and report them
    failed, as PutRecordBatch does under throttling (FailedPutCount > 0, ErrorCode per failed record)."""

    def __init__(self, real, failures: int, drop_all: bool = False):
        self.real, self.failures, self.sent, self.drop_all = real, failures, [], drop_all

    def put_record_batch(self, DeliveryStreamName, Records):
        self.sent.append(len(Records))
        if self.failures <= 0:
            return self.real.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=Records)
        self.failures -= 1
        kept = [] if self.drop_all else Records[1::2]
        if kept:
            self.real.put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=kept)
        responses = [{"RecordId": "ok"} if i % 2 == 1 and not self.drop_all else
                     {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
                     for i in range(len(Records))]
        return {"FailedPutCount": len(Records) - len(kept), "RequestResponses": responses}


def test_firehose_sink_delivers_and_retries_only_the_failed_records(aws):
    flaky = FlakyFirehose(boto3.client("firehose", region_name=REGION), failures=1)
    sink = events.FirehoseSink(STREAM, BUCKET, REGION, firehose=flaky, sleep=lambda s: None)
    batch = events.parse_batch(json.dumps({"events": [event(i) for i in range(10)]}))
    assert sink.put(batch) == {"accepted": 10, "duplicates": 0}
    assert flaky.sent == [10, 5]                           # the retry carried the five failed records only
    rows = delivered(aws)
    assert sorted(r["event_id"] for r in rows) == [f"evt-{i:08d}" for i in range(10)]
    assert all(list(r) == list(events.STORED_KEYS) for r in rows)
    assert sink.put(batch) == {"accepted": 0, "duplicates": 10}   # this container saw them


def test_firehose_sink_answers_503_when_records_stay_undelivered(aws, monkeypatch):
    flaky = FlakyFirehose(boto3.client("firehose", region_name=REGION), failures=99, drop_all=True)
    monkeypatch.setenv("MYFLIX_EVENTS_STREAM", STREAM)
    svc = service.reset(config.from_env({"MYFLIX_EVENTS_STREAM": STREAM, "MYFLIX_BUCKET": BUCKET,
                                         "AWS_REGION": REGION}))
    svc._sink = events.FirehoseSink(STREAM, BUCKET, REGION, firehose=flaky, sleep=lambda s: None)
    with Client(api_app.app) as client:
        status, body = post(client, {"events": [event(i) for i in range(4)]})
    assert status == 503 and "send the batch again" in body["Message"], body
    assert len(flaky.sent) == events.FirehoseSink.ATTEMPTS
    # and the client's resend is not refused as a duplicate: nothing was acknowledged
    flaky.failures = 0
    again = events.parse_batch(json.dumps({"events": [event(i) for i in range(4)]}))
    assert svc._sink.put(again)["accepted"] == 4


def test_without_a_stream_the_api_refuses_events_with_503(aws):
    service.reset(config.from_env({"AWS_REGION": REGION}))
    with Client(api_app.app) as client:
        status, body = post(client, {"events": [event(1)]})
    assert status == 503 and "MYFLIX_EVENTS_STREAM" in body["Message"]


def test_forgetting_on_aws_rewrites_the_viewers_objects_and_their_old_versions(aws):
    sink = events.FirehoseSink(STREAM, BUCKET, REGION, sleep=lambda s: None)
    sink.put(events.parse_batch(json.dumps({"events": [event(1, "viewer-a"), event(2, "viewer-b")]})))
    sink.put(events.parse_batch(json.dumps({"events": [event(3, "viewer-a")]})))
    only_a = "events/dt=2026-01-01/batch.gz"       # a GZIP object as the stream writes them
    aws.put_object(Bucket=BUCKET, Key=only_a, Body=gzip.compress(events.to_line(
        events.check_event(event(4, "viewer-a"), "e", time.time())).encode()))
    answer = sink.forget("viewer-a")
    assert answer["events_deleted"] == 3 and answer["complete"] is True
    assert [r["event_id"] for r in delivered(aws)] == ["evt-00000002"]
    # no version of any object still holds viewer-a's lines (the bucket is versioned)
    versions = aws.list_object_versions(Bucket=BUCKET, Prefix="events/dt=")
    for version in versions.get("Versions", []):
        body = aws.get_object(Bucket=BUCKET, Key=version["Key"],
                              VersionId=version["VersionId"])["Body"].read()
        body = gzip.decompress(body) if body[:2] == b"\x1f\x8b" else body
        assert b"viewer-a" not in body, version["Key"]
    digest = hashlib.sha256(b"viewer-a").hexdigest()
    record = json.loads(aws.get_object(Bucket=BUCKET, Key=f"events/forgotten/{digest}.json")["Body"].read())
    assert record["viewer_sha256"] == digest and "viewer-a" not in json.dumps(record)
