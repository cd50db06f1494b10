"""The Studio and the local records under hostile or broken input (issue 21, items 10, 11, 12, 16).

Host is parsed strictly (one header, exactly a loopback name or the served address, an optional
port); an approve body nested 2,000 deep is a 400; a corrupt registry file or execution.json is
shown as an error (Studio, `registry list`, `deploy status`, `pipeline list --local`), never a
503, a traceback or a run that vanishes; the executions list reads each record once and answers
304 to an unchanged If-None-Match, so an open tab polling it costs little.
"""
from __future__ import annotations

import io
import json
import socket
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest

from cli.main import main
from deployer_fixtures import package_request
from local_aws import registry
from local_runner import executions
from steps import schema
from studio import make_app


def call(app, path: str, method: str = "GET", body: bytes = b"", host: str = "127.0.0.1:8000",
         headers: dict | None = None):
    environ: dict = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": host,
                     "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "wsgi.input": io.BytesIO(body),
                     "CONTENT_LENGTH": str(len(body))}
    for key, value in (headers or {}).items():
        name = key.upper().replace("-", "_")
        environ[name if name == "CONTENT_TYPE" else "HTTP_" + name] = value
    setup_testing_defaults(environ)
    seen = {}

    def start_response(status, response_headers):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)
    data = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], data


def write_execution(workdir: Path, execution_id: str, status: str = "Succeeded", start: str = "2026-12-01T10:00:00"):
    folder = executions.execution_dir(workdir, execution_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / executions.EXECUTION_FILE).write_text(json.dumps({
        "PipelineExecutionArn": f"arn:aws:sagemaker:us-east-1:000000000000:pipeline/p/execution/{execution_id}",
        "PipelineExecutionId": execution_id, "PipelineExecutionStatus": status, "PipelineName": "p",
        "StartTime": start, "EndTime": start, "PipelineParameters": [], "Steps": []}))
    return folder


@pytest.mark.parametrize("host", ["[::1]evil.example", "[::1].evil.example", "127.0.0.1.evil.example",
                                  "127.0.0.1, evil.example", "evil.example, 127.0.0.1", "127.0.0.1:80:80",
                                  "localhost:8000x", "[::1]:8000:1", "127.0.0.1 ", "LOCALHOST.", ""])
def test_hosts_that_are_not_exactly_this_machine_are_refused(tmp_path, host):
    status, _, body = call(make_app(tmp_path), "/studio/api/executions", host=host)
    assert status == 403 and json.loads(body)["Code"] == "ForbiddenHost"


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "127.0.0.1", "localhost:8000", "[::1]:8000", "[::1]"])
def test_loopback_hosts_are_served(tmp_path, host):
    assert call(make_app(tmp_path), "/studio/api/executions", host=host)[0] == 200


def test_duplicate_host_headers_are_refused_over_a_real_socket(tmp_path):
    from serving.server import MyFlixServer
    with MyFlixServer(tmp_path, port=0, quiet=True) as server:
        with socket.create_connection(server.address, timeout=10) as sock:
            sock.sendall(b"GET /studio/api/executions HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n"
                         b"Connection: close\r\n\r\n")
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    assert data.startswith(b"HTTP/1.1 403") or data.startswith(b"HTTP/1.1 400"), data[:200]


def test_an_approve_body_nested_2000_deep_is_a_400(tmp_path):
    body = b"[" * 2000 + b"]" * 2000
    status, _, data = call(make_app(tmp_path), "/studio/api/registry/myflix-movie-clusters/1/approve", "POST",
                           body, headers={"Origin": "http://127.0.0.1:8000", "Content-Type": "application/json"})
    assert status == 400 and "nested" in json.loads(data)["Message"]


@pytest.fixture()
def registry_with_a_corrupt_file(tmp_path):
    request = package_request("s3://myflix-local/m/model.tar.gz", "s3://myflix-local/tables/movie_clusters/e1/",
                              "e1", "PendingManualApproval")
    registry.register(tmp_path, request, "us-east-1")
    registry.register(tmp_path, request, "us-east-1")
    group = registry.registry_dir(tmp_path) / schema.MODEL_PACKAGE_GROUP
    (group / "2.json").write_text('["not", "a package"]')
    (group / "3.json").write_bytes(b"\xff\xfe{")
    return tmp_path


def test_a_corrupt_registry_file_is_shown_as_an_error_in_the_studio(registry_with_a_corrupt_file):
    status, _, data = call(make_app(registry_with_a_corrupt_file), "/studio/api/registry")
    view = json.loads(data)
    assert status == 200 and [p["version"] for p in view["packages"]] == [1]
    assert sorted(Path(p["path"]).name for p in view["problems"]) == ["2.json", "3.json"]


def test_a_corrupt_registry_file_is_reported_by_the_cli_without_a_traceback(registry_with_a_corrupt_file, capsys):
    work = ["--workdir", str(registry_with_a_corrupt_file)]
    assert main(["registry", "list", *work]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "2.json" in err and "3.json" in err
    endpoints = registry_with_a_corrupt_file / "endpoints"
    endpoints.mkdir()
    (endpoints / f"{schema.ENDPOINT_NAME}.json").write_text("{broken")
    (registry_with_a_corrupt_file / "catalog" / "myflix").mkdir(parents=True)
    (registry_with_a_corrupt_file / "catalog" / "myflix" / "movie_clusters.json").write_text("[1,")
    assert main(["deploy", "status", "--local", *work]) == 0
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "unreadable" in out


def test_a_corrupt_execution_record_is_listed_as_unreadable_not_dropped(tmp_path, capsys):
    write_execution(tmp_path, "20261201100000aaaa")
    broken = write_execution(tmp_path, "20261201110000bbbb")
    (broken / executions.EXECUTION_FILE).write_text('{"PipelineExecutionId": ')
    app = make_app(tmp_path)
    listed = json.loads(call(app, "/studio/api/executions")[2])["executions"]
    assert {e["id"]: e["status"] for e in listed} == {"20261201100000aaaa": "Succeeded",
                                                      "20261201110000bbbb": "Unreadable"}
    bad = next(e for e in listed if e["id"] == "20261201110000bbbb")
    assert "execution.json" in bad["failure_reason"]
    status, _, data = call(app, "/studio/api/executions/20261201110000bbbb")
    assert status == 200 and json.loads(data)["status"] == "Unreadable"
    assert main(["pipeline", "list", "--local", "--workdir", str(tmp_path)]) == 0
    assert "20261201110000bbbb" in capsys.readouterr().out


def test_the_executions_list_reads_each_record_once_and_answers_304_when_unchanged(tmp_path, monkeypatch):
    for i in range(60):
        write_execution(tmp_path, f"202612011000{i:02d}abcd", start=f"2026-12-01T10:00:{i:02d}")
    reads = []
    real_load = executions._load
    monkeypatch.setattr(executions, "_load", lambda path: reads.append(path) or real_load(path))
    app = make_app(tmp_path)
    status, headers, data = call(app, "/studio/api/executions")
    assert status == 200 and len(json.loads(data)["executions"]) == 60
    assert len(reads) <= 2 * 60, f"{len(reads)} record reads for 60 executions"
    etag = headers["ETag"]
    reads.clear()
    status, headers, data = call(app, "/studio/api/executions", headers={"If-None-Match": etag})
    assert status == 304 and data == b"" and len(reads) == 0
    write_execution(tmp_path, "20261201100000abcd", status="Failed", start="2026-12-01T10:00:00")
    status, headers, data = call(app, "/studio/api/executions", headers={"If-None-Match": etag})
    assert status == 200 and headers["ETag"] != etag
