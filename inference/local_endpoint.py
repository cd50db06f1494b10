"""A local stand-in for a SageMaker endpoint: the model's own handler served on /ping and /invocations.

SageMaker's container contract: `GET /ping` answers 200 when the model is loaded, `POST
/invocations` takes the request body with its Content-Type (and Accept) and answers the model's
output. This server loads the artefact (a folder or model.tar.gz), imports the handler that the
artefact carries in `code/inference.py` (exactly what the SKLearn container would run; the
project's inference/inference.py when the artefact has none), loads the model with its model_fn
and answers each request with its `respond`, the function the container's transform_fn answers
with: so the statuses and bodies are the container's (400 bad input with a JSON message naming
the field, 415 Content-Type, 406 Accept).
Used by local mode, `myflix endpoint` and the tests; stdlib http.server only. `endpoint_model`
reads a local endpoint record (local_aws.layout) for `myflix endpoint --name`.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType

HANDLER_CODE = Path("code") / "inference.py"
MAX_BODY = 6 * 1024 * 1024   # SageMaker's real-time payload limit (6 MB)


def load_handler(model_dir: Path) -> ModuleType:
    """The artefact's own code/inference.py as a fresh module (else the project's copy)."""
    source = Path(model_dir) / HANDLER_CODE
    if not source.is_file():
        from inference import inference as project_handler
        return project_handler
    name = f"myflix_model_handler_{abs(hash(str(source.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def open_model(path: str | Path) -> tuple[ModuleType, object, Path]:
    """(handler module, loaded model, folder) for a model folder, a folder with model.tar.gz, or the tarball."""
    from steps.artifacts import open_model_dir  # the project's safe, digest-keyed unpacking

    folder = open_model_dir(path)
    handler = load_handler(folder)
    return handler, handler.model_fn(str(folder)), folder


def endpoint_model(workdir: str | Path, name: str) -> Path:
    """The model a local endpoint record serves (`<workdir>/endpoints/<name>.json`, written by the
    deployer's local backend): the local store's file of its ModelDataUrl. FileNotFoundError when
    there is no record; ValueError (local_aws.layout.LayoutError) when it is unusable."""
    # Imported here: inference/ also ships in the jobs' code bundle, which holds no local_aws/.
    from local_aws import layout

    record = layout.read_endpoint(workdir, name)
    if record is None:
        raise FileNotFoundError(f"no endpoint record {layout.endpoint_path(workdir, name)}")
    url = record.get("ModelDataUrl")
    if not isinstance(url, str):
        raise layout.LayoutError(f"{layout.endpoint_path(workdir, name)} has no ModelDataUrl")
    return layout.s3_path(workdir, url)


class _Handler(BaseHTTPRequestHandler):
    server_version = "myflix-local-endpoint/1"
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body are two writes: avoid Nagle + delayed ACK stalls

    def log_message(self, fmt, *args):  # noqa: D401 - quiet unless asked: tests start many servers
        if self.server.verbose:
            super().log_message(fmt, *args)

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str, field: str | None = None) -> None:
        self._send(status, json.dumps({"error": message, "field": field}).encode())

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path.split("?")[0] == "/ping":
            self._send(200, b'{"status": "healthy"}')
        else:
            self._error(404, f"no route {self.path}: this endpoint serves GET /ping and POST /invocations")

    def do_POST(self):  # noqa: N802
        if self.path.split("?")[0] != "/invocations":
            self._error(404, f"no route {self.path}: this endpoint serves GET /ping and POST /invocations")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._error(400, "Content-Length is not a number")
            return
        if length > MAX_BODY:
            self.close_connection = True
            self._error(413, f"body of {length} bytes is over the {MAX_BODY} byte limit")
            return
        body = self.rfile.read(length)
        handler, model = self.server.handler, self.server.model
        # as the container's worker reads them: ContentType (some AWS callers) or Content-Type
        content_type = self.headers.get("ContentType") or self.headers.get("Content-Type") or "application/json"
        accept = self.headers.get("Accept")
        try:
            # the container's own path: transform_fn answers through the same respond()
            answer = handler.respond(model, body, content_type, accept)
        except Exception as err:  # noqa: BLE001 - a handler bug: SageMaker answers 500 too
            self._error(500, f"{type(err).__name__}: {err}")
            return
        self._send(answer.status, answer.body, answer.content_type)


class LocalEndpoint:
    """The HTTP server around one loaded model; `start()` runs it in a thread, `stop()` ends it."""

    def __init__(self, model_path: str | Path, host: str = "127.0.0.1", port: int = 0, verbose: bool = False):
        self.handler, self.model, self.model_dir = open_model(model_path)
        self.server = ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.handler, self.server.model, self.server.verbose = self.handler, self.model, verbose
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LocalEndpoint":
        self._thread = threading.Thread(target=self.server.serve_forever, name="myflix-endpoint", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def stop(self) -> None:
        if self._thread is not None:
            self.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server.server_close()

    def __enter__(self) -> "LocalEndpoint":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def stop_on_sigterm() -> None:
    """`kill` (SIGTERM) stops a server as Ctrl-C does: the port is closed and the exit code is 0.

    Needed beyond Ctrl-C because a server started in the background by a script, or by a
    supervisor, has SIGINT ignored (POSIX shells do that to background jobs) and gets SIGTERM.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Serve a MyFlix model artefact on /ping and /invocations.")
    parser.add_argument("model", help="model folder, a folder holding model.tar.gz, or model.tar.gz itself")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    endpoint = LocalEndpoint(args.model, args.host, args.port, verbose=True)
    stop_on_sigterm()
    print(f"endpoint serving {endpoint.model_dir} on {endpoint.url} (/ping, /invocations); Ctrl-C stops it",
          flush=True)
    try:
        endpoint.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        endpoint.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
