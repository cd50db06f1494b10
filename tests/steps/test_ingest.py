"""Ingest against a real HTTP server on 127.0.0.1 serving fixture gzip files, one fault per case.

Each case ends in a clear failure or a recovery, and the output folder never holds a partial
file (no `.part` left, only whole, verified files). Given files are checked through the local
stand-in store and under moto.
"""
from __future__ import annotations

import gzip
import hashlib
import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from steps import ingest, schema

BASICS, RATINGS = ingest.FILES


def tsv(columns, rows: int, seed: int) -> bytes:
    lines = ["\t".join(columns)]
    for i in range(rows):
        values = [f"tt{seed:02d}{i:06d}"] + [f"v{(i * 7919 + j * seed) % 10007}" for j in range(len(columns) - 1)]
        lines.append("\t".join(values))
    return ("\n".join(lines) + "\n").encode()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


GOOD = {BASICS.name: gz(tsv(BASICS.columns, 3000, 1)), RATINGS.name: gz(tsv(RATINGS.columns, 2000, 2))}


class Server:
    """A tiny file server. `faults[path]` is a list of behaviours, one consumed per request
    (the last one repeats): "ok", "drop" (half the body, then the connection closes),
    "503", "no-range" (always 200 with the whole file), "short" (no Range either: announces the
    full length, sends half, closes). `files` maps a path to its bytes; a missing path is a 404."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.faults: dict[str, list[str]] = {}
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.lstrip("/")
                server.requests.append((path, dict(self.headers)))
                body = server.files.get(path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                queue = server.faults.get(path) or ["ok"]
                fault = queue.pop(0) if len(queue) > 1 else queue[0]
                if fault == "503":
                    self.send_response(503, "Service Unavailable")
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                start = 0
                rng = self.headers.get("Range")
                if rng and fault not in ("no-range", "short") and self.headers.get("If-Range", etag) == etag:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                part = body[start:]
                self.send_header("Content-Length", str(len(part)))
                self.send_header("ETag", etag)
                self.end_headers()
                if fault in ("drop", "short"):
                    self.wfile.write(part[: len(part) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(part)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    with Server() as s:
        s.files.update(GOOD)
        yield s


def run(output: Path, base_url: str, attempts: int = 4, **given) -> tuple[int, list[str]]:
    logged: list[str] = []
    policy = ingest.RetryPolicy(attempts=attempts, first_wait=0.0, timeout=5.0)
    try:
        ingest.ingest(output, base_url, given, policy=policy, log=logged.append, sleep=lambda s: None)
        return 0, logged
    except ingest.IngestError as err:
        logged.append(f"ERROR {err}")
        return 2, logged


def assert_nothing_partial(output: Path, allowed=()):
    names = sorted(p.name for p in output.iterdir()) if output.exists() else []
    assert not [n for n in names if n.endswith(ingest.PART_SUFFIX)], names
    assert set(names) <= set(allowed), names
    for name in names:
        if name in GOOD:   # every file left is whole and verified
            assert (output / name).read_bytes() == GOOD[name]


def test_success_writes_both_files_and_the_manifest(server, tmp_path):
    code, log = run(tmp_path / "raw", server.url)
    assert code == 0, log
    out = tmp_path / "raw"
    assert sorted(p.name for p in out.iterdir()) == sorted([BASICS.name, RATINGS.name, ingest.INGEST_JSON])
    for name, body in GOOD.items():
        assert (out / name).read_bytes() == body
    manifest = json.loads((out / ingest.INGEST_JSON).read_text())
    assert manifest["files"][BASICS.name]["rows"] == 3000
    assert manifest["files"][RATINGS.name]["sha256"] == hashlib.sha256(GOOD[RATINGS.name]).hexdigest()
    assert any("(100%)" in line for line in log)
    assert all("Range" not in headers for _, headers in server.requests)


def test_a_503_then_success_is_retried(server, tmp_path):
    server.faults[BASICS.name] = ["503", "503", "ok"]
    code, log = run(tmp_path / "raw", server.url)
    assert code == 0, log
    assert sum("HTTP 503" in line for line in log) == 2
    assert (tmp_path / "raw" / BASICS.name).read_bytes() == GOOD[BASICS.name]


def test_503_forever_gives_up_clearly(server, tmp_path):
    server.faults[RATINGS.name] = ["503"]
    code, log = run(tmp_path / "raw", server.url, attempts=3)
    assert code == 2
    assert "gave up after 3 failed attempts (HTTP 503 Service Unavailable)" in log[-1]
    assert_nothing_partial(tmp_path / "raw", allowed={BASICS.name})


def test_a_dropped_connection_resumes_with_range(server, tmp_path):
    server.faults[BASICS.name] = ["drop", "ok"]
    code, log = run(tmp_path / "raw", server.url)
    assert code == 0, log
    assert (tmp_path / "raw" / BASICS.name).read_bytes() == GOOD[BASICS.name]
    basics_requests = [h for p, h in server.requests if p == BASICS.name]
    half = len(GOOD[BASICS.name]) // 2
    assert basics_requests[1]["Range"] == f"bytes={half}-" and basics_requests[1]["If-Range"].startswith('"')
    assert any(f"resuming at byte {half:,}" in line for line in log)
    manifest = json.loads((tmp_path / "raw" / ingest.INGEST_JSON).read_text())
    assert manifest["files"][BASICS.name]["resumed"] == 1


def test_a_server_without_range_support_restarts_from_zero(server, tmp_path):
    server.faults[BASICS.name] = ["drop", "no-range"]
    code, log = run(tmp_path / "raw", server.url)
    assert code == 0, log
    assert (tmp_path / "raw" / BASICS.name).read_bytes() == GOOD[BASICS.name]
    assert any("restarting from byte 0" in line for line in log)
    assert json.loads((tmp_path / "raw" / ingest.INGEST_JSON).read_text())["files"][BASICS.name]["restarts"] == 1


def test_a_body_that_is_always_cut_short_fails_clearly(server, tmp_path):
    server.faults[BASICS.name] = ["short"]   # never more than half, and no Range
    code, log = run(tmp_path / "raw", server.url, attempts=3)
    assert code == 2
    assert "gave up after 3 failed attempts" in log[-1] and BASICS.name in log[-1]
    assert_nothing_partial(tmp_path / "raw")


def test_a_truncated_gzip_is_refused(server, tmp_path):
    server.files[BASICS.name] = GOOD[BASICS.name][: len(GOOD[BASICS.name]) * 2 // 3]
    code, log = run(tmp_path / "raw", server.url)
    assert code == 2
    assert "the gzip stream ends early" in log[-1] and "truncated" in log[-1]
    assert_nothing_partial(tmp_path / "raw")


def test_a_corrupt_gzip_is_refused(server, tmp_path):
    body = bytearray(GOOD[RATINGS.name])
    body[-6] ^= 0xFF        # inside the CRC-32 trailer: every block inflates, the check fails
    server.files[RATINGS.name] = bytes(body)
    code, log = run(tmp_path / "raw", server.url)
    assert code == 2
    assert "not a valid gzip file" in log[-1] and "CRC" in log[-1]
    assert_nothing_partial(tmp_path / "raw", allowed={BASICS.name})


def test_not_gzip_at_all_is_refused(server, tmp_path):
    server.files[BASICS.name] = b"<html>maintenance</html>"
    code, log = run(tmp_path / "raw", server.url)
    assert code == 2 and "not a valid gzip file" in log[-1]
    assert_nothing_partial(tmp_path / "raw")


def test_a_wrong_header_line_is_refused(server, tmp_path):
    server.files[BASICS.name] = gz(tsv(RATINGS.columns, 10, 3))     # ratings served as basics
    code, log = run(tmp_path / "raw", server.url)
    assert code == 2
    assert "not IMDb's title.basics.tsv.gz header" in log[-1] and "tconst\\taverageRating" in log[-1]
    assert_nothing_partial(tmp_path / "raw")


def test_404_names_the_url_and_what_to_do(server, tmp_path):
    del server.files[RATINGS.name]
    code, log = run(tmp_path / "raw", server.url)
    assert code == 2
    assert f"{server.url}{RATINGS.name}: HTTP 404" in log[-1] and "imdb_base_url" in log[-1]
    assert len([p for p, _ in server.requests if p == RATINGS.name]) == 1     # never retried
    assert_nothing_partial(tmp_path / "raw", allowed={BASICS.name})


def test_a_stale_part_file_is_removed_first(server, tmp_path):
    out = tmp_path / "raw"
    out.mkdir()
    (out / f".{BASICS.name}{ingest.PART_SUFFIX}").write_bytes(b"left by a killed job")
    assert run(out, server.url)[0] == 0
    assert_nothing_partial(out, allowed={BASICS.name, RATINGS.name, ingest.INGEST_JSON})


def test_main_exit_codes_and_messages(server, tmp_path, capsys):
    out = tmp_path / "raw"
    assert ingest.main(["--base-url", server.url, "--output", str(out), "--retry-wait", "0"]) == 0
    assert "ingest: done" in capsys.readouterr().out
    assert ingest.main(["--base-url", server.url + "nowhere/", "--output", str(tmp_path / "x"),
                        "--retry-wait", "0"]) == 2
    assert "HTTP 404" in capsys.readouterr().err
    assert ingest.main(["--base-url", "ftp://example.invalid/", "--output", str(tmp_path / "y")]) == 2
    assert "is not an http(s) URL" in capsys.readouterr().err


# --- given files: verified and passed on ------------------------------------------------------------
@pytest.fixture
def local_store(local_root):
    raw = local_root / "s3" / "myflix-local" / "raw"
    raw.mkdir(parents=True)
    return raw


def test_given_files_are_verified_and_passed_on(local_store, tmp_path):
    (local_store / BASICS.name).write_bytes(GOOD[BASICS.name])
    plain = tsv(RATINGS.columns, 50, 4)
    (local_store / "mine").mkdir()
    (local_store / "mine" / schema.RATINGS_FILE_STEM).write_bytes(plain)        # a plain TSV, under a prefix
    code, log = run(tmp_path / "out", "http://127.0.0.1:9/",
                    basics=f"s3://myflix-local/raw/{BASICS.name}", ratings="s3://myflix-local/raw/mine/")
    assert code == 0, log
    out = tmp_path / "out"
    assert (out / BASICS.name).read_bytes() == GOOD[BASICS.name]
    assert gzip.decompress((out / RATINGS.name).read_bytes()) == plain          # gzipped on the way
    manifest = json.loads((out / ingest.INGEST_JSON).read_text())
    assert manifest["files"][RATINGS.name]["source"] == f"s3://myflix-local/raw/mine/{schema.RATINGS_FILE_STEM}"
    assert manifest["files"][RATINGS.name]["gzipped"] is True and manifest["files"][RATINGS.name]["rows"] == 50


def test_a_given_corrupt_file_is_refused(local_store, tmp_path):
    (local_store / BASICS.name).write_bytes(GOOD[BASICS.name][:-20])
    (local_store / RATINGS.name).write_bytes(GOOD[RATINGS.name])
    code, log = run(tmp_path / "out", "http://127.0.0.1:9/", basics="s3://myflix-local/raw/", ratings="s3://myflix-local/raw/")
    assert code == 2 and f"s3://myflix-local/raw/{BASICS.name}: the gzip stream ends early" in log[-1]
    assert_nothing_partial(tmp_path / "out")


def test_a_local_run_refuses_a_remote_download_at_once(local_store, tmp_path):
    code, log = run(tmp_path / "out", ingest.schema.DEFAULTS["imdb_base_url"])
    assert code == 2 and "a local run does not download" in log[-1]


def test_given_files_under_moto(tmp_path, monkeypatch, aws_credentials):
    import boto3
    from moto import mock_aws
    monkeypatch.delenv("MYFLIX_LOCAL_ROOT", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="myflix-data")
        s3.put_object(Bucket="myflix-data", Key=f"raw/2026/{BASICS.name}", Body=GOOD[BASICS.name])
        s3.put_object(Bucket="myflix-data", Key=f"raw/2026/{RATINGS.name}", Body=GOOD[RATINGS.name])
        code, log = run(tmp_path / "out", "http://127.0.0.1:9/", basics="s3://myflix-data/raw/2026",
                        ratings=f"s3://myflix-data/raw/2026/{RATINGS.name}")
        assert code == 0, log
        code, log = run(tmp_path / "out2", "http://127.0.0.1:9/", basics="s3://myflix-data/raw/nothing/",
                        ratings=f"s3://myflix-data/raw/2026/{RATINGS.name}")
        assert code == 2 and "basics_uri: nothing at s3://myflix-data/raw/nothing/" in log[-1]
    assert (tmp_path / "out" / BASICS.name).read_bytes() == GOOD[BASICS.name]


def test_verify_counts_rows_and_checks_crc(tmp_path):
    path = tmp_path / f".{RATINGS.name}{ingest.PART_SUFFIX}"
    path.write_bytes(GOOD[RATINGS.name])
    assert ingest.verify(path, RATINGS, "x")["rows"] == 2000
    # A valid deflate stream whose trailer CRC is wrong: only the end-of-file check can catch it.
    raw = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = tsv(RATINGS.columns, 5, 5)
    body = raw.compress(data) + raw.flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    path.write_bytes(header + body + (zlib.crc32(data) ^ 1).to_bytes(4, "little") + len(data).to_bytes(4, "little"))
    with pytest.raises(ingest.IngestError, match="CRC check failed"):
        ingest.verify(path, RATINGS, "x")
