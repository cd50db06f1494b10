"""Fixtures the deployer tests share: real models to release (tests/deployer_fixtures.py trains them)."""
from __future__ import annotations

import pytest

from deployer_fixtures import train_models


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two good models (k=9 and k=7) and one that disagrees with the k=9 table (same k, another seed),
    trained once per test file (a file may tamper with them)."""
    return train_models(tmp_path_factory.mktemp("deployer"), {"a": (9, 42), "b": (7, 3), "other": (9, 7)})
