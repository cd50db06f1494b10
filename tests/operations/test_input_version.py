"""Cache keys cover the data, not its name (issue 21, item 2).

Locally the runner keys a step on the contents behind every s3:// argument (Ingest's basics_uri),
so a file replaced under the same URI runs Ingest again. In the cloud `myflix pipeline start`
passes `input_version` (operations/inputs.py: ETag/VersionId of the given objects, the download's
ETag/Last-Modified from a HEAD request): tested against a real HTTP server on 127.0.0.1.
"""
from __future__ import annotations

import http.server
import threading

from local_aws.store import LocalStore
from local_runner.runner import LocalRunner
from operations import inputs


def ingest_step(uri: str) -> tuple[dict, dict]:
    args = {"AppSpecification": {"ImageUri": "img", "ContainerArguments": [
        "--output", "/opt/ml/processing/output/raw", "--basics-uri", uri, "--ratings-uri", ""]},
        "ProcessingInputs": []}
    return {"Name": "Ingest", "Type": "Processing"}, args


def test_the_local_cache_key_covers_the_file_behind_an_argument(tmp_path):
    runner = LocalRunner(tmp_path, pipeline_name="p", region="us-east-1")
    store = LocalStore(tmp_path)
    uri = "s3://myflix-local/raw/local/title.basics.tsv.gz"
    store.put_bytes(uri, b"old data")
    step, args = ingest_step(uri)
    before = runner._key(step, "Processing", args)
    assert runner._key(step, "Processing", args) == before
    store.put_bytes(uri, b"new data, same name")
    assert runner._key(step, "Processing", args) != before


class _Imdb(http.server.BaseHTTPRequestHandler):
    etag = '"v1"'

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("ETag", type(self).etag)
        self.send_header("Content-Length", "123")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_download_is_versioned_by_the_servers_etag():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Imdb)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/"
        first = inputs.input_version(None, "", "", base)
        assert first.startswith("sha256:") and inputs.input_version(None, "", "", base) == first
        _Imdb.etag = '"v2"'                       # IMDb republished
        assert inputs.input_version(None, "", "", base) != first
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_says_nothing_leaves_the_version_empty():
    assert inputs.input_version(None, "", "", "http://127.0.0.1:9/") == ""     # nothing listens on 9


def test_a_prefix_argument_is_keyed_on_the_files_in_it_not_on_ingests_own_output_below(tmp_path):
    runner = LocalRunner(tmp_path, pipeline_name="p", region="us-east-1")
    store = LocalStore(tmp_path)
    store.put_bytes("s3://myflix-local/raw/title.basics.tsv.gz", b"basics")
    step, args = ingest_step("s3://myflix-local/raw/")
    before = runner._key(step, "Processing", args)
    store.put_bytes("s3://myflix-local/raw/20261201000000abcd/title.basics.tsv.gz", b"a run's output")
    assert runner._key(step, "Processing", args) == before
    store.put_bytes("s3://myflix-local/raw/title.basics.tsv.gz", b"new basics")
    assert runner._key(step, "Processing", args) != before
