"""The local server of `myflix serve` and `myflix run` (the API, the MyFlix page and the Studio on one
port), and of `myflix endpoint` (the local model endpoint): what cli/cmd_serve.py calls.

`MyFlixServer` runs the Chalice app of api/ in this process, in local mode over the local runner's work
folder, under waitress (a production WSGI server: a listen backlog of 1024, a bounded pool of
worker threads, request bodies capped at API Gateway's 10 MB and answered 413, idle and stalled
connections dropped after a timeout, malformed Content-Length or chunked bodies answered 400, all
as JSON `{Code, Message}`), through the WSGI adapter in serving/app.py, which also serves
ui/ from the same origin: the page calls the API with relative URLs. `myflix run` opens the server
before its run (`open_server(...).start()`) and serves on (`serve_until_stopped`) when it ends.
"""
from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from local_aws import layout
from operations.errors import UserError
from serving.app import API_CSP, SECURITY_HEADERS, MyFlixApp

# chalice, waitress, the API and the Studio are imported when a server is made, not with this module:
# every `myflix` command loads it (cli/cmd_serve.py), few of them serve.

REPO_ROOT = Path(__file__).resolve().parents[1]
API_DIR = REPO_ROOT / "api"
UI_DIR = REPO_ROOT / "ui"
DEFAULT_WORKDIR = ".myflix"
RUN_FIRST = "run `make run` or `myflix run` first"
MAX_BODY_BYTES = 10 * 1024 * 1024   # API Gateway's payload limit
THREADS = 8                          # worker threads: requests are short and mostly numpy; more only queue on the GIL
CHANNEL_TIMEOUT = 30.0               # seconds a connection may sit idle (or stall mid-request) before it is dropped
# A request's line and headers must all arrive within this many seconds of its first byte (of the
# connection, for its first request): headers that trickle a byte at a time never reset it (slowloris)
HEADER_TIMEOUT = 10.0
# Near the connection limit, the connections whose request is still incomplete (oldest first) are
# dropped to keep this many slots free: slow clients cannot starve /health or a real viewer
FREE_SLOTS = 32




def published_table(workdir: Path, database: str = "myflix", table: str = "movie_clusters") -> Path:
    return layout.catalog_path(workdir, database, table)


def _load_app(workdir: Path):
    """The Chalice app object in local mode over `workdir` (api/ put on sys.path as Chalice does), made
    thread-safe as chalice.local.create_local_server does: a thread-local current_request per request."""
    os.environ["MYFLIX_WORKDIR"] = str(Path(workdir).resolve())
    if str(API_DIR) not in sys.path:
        sys.path.insert(0, str(API_DIR))
    from chalice.local import CustomLocalChalice, LocalChalice

    import app as api_app
    from chalicelib import config, service

    app = api_app.app
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    return app, service.reset(config.from_env())


def _chalice_config(app):
    from chalice.config import Config
    return Config.create(chalice_stage="local", app_name=app.app_name, lambda_timeout=60, lambda_memory_size=1024)


def _waitress_server_class():
    """waitress's TCP server whose own errors (413, 400 for a bad Content-Length or chunked body, ...)
    are JSON `{Code, Message}` with the security headers, like every other answer; with a total
    deadline on each request's headers and eviction of incomplete requests near the connection
    limit (waitress itself only drops a connection idle for channel_timeout, and a trickle of one
    byte every few seconds is never idle)."""
    import time

    from waitress.channel import HTTPChannel
    from waitress.server import TcpWSGIServer
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self):
            error = self.request.error
            code, reason = error.code, error.reason
            if code == 501:     # a transfer coding waitress does not speak: the request's fault, not ours
                code, reason = 400, "Bad Request"
            elif code >= 500:
                code, reason = 503, "Service Unavailable"
            if code == 413:
                message = (f"the request body is larger than {self.channel.server.adj.max_request_body_size} "
                           "bytes (API Gateway's limit, 10 MB)")
            else:
                message = f"{reason}: {str(error.body)[:200]}"
            body = json.dumps({"Code": reason.title().replace(" ", ""), "Message": message}).encode()
            self.status = f"{code} {reason}"
            self.response_headers.extend([("Content-Type", "application/json"), ("Content-Security-Policy", API_CSP),
                                          *SECURITY_HEADERS.items()])
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.request_started = self.creation_time    # first byte of the request being read

        def received(self, data):
            if data and self.request is None and not self.requests:
                self.request_started = time.time()
            return super().received(data)

        def incomplete(self) -> bool:
            """Reading a request that has not arrived whole (or none yet), with nothing being served."""
            if self.requests or self.will_close or self.close_when_flushed:
                return False
            return self.request is None and self.last_activity == self.creation_time or (
                self.request is not None and not self.request.completed)

        def headers_overdue(self, cutoff: float) -> bool:
            if not self.incomplete() or self.request_started >= cutoff:
                return False
            return self.request is None or not self.request.headers_finished

    class Server(TcpWSGIServer):
        channel_class = JsonErrorChannel
        header_timeout = HEADER_TIMEOUT
        free_slots = FREE_SLOTS

        def maintenance(self, now):
            super().maintenance(now)
            cutoff = now - self.header_timeout
            for channel in list(self.active_channels.values()):
                if channel.headers_overdue(cutoff):
                    channel.will_close = True

        def readable(self):
            if self.accepting and len(self._map) >= self.adj.connection_limit - self.free_slots:
                slow = sorted((c for c in self.active_channels.values() if c.incomplete()),
                              key=lambda c: c.request_started)
                excess = len(self._map) - (self.adj.connection_limit - self.free_slots) + self.free_slots // 2
                for channel in slow[:max(0, excess)]:
                    channel.will_close = True        # closed by the loop on this very pass
            return super().readable()

    return Server


class MyFlixServer:
    """The API and the page under waitress on host:port; start/stop (a background thread) or serve_forever."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False,
                 threads: int = THREADS, channel_timeout: float = CHANNEL_TIMEOUT,
                 max_body_bytes: int = MAX_BODY_BYTES, backlog: int = 1024,
                 header_timeout: float = HEADER_TIMEOUT, connection_limit: int | None = None):
        from waitress.adjustments import Adjustments

        import studio

        if quiet:   # "Task queue depth is N": expected under a load test, noise in one
            import logging
            logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        app, self.service = _load_app(workdir)   # the API's Service over this workdir
        self.app = MyFlixApp(app, _chalice_config(app), UI_DIR, quiet=quiet)
        self.app = studio.mount(self.app, workdir, allowed_hosts=(host,))   # /studio: studio/
        adjustments = Adjustments(
            host=host, port=port, threads=threads, backlog=backlog,
            connection_limit=connection_limit or max(100, 4 * backlog),
            max_request_body_size=max_body_bytes, channel_timeout=channel_timeout,
            cleanup_interval=max(0.5, min(30.0, channel_timeout / 2, header_timeout / 2)), ident="MyFlix",
            expose_tracebacks=False,
            asyncore_use_poll=True, asyncore_loop_timeout=1, url_scheme="http")
        self.server = _waitress_server_class()(self.app, map={}, adj=adjustments)
        self.server.header_timeout = header_timeout
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        return str(self.server.effective_host), int(self.server.effective_port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Serve until stop() (from another thread) or KeyboardInterrupt; then close every socket."""
        from waitress import wasyncore

        try:
            while not self._stopping.is_set():
                wasyncore.loop(timeout=1, map=self.server._map, use_poll=True, count=1)
        finally:
            self.server.task_dispatcher.shutdown(timeout=5)
            wasyncore.close_all(self.server._map)

    def start(self) -> "MyFlixServer":
        self._thread = threading.Thread(target=self.serve_forever, name="myflix-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self.server.pull_trigger()   # wake the loop now rather than at its next timeout
            self._thread.join(timeout=10)
            self._thread = None
        else:
            from waitress import wasyncore
            self.server.task_dispatcher.shutdown(timeout=5)
            wasyncore.close_all(self.server._map)

    @property
    def running(self) -> bool:
        """Serving from its own thread (after start())."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> "MyFlixServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def open_server(workdir: Path, host: str, port: int) -> "MyFlixServer":
    """A MyFlixServer on host:port, or a clear error when the port cannot be had."""
    try:
        return MyFlixServer(workdir, host, port)
    except OSError as err:
        raise UserError(f"cannot listen on {host}:{port} ({err.strerror}): stop what uses it or pass --port") from None


def serve_until_stopped(server: "MyFlixServer") -> None:
    """Say where MyFlix is and serve until Ctrl-C or SIGTERM (a server already start()ed keeps its thread)."""
    server.service.recheck()     # a table published since the server started is read now
    server.service.warm()
    from inference.local_endpoint import stop_on_sigterm
    stop_on_sigterm()
    print(f"MyFlix is on {server.url}  (API: {server.url}/health, {server.url}/openapi.json; "
          f"Studio: {server.url}/studio/; Ctrl-C stops it)", flush=True)
    try:
        if server.running:
            while server.running:
                server.join(0.5)
        else:
            server.serve_forever()
    except KeyboardInterrupt:
        print("myflix serve: stopped", file=sys.stderr)
    finally:
        if server.running:       # serve_forever() closes its own sockets on the way out
            server.stop()


def serve(workdir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API and the page on http://host:port over `workdir`'s published table; blocks until Ctrl-C."""
    workdir = Path(workdir)
    if not published_table(workdir).is_file():
        if not any((workdir / "executions").glob("*/execution.json")):
            raise UserError(f"no published table in {workdir} ({published_table(workdir)} is missing): {RUN_FIRST}")
        # a run that failed before Publish: the Studio shows why; the API answers 503 meanwhile
        print(f"no published table in {workdir} yet: the API answers 503 until a run publishes one; "
              "the Studio shows the executions", file=sys.stderr)
    serve_until_stopped(open_server(workdir, host, port))








def serve_endpoint(workdir: Path, name: str, model: Path | None, host: str, port: int) -> None:
    """SageMaker's container contract (/ping, /invocations) on host:port for the model the local
    deployer recorded for endpoint `name` (or `model`); blocks until Ctrl-C or SIGTERM."""
    from inference.local_endpoint import LocalEndpoint, endpoint_model, stop_on_sigterm

    if model is None:
        try:
            model = endpoint_model(workdir, name)
        except FileNotFoundError as err:
            raise UserError(f"{err}: {RUN_FIRST}, or pass --model PATH") from None
        except ValueError as err:
            raise UserError(f"{err}: deploy again, or pass --model PATH") from None
    if not Path(model).exists():
        raise UserError(f"model {model} does not exist: {RUN_FIRST}, or pass --model PATH")
    try:
        endpoint = LocalEndpoint(model, host, port, verbose=True)
    except OSError as err:
        raise UserError(f"cannot listen on {host}:{port} ({err.strerror}): pass --port") from None
    stop_on_sigterm()
    print(f"endpoint for {model} on {endpoint.url} (GET /ping, POST /invocations); Ctrl-C stops it", flush=True)
    try:
        endpoint.serve_forever()
    except KeyboardInterrupt:
        print("myflix endpoint: stopped", file=sys.stderr)
    finally:
        endpoint.server.server_close()
