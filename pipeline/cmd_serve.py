"""`myflix serve` (the API and the MyFlix page on one local port) and `myflix endpoint` (the local model endpoint).

`serve` runs the Chalice app of api/ in this process through Chalice's own local server classes
(no `chalice local`, so no autoreload child is left holding the port), in local mode over the
local runner's work folder, and serves ui/ from the same origin: the page calls the API with
relative URLs. `serve(workdir, host, port)` is also what `myflix run` calls when the pipeline ends.
"""
from __future__ import annotations

import mimetypes
import os
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
API_DIR = REPO_ROOT / "api"
UI_DIR = REPO_ROOT / "ui"
DEFAULT_WORKDIR = ".myflix"
RUN_FIRST = "run `make run` or `myflix run` first"


def _user_error(message: str) -> Exception:
    from pipeline.cli import UserError
    return UserError(message)


def published_table(workdir: Path, database: str = "myflix", table: str = "movie_clusters") -> Path:
    return Path(workdir) / "catalog" / database / f"{table}.json"


def _load_app(workdir: Path):
    """The Chalice app object in local mode over `workdir` (api/ put on sys.path as Chalice does)."""
    os.environ["MYFLIX_WORKDIR"] = str(Path(workdir).resolve())
    if str(API_DIR) not in sys.path:
        sys.path.insert(0, str(API_DIR))
    import app as api_app
    from chalicelib import config, service

    return api_app.app, service.reset(config.from_env())


def _static_files() -> dict[str, Path]:
    files = {"/" + p.relative_to(UI_DIR).as_posix(): p for p in UI_DIR.rglob("*") if p.is_file()}
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


class MyFlixServer:
    """Chalice's LocalDevServer with a handler that also serves the page; start/stop or serve_forever."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int = 8000, quiet: bool = False):
        from chalice.config import Config
        from chalice.local import ChaliceRequestHandler, CustomLocalChalice, LocalChalice, LocalDevServer

        app, self.service = _load_app(workdir)   # the API's Service over this workdir
        # As chalice.local.create_local_server does: a thread-local current_request per request
        if not isinstance(app, LocalChalice):
            CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
            app.__class__ = CustomLocalChalice
        static = _static_files()

        class Handler(ChaliceRequestHandler):
            # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
            disable_nagle_algorithm = True

            def log_message(self, fmt, *args):
                if not quiet:
                    super().log_message(fmt, *args)

            def _static(self, head: bool) -> bool:
                path = urlsplit(self.path).path
                file = static.get(path)
                if file is None:
                    return False
                body = file.read_bytes()
                self.send_response(200)
                kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
                self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith("text/") or
                                                         kind.endswith("javascript") else ""))
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                return True

            def do_GET(self):  # noqa: N802 - http.server's naming
                if not self._static(head=False):
                    self._generic_handle()

            def do_HEAD(self):  # noqa: N802
                if not self._static(head=True):
                    self._generic_handle()

        config = Config.create(chalice_stage="local", app_name=app.app_name, lambda_timeout=60,
                               lambda_memory_size=1024)
        self.dev = LocalDevServer(app, config, host, port, handler_cls=Handler)
        self.dev.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.dev.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "MyFlixServer":
        self._thread = threading.Thread(target=self.dev.server.serve_forever, name="myflix-serve", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.dev.server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.dev.server.server_close()

    def __enter__(self) -> "MyFlixServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(workdir: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API and the page on http://host:port over `workdir`'s published table; blocks until Ctrl-C."""
    workdir = Path(workdir)
    if not published_table(workdir).is_file():
        raise _user_error(f"no published table in {workdir} ({published_table(workdir)} is missing): {RUN_FIRST}")
    try:
        server = MyFlixServer(workdir, host, port)
    except OSError as err:
        raise _user_error(f"cannot listen on {host}:{port} ({err.strerror}): stop what uses it or pass --port") from None
    server.service.warm()
    from inference.local_endpoint import stop_on_sigterm
    stop_on_sigterm()
    print(f"MyFlix is on {server.url}  (API: {server.url}/health, {server.url}/openapi.json; Ctrl-C stops it)",
          flush=True)
    try:
        server.dev.server.serve_forever()
    except KeyboardInterrupt:
        print("myflix serve: stopped", file=sys.stderr)
    finally:
        server.dev.server.server_close()


def cmd_serve(args) -> int:
    serve(Path(args.workdir), args.host, args.port)
    return 0


def cmd_endpoint(args) -> int:
    import json

    from inference.local_endpoint import LocalEndpoint, stop_on_sigterm

    model = args.model
    if model is None:
        record = Path(args.workdir) / "endpoints" / f"{args.name}.json"
        if not record.is_file():
            raise _user_error(f"no endpoint record {record}: {RUN_FIRST}, or pass --model PATH")
        url = json.loads(record.read_text())["ModelDataUrl"]
        model = Path(args.workdir) / "s3" / url[len("s3://"):]
    if not Path(model).exists():
        raise _user_error(f"model {model} does not exist: {RUN_FIRST}, or pass --model PATH")
    try:
        endpoint = LocalEndpoint(model, args.host, args.port, verbose=True)
    except OSError as err:
        raise _user_error(f"cannot listen on {args.host}:{args.port} ({err.strerror}): pass --port") from None
    stop_on_sigterm()
    print(f"endpoint for {model} on {endpoint.url} (GET /ping, POST /invocations); Ctrl-C stops it", flush=True)
    try:
        endpoint.serve_forever()
    except KeyboardInterrupt:
        print("myflix endpoint: stopped", file=sys.stderr)
    finally:
        endpoint.server.server_close()
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("serve", help="serve the API and the MyFlix page locally",
                              description="Serve the MyFlix API and web page on one local port, over the table "
                                          "that the local pipeline published into --workdir.")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR, help="the local runner's work folder (default: .myflix)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    e = subparsers.add_parser("endpoint", help="serve the deployed model locally on /ping and /invocations",
                              description="SageMaker's container contract on a local port, for the model the local "
                                          "Deploy step recorded (or --model).")
    e.add_argument("--workdir", default=DEFAULT_WORKDIR)
    e.add_argument("--name", default="myflix-movie-clusters", help="endpoint name (default: myflix-movie-clusters)")
    e.add_argument("--model", default=None, help="a model folder or model.tar.gz instead of the endpoint record")
    e.add_argument("--host", default="127.0.0.1")
    e.add_argument("--port", type=int, default=8080)
    e.set_defaults(func=cmd_endpoint)
