"""`myflix serve`: the API and the page on one real local port; a clear message when nothing is published."""
from __future__ import annotations

import json
import re
import socket
import urllib.request

import pytest
from test_api_data import build_workdir

from cli import main as cli
from serving.server import MyFlixServer, serve


def fetch(url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


def test_serve_without_a_published_table_says_what_to_do(tmp_path, capsys):
    with pytest.raises(cli.UserError, match="myflix run"):
        serve(tmp_path / "empty", "127.0.0.1", 0)
    assert cli.main(["serve", "--workdir", str(tmp_path / "empty"), "--port", "0"]) == 2
    assert "make run" in capsys.readouterr().err


def test_commands_are_registered():
    parser = cli.build_parser()
    args = parser.parse_args(["serve"])
    assert (args.workdir, args.host, args.port) == (".myflix", "127.0.0.1", 8000)
    args = parser.parse_args(["endpoint", "--port", "9001"])
    assert args.port == 9001 and args.model is None


def test_page_and_api_on_one_port(tmp_path):
    build_workdir(tmp_path / "work", k=5)
    with MyFlixServer(tmp_path / "work", "127.0.0.1", 0, quiet=True) as server:
        status, headers, body = fetch(server.url + "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html") and b"MYFLIX" in body
        # every script the page loads, in the order each needs the one before (client, render, app)
        scripts = [s.decode() for s in re.findall(rb'<script src="([^"]+)"></script>', body)]
        assert scripts == ["config.js", "client.js", "render.js", "app.js"], scripts
        for asset in ["/" + s for s in scripts] + ["/style.css"]:
            status, headers, _ = fetch(server.url + asset)
            assert status == 200, asset
            kind = headers["Content-Type"]
            assert asset.endswith(".css") or "javascript" in kind, (asset, kind)
        status, headers, body = fetch(server.url + "/health")
        assert status == 200 and json.loads(body)["clusters"] == 5
        status, _, body = fetch(server.url + "/recommendations", data=b"{oops",
                                headers={"Content-Type": "application/json"})
        assert status == 400 and json.loads(body)["Message"]
        status, _, body = fetch(server.url + "/movies/tt0000001")
        assert status == 404
        host, port = server.address
        with pytest.raises(cli.UserError, match="cannot listen"):   # the port is taken: a clear message
            serve(tmp_path / "work", host, port)
    with pytest.raises(OSError):   # stopped: nothing (no autoreload child) holds the port any more
        socket.create_connection((host, port), timeout=2).close()


def _terminal_sigint() -> None:
    """In the child: SIGINT as a terminal gives it. A shell starts background jobs (CI run with `&`)
    with SIGINT ignored, and Python then installs no Ctrl-C handler."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("stop_signal", ["SIGINT", "SIGTERM"])
def test_myflix_serve_command_serves_until_ctrl_c_and_leaves_nothing_behind(tmp_path, stop_signal):
    import os
    import signal
    import subprocess
    import sys
    import time

    build_workdir(tmp_path / "work", k=4)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--workdir", str(tmp_path / "work"),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, preexec_fn=_terminal_sigint)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _, body = fetch(f"http://127.0.0.1:{port}/health")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()
                time.sleep(0.2)
        assert status == 200 and json.loads(body)["clusters"] == 4
    finally:
        proc.send_signal(getattr(signal, stop_signal))
        try:
            output = proc.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:   # it ignored the signal: fail, but leave no server behind
            proc.kill()
            output = proc.communicate()[0]
            pytest.fail(f"myflix serve did not stop on {stop_signal} within 30 s:\n{output}")
    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output and "myflix serve: stopped" in output
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
