"""The WSGI application `myflix serve` runs under waitress: the page (ui/) and the Chalice API on one origin.

API requests go through chalice.local's LocalGateway, the same API-Gateway-to-Lambda translation
`chalice local` uses, so the routes, CORS and middleware behave as they do in Lambda. What API
Gateway would answer itself (a path no route matches) is answered here in the API's own
`{Code, Message}` shape: 404, not Gateway's 403 "Missing Authentication Token". Every answer,
page or API, carries the security headers; the page's Content-Security-Policy allows only its own
scripts and styles (no inline script), and fetches to its own origin, https APIs and loopback ones
(the `?api=` choice the page shows).
"""
from __future__ import annotations

import base64
import json
import mimetypes
import sys
from http import HTTPStatus
from pathlib import Path
from urllib.parse import quote

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
PAGE_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src 'self' https: http://127.0.0.1:* http://localhost:*; "
            "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
# Any method token goes to the gateway, which answers 405 with Allow for one a route lacks; a longer
# token than any real method is refused here, before it is quoted in a message
MAX_METHOD_LENGTH = 16


def static_files(ui_dir: Path) -> dict[str, Path]:
    files = {"/" + p.relative_to(ui_dir).as_posix(): p for p in ui_dir.rglob("*") if p.is_file()}
    if "/index.html" in files:
        files["/"] = files["/index.html"]
    return files


def _status(code: int) -> str:
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"{code} Unknown"


def _clip(text: str, limit: int = 40) -> str:
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def json_error(code: int, error: str, message: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    body = json.dumps({"Code": error, "Message": message}).encode()
    return code, {"Content-Type": "application/json", "Content-Security-Policy": API_CSP, **(headers or {})}, body


def _request_headers(environ: dict) -> dict[str, str]:
    headers = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


class MyFlixApp:
    """WSGI callable: static files for GET/HEAD of a ui/ path, everything else to the Chalice app."""

    def __init__(self, chalice_app, chalice_config, ui_dir: Path, quiet: bool = False):
        from chalice.local import LocalGateway

        self.gateway = LocalGateway(chalice_app, chalice_config)
        self.static = static_files(ui_dir)
        self.quiet = quiet

    def __call__(self, environ, start_response):
        method = environ["REQUEST_METHOD"]
        try:
            code, headers, body = self.handle(environ, method)
        except Exception as err:  # noqa: BLE001 - the last guard: a client never sees a 500 or a traceback
            print(f"myflix serve: unexpected {type(err).__name__}: {err}", file=sys.stderr)
            code, headers, body = json_error(503, "ServiceError", "the server hit an unexpected error (it is "
                                             "logged); try again, and report it if it persists")
        for name, value in SECURITY_HEADERS.items():
            headers.setdefault(name, value)
        headers["Content-Length"] = str(len(body))
        if not self.quiet:   # no client address, no viewer id: the API keeps no personal data, logs included
            target = environ.get("REQUEST_URI", "")[:200]
            if target.startswith("/viewers/"):
                target = "/viewers/{viewer_id}"
            print(f'"{method} {target}" {code}', file=sys.stderr)
        start_response(_status(code), list(headers.items()))
        return [b"" if method == "HEAD" else body]

    def handle(self, environ: dict, method: str) -> tuple[int, dict, bytes]:
        path = environ.get("PATH_INFO") or "/"
        if method in ("GET", "HEAD") and path in self.static:
            return self._file(self.static[path])
        if len(method) > MAX_METHOD_LENGTH:
            return json_error(400, "BadRequestError", f"the method {_clip(method, 16)} is not an HTTP method")
        from chalice.local import LocalGatewayException

        length = int(environ.get("CONTENT_LENGTH") or 0)   # waitress checked it and holds the whole body
        body = environ["wsgi.input"].read(length) if length else None
        # The raw request target, as chalice.local's own server passes it: route matching on the
        # %-decoded path would let an encoded "?" or "/" in an id change the route
        target = environ.get("REQUEST_URI") or quote(path) + ("?" + environ["QUERY_STRING"]
                                                              if environ.get("QUERY_STRING") else "")
        try:
            response = self.gateway.handle_request(method=method, path=target, headers=_request_headers(environ),
                                                   body=body)
        except LocalGatewayException:   # no route matches: API Gateway's 403, our 404
            return json_error(404, "NotFoundError", f"no route for {_clip(path)}: the API's routes are listed "
                                                    "in /openapi.json, the page is at /")
        headers = {name: str(value) for name, value in (response.get("headers") or {}).items()}
        for name, values in (response.get("multiValueHeaders") or {}).items():
            headers[name] = ", ".join(str(v) for v in values)
        out = response.get("body")
        if response.get("isBase64Encoded") and out is not None:
            out = base64.b64decode(out)
        out = b"" if out is None else out if isinstance(out, bytes) else out.encode("utf-8")
        if out:
            headers.setdefault("Content-Type", "application/json")
        return int(response["statusCode"]), headers, out

    @staticmethod
    def _file(file: Path) -> tuple[int, dict, bytes]:
        body = file.read_bytes()   # read per request: an edited page shows on reload
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return 200, {"Content-Type": kind, "Cache-Control": "no-cache", "Content-Security-Policy": PAGE_CSP}, body
