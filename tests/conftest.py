"""Fixtures every room's tests share. Fake AWS credentials enter the environment here and nowhere else.

`aws_credentials` (one test) and `module_aws_credentials` (a module's fixtures) give boto3 a key
moto accepts, and keep everything of the host's own AWS set-up away from the test: profile,
session token, credentials and config files, instance metadata; boto3's default session (which caches
credentials) is the test's own. Neither sets a region: each test
names the region it means (or removes it, when the code under test must not rely on one).
`loopback_only` fails a module whose process opened any connection beyond 127.0.0.1.
`definition_json_once` is the real pipeline.definition.definition_json, generated once per session
for the same settings and code (`definition_texts`, the memo several rooms' tests read).
`browser` is headless Chromium for one test (the page's and the Studio's browser tests).

Room folders hold their own conftest.py for what only that room's tests share. Helper modules
(imdb_fixtures, deployer_fixtures, netguard, serving_harness, chromium) sit beside this file, on
pytest's pythonpath (setup.cfg).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FAKE_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_EC2_METADATA_DISABLED": "true"}
# what of the host's AWS set-up would otherwise win over, or sign beside, the fake key
HOST_AWS_VARS = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def _use_fake_aws_credentials(mp: pytest.MonkeyPatch, folder: Path) -> None:
    import boto3
    # boto3's default session caches the first credentials it finds: a fresh one here, and the one made
    # under the fake key dropped afterwards, so no later test (one that expects none) inherits them
    mp.setattr(boto3, "DEFAULT_SESSION", None)
    for var in HOST_AWS_VARS:
        mp.delenv(var, raising=False)
    for key, value in FAKE_AWS_ENV.items():
        mp.setenv(key, value)
    # files that do not exist: no ~/.aws/credentials or ~/.aws/config of the machine is read
    mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-aws-credentials"))
    mp.setenv("AWS_CONFIG_FILE", str(folder / "no-aws-config"))


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake AWS credentials for this test (moto); the host's own AWS set-up out of reach."""
    _use_fake_aws_credentials(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def module_aws_credentials(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """`aws_credentials` for a module-scoped fixture (a stack created once for a whole file)."""
    with pytest.MonkeyPatch.context() as mp:
        _use_fake_aws_credentials(mp, tmp_path_factory.mktemp("aws"))
        yield


@pytest.fixture(scope="module")
def loopback_only(request: pytest.FixtureRequest) -> Iterator[list]:
    """No connection beyond loopback from this process for the whole module (tests/netguard.py);
    yields the attempts, and fails the module if there was any."""
    from netguard import loopback_only as guard
    with guard() as attempts:
        yield attempts
    assert attempts == [], f"{request.module.__name__} tried to reach the network: {attempts}"


@pytest.fixture(scope="session")
def definition_texts() -> dict[tuple, str]:
    """Definition JSON texts by (region, role, bucket, pipeline name, code bundle sha256), for the session."""
    return {}


@pytest.fixture(scope="session")
def definition_json_once(definition_texts: dict[tuple, str]) -> Callable[..., str]:
    """pipeline.definition.definition_json (the real one, taken before any test patches it), each
    (settings, code) generated once per session: a generation takes seconds."""
    from pipeline import definition as definition_mod
    from pipeline.code_bundle import build_bundle
    real = definition_mod.definition_json

    def once(region: str, role: str, bucket: str, pipeline_name: str = definition_mod.PIPELINE_NAME,
             bundle=None) -> str:
        bundle = bundle or build_bundle()
        key = (region, role, bucket, pipeline_name, bundle.sha256)
        if key not in definition_texts:
            definition_texts[key] = real(region, role, bucket, pipeline_name, bundle=bundle)
        return definition_texts[key]
    return once


@pytest.fixture()
def browser(tmp_path: Path) -> Iterator:
    """Headless Chromium at 1400x1000 for one test (tests/chromium.py; skipped without Chromium, outside
    CI), quit afterwards."""
    from chromium import chromium_driver
    driver = chromium_driver(tmp_path)
    try:
        yield driver
    finally:
        driver.quit()
