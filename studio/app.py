"""The Studio's WSGI app: routes under /studio, security headers, the Host and CSRF guards.

Routes (GET and HEAD unless said):
- `/studio`, `/studio/static/<file>`: the page (static/; all script in files, for a CSP with no
  inline script);
- `/studio/api/executions`, `/studio/api/executions/<id>`, `/studio/api/executions/<id>/steps/<step>`;
- `/studio/api/registry`; POST `/studio/api/registry/<group>/<version>/approve|reject` (JSON body
  with the required comment, same origin): what `myflix registry approve|reject` does, the
  deployer included, recorded in the version's history with who and when;
- `/studio/api/parameters` (the run form); POST `/studio/api/executions` (start a run), POST
  `/studio/api/executions/<id>/stop|retry`, `/studio/api/executions/<id>/launch` (a started run
  before its record exists), `/studio/api/executions/<id>/steps/<step>/log` (the whole log);
- `/studio/files/<bucket>/<key>`: a file of the local store (`files.safe_path`).
Every error is JSON `{Code, Message}` with a 4xx status. A request whose Host is not this machine
(loopback names, or the address the server listens on) is refused: a page of another site
cannot read the records by rebinding its DNS name to 127.0.0.1.
"""
from __future__ import annotations

import json
import mimetypes
import re
import threading
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import unquote, urlsplit

from local_aws import layout, registry
from operations import approval
from studio import actions, files, views

PREFIX = "/studio"
STATIC_DIR = Path(__file__).resolve().parent / "static"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
MAX_BODY = 4096
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", CSP),
    ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Resource-Policy", "same-origin"), ("Cross-Origin-Opener-Policy", "same-origin"),
]
_API = re.compile(r"^/api/(?P<rest>.*)$")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or []


def _status_line(code: int) -> str:
    return f"{code} {HTTPStatus(code).phrase}"


class StudioApp:
    """WSGI app over one work folder; `decide(workdir, ref, status, ...)` is the registry action."""

    def __init__(self, workdir: Path, allowed_hosts: Iterable[str] = (),
                 decide: Callable[..., dict] | None = None):
        self.workdir = Path(workdir).resolve()
        self.allowed_hosts = LOOPBACK_HOSTS | {h.lower() for h in allowed_hosts if h not in ("", "0.0.0.0", "::")}
        self.static = {p.name: p for p in STATIC_DIR.iterdir() if p.is_file()}
        self.decide = decide or registry_decision
        self._decisions = threading.Lock()      # one release at a time, as one reviewer would

    # --- WSGI --------------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        path = environ.get("PATH_INFO") or "/"
        try:
            self._check_host(environ)
            if not (path == PREFIX or path.startswith(PREFIX + "/")):
                raise ApiError(404, "NotFound", f"{path} is not a Studio path (they start with {PREFIX}/)")
            status, headers, body = self._route(method, path[len(PREFIX):], environ)
        except ApiError as err:
            status, headers, body = self._json(err.status, {"Code": err.code, "Message": err.message})
            headers += err.headers
        headers = headers + SECURITY_HEADERS
        start_response(_status_line(status), headers)
        if method == "HEAD":
            if hasattr(body, "close"):
                body.close()
            return [b""]
        return body

    def _check_host(self, environ: dict) -> None:
        # exactly one Host (servers join repeated headers with ", ": refused by the parse), and
        # exactly a loopback name or the served address, with an optional port and nothing else
        host = environ["HTTP_HOST"] if "HTTP_HOST" in environ else environ.get("SERVER_NAME") or ""
        name = _host_name(host)
        server = (environ.get("SERVER_NAME") or "").lower()
        if name is None or name not in self.allowed_hosts and not (
                server not in ("", "0.0.0.0", "::") and name == server):
            raise ApiError(403, "ForbiddenHost", f"Host {host!r} is not this machine: open the Studio at "
                                                 f"http://127.0.0.1:<port>{PREFIX}/")

    def _route(self, method: str, rest: str, environ: dict) -> tuple[int, list, Iterable[bytes]]:
        if rest in ("", "/"):
            self._only(method, "GET", "HEAD")
            return self._static_file("index.html")
        if rest.startswith("/static/"):
            self._only(method, "GET", "HEAD")
            return self._static_file(rest[len("/static/"):])
        if rest.startswith("/files/"):
            self._only(method, "GET", "HEAD")
            return self._store_file(rest[len("/files/"):])
        match = _API.match(rest)
        if not match:
            raise ApiError(404, "NotFound", f"no Studio page {PREFIX}{rest}")
        parts = ([unquote(p) for p in match.group("rest").strip("/").split("/")]
                 if match.group("rest").strip("/") else [])
        return self._api(method, parts, environ)

    @staticmethod
    def _only(method: str, *allowed: str) -> None:
        if method not in allowed:
            raise ApiError(405, "MethodNotAllowed", f"{method} is not allowed here (use {', '.join(allowed)})",
                           [("Allow", ", ".join(allowed))])

    # --- responses ---------------------------------------------------------------------------------
    @staticmethod
    def _json(status: int, document: Any) -> tuple[int, list, list[bytes]]:
        body = json.dumps(_no_nan(document), default=str, allow_nan=False).encode("utf-8")
        return status, [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                        ("Cache-Control", "no-store")], [body]

    def _static_file(self, name: str) -> tuple[int, list, list[bytes]]:
        file = self.static.get(name)
        if file is None:
            raise ApiError(404, "NotFound", f"no static file {name!r}")
        body = file.read_bytes()
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return 200, [("Content-Type", kind), ("Content-Length", str(len(body))), ("Cache-Control", "no-cache")], [body]

    def _store_file(self, relative: str) -> tuple[int, list, Iterable[bytes]]:
        try:
            path = files.safe_path(layout.s3_root(self.workdir), relative)
            handle, size = files.open_file(path)
        except files.FileRefused as err:
            raise ApiError(err.status, "FileRefused" if err.status != 404 else "NotFound", str(err)) from None
        except OSError as err:
            raise ApiError(404, "NotFound", f"cannot open {relative}: {err.strerror}") from None
        kind, inline = files.content_type(path.name)
        headers = [("Content-Type", kind), ("Content-Length", str(size)), ("Cache-Control", "no-cache")]
        if not inline:
            safe_name = re.sub(r"[^A-Za-z0-9._-]", "_", path.name)
            headers.append(("Content-Disposition", f'attachment; filename="{safe_name}"'))
        return 200, headers, files.iter_file(handle)

    # --- the JSON API ------------------------------------------------------------------------------
    def _api(self, method: str, parts: list[str], environ: dict) -> tuple[int, list, list[bytes]]:
        try:
            if parts == ["executions"] and method == "POST":
                return self._start(environ)
            if parts == ["executions"]:
                self._only(method, "GET", "HEAD", "POST")
                # polled by every open tab: 304 while no record changed (the browser revalidates)
                etag = views.executions_etag(self.workdir)
                validators = [t.strip() for t in (environ.get("HTTP_IF_NONE_MATCH") or "").split(",")]
                if etag in validators:
                    return 304, [("ETag", etag), ("Cache-Control", "no-cache")], [b""]
                status, headers, body = self._json(200, {"executions": views.list_summaries(self.workdir)})
                headers = [h for h in headers if h[0] != "Cache-Control"]
                headers += [("ETag", etag), ("Cache-Control", "no-cache")]
                return status, headers, body
            if parts == ["parameters"]:
                self._only(method, "GET", "HEAD")
                return self._json(200, {"parameters": actions.parameter_form()})
            if len(parts) == 3 and parts[0] == "executions" and parts[2] in ("stop", "retry"):
                self._only(method, "POST")
                return self._execution_action(parts[1], parts[2], environ)
            if len(parts) == 3 and parts[0] == "executions" and parts[2] == "launch":
                self._only(method, "GET", "HEAD")
                known = views.EXECUTION_ID.match(parts[1])
                launched = actions.launch(self.workdir, parts[1]) if known else None
                if launched is None:
                    raise views.NotFound(f"no run {parts[1]!r} was started from this Studio")
                return self._json(200, launched)
            if len(parts) == 5 and parts[0] == "executions" and parts[2] == "steps" and parts[4] == "log":
                self._only(method, "GET", "HEAD")
                path = views.log_path(self.workdir, parts[1], parts[3])
                handle, size = files.open_file(path)
                return 200, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(size)),
                             ("Cache-Control", "no-store")], files.iter_file(handle)
            if len(parts) == 2 and parts[0] == "executions":
                self._only(method, "GET", "HEAD")
                return self._json(200, views.detail(self.workdir, parts[1]))
            if len(parts) == 4 and parts[0] == "executions" and parts[2] == "steps":
                self._only(method, "GET", "HEAD")
                return self._json(200, views.step_detail(self.workdir, parts[1], parts[3]))
            if parts == ["registry"]:
                self._only(method, "GET", "HEAD")
                return self._json(200, views.registry_view(self.workdir))
            if len(parts) == 4 and parts[0] == "registry" and parts[3] in ("approve", "reject"):
                self._only(method, "POST")
                return self._decision(parts[1], parts[2], parts[3], environ)
        except views.NotFound as err:
            raise ApiError(404, "NotFound", str(err)) from None
        except actions.ActionRefused as err:
            raise ApiError(err.status, err.code, err.message) from None
        except (files.FileRefused, OSError) as err:
            raise ApiError(404, "NotFound", f"cannot read the log: {err}") from None
        raise ApiError(404, "NotFound", f"no Studio API {PREFIX}/api/{'/'.join(parts)} (see {PREFIX}/api/executions, "
                                        f"{PREFIX}/api/registry)")

    def _start(self, environ: dict) -> tuple[int, list, list[bytes]]:
        """POST /studio/api/executions {"parameters": {name: value}, "display_name"}: a new local run."""
        check_same_origin(environ)
        body = read_json_body(environ)
        name = body.get("display_name") or None
        if name is not None and not isinstance(name, str):
            raise ApiError(400, "BadRequest", "display_name must be a string")
        parameters = actions.check_parameters(body.get("parameters", {}))
        execution_id = actions.start_run(self.workdir, parameters, name)
        return self._json(202, {"id": execution_id, "parameters": parameters, "display_name": name})

    def _execution_action(self, execution_id: str, action: str,
                          environ: dict) -> tuple[int, list, list[bytes]]:
        check_same_origin(environ)
        read_json_body(environ)
        if not views.EXECUTION_ID.match(execution_id):
            raise ApiError(400, "BadRequest", f"{execution_id!r} is not an execution id")
        if action == "stop":
            return self._json(202, actions.stop(self.workdir, execution_id))
        return self._json(202, actions.retry(self.workdir, execution_id))

    def _decision(self, group: str, version: str, action: str, environ: dict) -> tuple[int, list, list[bytes]]:
        check_same_origin(environ)
        if not views.GROUP_NAME.match(group):
            raise ApiError(400, "BadRequest", f"{group!r} is not a model package group name")
        if not views.VERSION.match(version):
            raise ApiError(400, "BadRequest", f"{version!r} is not a model package version (1, 2, ...)")
        body = read_json_body(environ)
        description = body.get("description")
        # A decision carries its reason, as a reviewer's does in SageMaker (ApprovalDescription)
        if not isinstance(description, str) or not description.strip() or len(description) > 500:
            raise ApiError(400, "BadRequest", "description: say why (a comment of 1 to 500 characters is "
                                              "recorded with the decision, who made it and when)")
        promote = body.get("promote", True)
        if not isinstance(promote, bool):
            raise ApiError(400, "BadRequest", "promote must be true or false")
        status = "Approved" if action == "approve" else "Rejected"
        with self._decisions:
            try:
                result = self.decide(self.workdir, f"{group}/{version}", status,
                                     description=description.strip(), promote=promote)
            except registry.RegistryError as err:
                raise ApiError(404, "NotFound", str(err)) from None
            except DecisionRefused as err:
                raise ApiError(409, "DeployFailed", str(err)) from None
        return self._json(200, result)


class DecisionRefused(RuntimeError):
    """The deployer refused or failed the release (its message says why)."""


def registry_decision(workdir: Path, ref: str, status: str, *, description: str, promote: bool) -> dict:
    """What `myflix registry approve|reject` does (operations/approval.py, the one entry point):
    UpdateModelPackage on the local registry, then the registry's state-change event to the local deployer."""
    log: list[str] = []
    try:
        package, result = approval.decide(workdir, ref, status, description=description,
                                          actor=f"{registry.local_actor()} (Studio)", promote=promote,
                                          log=log.append)
    except approval.ReleaseFailed as err:
        raise DecisionRefused(f"{err.package['ModelPackageArn']} is {status}, but the release failed: "
                              f"{err}") from None
    return {"package": {"arn": package["ModelPackageArn"], "approval": package["ModelApprovalStatus"],
                        "version": package["ModelPackageVersion"]},
            "outcome": result.get("outcome"), "message": result.get("message"), "log": log}


def check_same_origin(environ: dict) -> None:
    """A state-changing request must come from this page: its Origin (or Referer) is this Host."""
    host = environ.get("HTTP_HOST") or ""
    expected = f"http://{host}"
    origin = environ.get("HTTP_ORIGIN")
    referer = environ.get("HTTP_REFERER")
    if origin:
        if origin != expected:
            raise ApiError(403, "CrossOrigin", f"Origin {origin!r} is not this page ({expected}): refused")
    elif referer:
        parts = urlsplit(referer)
        if f"{parts.scheme}://{parts.netloc}" != expected:
            raise ApiError(403, "CrossOrigin", f"Referer {referer!r} is not this page ({expected}): refused")
    else:
        raise ApiError(403, "CrossOrigin", "no Origin or Referer header: approve and reject only from the Studio page")
    if environ.get("HTTP_SEC_FETCH_SITE") not in (None, "same-origin"):
        raise ApiError(403, "CrossOrigin", f"Sec-Fetch-Site {environ['HTTP_SEC_FETCH_SITE']!r}: refused")
    kind = (environ.get("CONTENT_TYPE") or "").split(";")[0].strip().lower()
    if kind != "application/json":
        raise ApiError(415, "UnsupportedMediaType", f"send Content-Type: application/json, not {kind or 'nothing'!r}")


def read_json_body(environ: dict) -> dict:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "BadRequest", "Content-Length is not a number") from None
    if length > MAX_BODY:
        raise ApiError(413, "PayloadTooLarge", f"the body is over {MAX_BODY} bytes")
    raw = environ["wsgi.input"].read(length) if length > 0 else b""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ApiError(400, "BadRequest", "the body is nested too deeply: send a flat JSON object") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise ApiError(400, "BadRequest", f"the body is not JSON: {str(err)[:200]}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "BadRequest", "the body must be a JSON object")
    return body


_HOST = re.compile(r"(?P<name>\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::[0-9]{1,5})?")


def _host_name(host: str) -> str | None:
    """The name of a Host header value (`[::1]` keeps its brackets), or None when it is not exactly
    `name[:port]` (a list of hosts, trailing text after `]`, spaces, two ports...)."""
    match = _HOST.fullmatch(host.lower())
    return match.group("name") if match else None


def _has_nan(value: Any) -> bool:
    if isinstance(value, float):
        return value != value or value in (float("inf"), float("-inf"))
    if isinstance(value, dict):
        return any(_has_nan(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_nan(v) for v in value)
    return False


def _no_nan(value: Any) -> Any:
    if isinstance(value, float) and _has_nan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


# --- mounting --------------------------------------------------------------------------------------
def make_app(workdir: Path, allowed_hosts: Iterable[str] = ()) -> StudioApp:
    return StudioApp(workdir, allowed_hosts)


def is_studio_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def mount(app: Callable, workdir: Path, allowed_hosts: Iterable[str] = ()) -> Callable:
    """A WSGI app that sends /studio... to the Studio and everything else to `app`."""
    studio = make_app(workdir, allowed_hosts)

    def dispatch(environ: dict, start_response: StartResponse):
        if is_studio_path(environ.get("PATH_INFO") or "/"):
            return studio(environ, start_response)
        return app(environ, start_response)
    dispatch.studio = studio  # type: ignore[attr-defined]
    return dispatch

