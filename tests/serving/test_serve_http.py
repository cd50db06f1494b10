"""`myflix serve`'s server over real sockets: headers, our own 404/405, body limits, bad framing, timeouts, concurrency.

Raw requests on 127.0.0.1 against MyFlixServer (waitress + the WSGI adapter over chalice.local):
an 11 MB upload is refused with a 413 before it is read, a bad Content-Length or chunked body is a
400, a stalled upload is dropped after the (here short) timeout, and 32 clients at once all get
their answers. Every error is JSON `{Code, Message}`.
"""
from __future__ import annotations

import http.client
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest
from test_api_data import build_workdir

from serving.server import MyFlixServer


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return build_workdir(tmp_path_factory.mktemp("http"), k=5)["workdir"]


@pytest.fixture(scope="module")
def server(workdir):
    with MyFlixServer(workdir, "127.0.0.1", 0, quiet=True, channel_timeout=1.0) as srv:
        yield srv


def raw(server, data: bytes, read_timeout: float = 20) -> tuple[int, dict, bytes]:
    """Send bytes as they are; parse the one answer (status, lower-cased headers, body)."""
    with socket.create_connection(server.address, timeout=read_timeout) as sock:
        sock.sendall(data)
        return read_answer(sock)


def read_answer(sock) -> tuple[int, dict, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def error_body(body: bytes) -> dict:
    answer = json.loads(body)
    assert set(answer) == {"Code", "Message"} and answer["Message"], answer
    return answer


def request(server, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(*server.address, timeout=20)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_security_headers_on_the_page_and_the_api(server):
    for path in ("/", "/client.js", "/render.js", "/app.js", "/style.css", "/health", "/movies?limit=1",
                 "/nowhere"):
        status, headers, _ = request(server, "GET", path)
        assert headers["x-content-type-options"] == "nosniff", path
        assert headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["server"] == "MyFlix" and "python" not in headers["server"].lower()
    _, headers, _ = request(server, "GET", "/")
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp


def test_unknown_paths_are_our_404_and_unsupported_methods_405(server):
    for path in ("/nowhere", "/movies/tt1/similar/extra", "/../../etc/passwd", "/api/health"):
        status, headers, body = request(server, "GET", path)
        assert status == 404 and headers["content-type"] == "application/json", (path, body)
        assert error_body(body)["Code"] == "NotFoundError"
    for method, path in (("TRACE", "/movies"), ("DELETE", "/movies"), ("HEAD", "/movies"), ("PUT", "/health"),
                         ("GET", "/recommendations"), ("BREW", "/movies")):
        status, headers, body = request(server, method, path)
        assert status == 405, (method, path, status)
        if method != "HEAD":
            error_body(body)
    status, headers, _ = request(server, "TRACE", "/movies")
    assert "GET" in headers["allow"]
    status, headers, body = request(server, "HEAD", "/")
    assert status == 200 and body == b"" and int(headers["content-length"]) > 0


def test_an_11_mb_body_is_413_before_it_is_read(server):
    size = 11 * 1024 * 1024
    with socket.create_connection(server.address, timeout=20) as sock:
        sock.sendall(b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % size + b"[" * 65536)   # the headers and 64 KiB of 11 MB
        status, headers, body = read_answer(sock)
    assert status == 413 and headers["content-type"] == "application/json"
    assert "10 MB" in error_body(body)["Message"]


def test_a_chunked_body_over_the_limit_is_413(workdir):
    with MyFlixServer(workdir, "127.0.0.1", 0, quiet=True, max_body_bytes=100_000) as small:
        chunk = b"%x\r\n%s\r\n" % (50_000, b" " * 50_000)
        status, _, body = raw(small, b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                     b"Transfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n")
        assert status == 413 and error_body(body)


@pytest.mark.parametrize("framing", [
    b"Content-Length: abc\r\n\r\n{}", b"Content-Length: -1\r\n\r\n{}", b"Content-Length: 2, 3\r\n\r\n{}",
    b"Content-Length: +2\r\n\r\n{}", b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    b"Transfer-Encoding: gzip\r\n\r\n{}",
    b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
])
def test_malformed_framing_is_400_json(server, framing):
    status, headers, body = raw(server, b"POST /recommendations HTTP/1.1\r\nHost: x\r\n"
                                        b"Content-Type: application/json\r\n" + framing)
    assert 400 <= status < 500 and headers["content-type"] == "application/json", body
    error_body(body)


def test_a_chunked_body_that_is_well_formed_is_served(server):
    payload = json.dumps({"liked": ["tt0000000"]}).encode()
    status, _, body = raw(server, b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                                  b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                  b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
    assert status == 404 and "tt0000000" in error_body(body)["Message"]


def test_a_stalled_upload_is_dropped_after_the_timeout(server):
    with socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(b"POST /recommendations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{\"liked\": [")   # ... and nothing more
        assert sock.recv(65536) == b""   # closed by the server (the fixture's channel_timeout is 1 s)
    with socket.create_connection(server.address, timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")   # headers never finished
        assert sock.recv(65536) == b""
    assert request(server, "GET", "/health")[0] == 200   # and the server carries on


def test_hostile_bodies_over_the_wire_are_400(server):
    for body in (b"[" * 20_000 + b"]" * 20_000,
                 b'{"features": {"startYear": 1999, "runtimeMinutes": 90, "genres": [], "averageRating": 7, '
                 b'"numVotes": 1e308}}'):
        status, _, answer = request(server, "POST", "/recommendations", body, {"Content-Type": "application/json"})
        assert status == 400, answer
        error_body(answer)
    status, _, answer = request(server, "GET", "/movies?q=%00")
    assert status == 400 and "control character" in error_body(answer)["Message"]


def test_32_concurrent_clients_all_succeed(server):
    def client(i: int) -> list[int]:
        conn = http.client.HTTPConnection(*server.address, timeout=30)
        statuses = []
        for j in range(6):
            conn.request("GET", f"/movies?limit=5&offset={(i * 6 + j) % 50}")
            response = conn.getresponse()
            json.loads(response.read())
            statuses.append(response.status)
        conn.close()
        return statuses

    with ThreadPoolExecutor(32) as pool:
        results = list(pool.map(client, range(32)))
    assert [s for r in results for s in r] == [200] * (32 * 6)
