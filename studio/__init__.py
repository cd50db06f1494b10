"""The Studio page of `myflix serve` (/studio): the local executions, their DAG, steps and reports, the registry.

Served by the local side only (never by the Chalice API). `make_app(workdir)` is a WSGI app of
its own over the local runner's records (`local_runner.executions`), the local object store
(`<workdir>/s3/`), the local registry and the endpoint records; `mount(app, workdir)` puts it in
front of another WSGI app at /studio (what `myflix serve` runs). Parts: `views` (pure: the JSON the page
reads), `files` (the store's files, path-checked), `app` (routes, security headers, CSRF guard).
"""
from __future__ import annotations

from studio.app import PREFIX, StudioApp, is_studio_path, make_app, mount

__all__ = ["PREFIX", "StudioApp", "is_studio_path", "make_app", "mount"]
