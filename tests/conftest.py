"""Shared test fixtures: where the real data lives, and a guard that keeps tests off the network."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = REPO_ROOT / "tests" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """tests/data: the real movie table copied from ../shared/data (vega_movies.json.gz, with its
    notice), so the suite runs on a clone with nothing beside it."""
    return TEST_DATA
