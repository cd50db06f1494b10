"""Fixtures the API tests share: chalice's test client over the app serving a file's own `built` folder."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from chalice.test import Client

import app as api_app
from chalicelib import config, service


@pytest.fixture()
def client(built: dict) -> Iterator[Client]:
    """The Chalice app through chalice.test.Client, serving `built["workdir"]` (each test file builds its
    own: tests/api/test_api_data.py's build_workdir) and re-reading it on every request."""
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=0))
    with Client(api_app.app) as c:
        yield c
