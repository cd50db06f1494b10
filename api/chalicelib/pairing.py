"""Which model package the endpoint serves, against the table's: the API pairs them or refuses.

The `{"features": ...}` answers come from the endpoint while everything else comes from the
table, so the two must be the same model package (docs/CONTRACTS.md, "Releases"). The table
says its package in the `myflix_model_package_arn` parameter; the endpoint says it in its tag
`myflix:model-package-arn` (DescribeEndpoint + ListTags on AWS; locally the endpoint record's
`Tags`, or its `ModelPackageArn`), both written by the deployer. The features route does not
rely on this (cached) check when the table records its model's digest (`myflix_model_sha256`):
every endpoint answer carries the digest of the model that made it, and the service compares the
two per request (chalicelib.service). /health asks the endpoint afresh (`max_age`).
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from chalicelib import local_layout  # copy of local_aws/layout.py: the API Lambda ships api/ only
from chalicelib.config import Settings
from chalicelib.errors import TableUnavailable

PACKAGE_TAG = "myflix:model-package-arn"     # deployer/release.py TAG_PACKAGE


class ModelMismatch(TableUnavailable):
    """503: the endpoint and the table serve different model packages (a release is under way)."""


@dataclass(frozen=True)
class Pair:
    table_package: str | None
    endpoint_package: str | None
    error: str | None = None        # why the endpoint's package could not be read
    table_digest: str | None = None     # the table's myflix_model_sha256 (the model it was built with)

    @property
    def in_step(self) -> bool:
        return bool(self.table_package) and self.table_package == self.endpoint_package

    def reason(self, endpoint: str) -> str:
        if self.error:
            return f"cannot tell which model endpoint {endpoint} serves ({self.error})"
        if not self.table_package:
            return "the published table names no model package (myflix_model_package_arn): publish it again"
        return (f"endpoint {endpoint} serves {self.endpoint_package or 'no recorded model package'} but the table "
                f"was published for {self.table_package}: a release is under way (or was left half done); "
                "see `myflix deploy status`, then try again")

    def as_dict(self, endpoint: str) -> dict:
        return {"endpoint": endpoint, "endpoint_model_package_arn": self.endpoint_package,
                "table_model_package_arn": self.table_package, "table_model_sha256": self.table_digest,
                "in_step": self.in_step,
                "reason": None if self.in_step else self.reason(endpoint)}


def endpoint_package_local(settings: Settings) -> str | None:
    record = local_layout.read_endpoint(settings.workdir, settings.endpoint_name)
    if record is None:
        return None
    return (record.get("Tags") or {}).get(PACKAGE_TAG) or record.get("ModelPackageArn")


def endpoint_package_aws(settings: Settings, client=None) -> str | None:
    import boto3
    from botocore.exceptions import ClientError
    client = client or boto3.client("sagemaker", region_name=settings.region)
    try:
        described = client.describe_endpoint(EndpointName=settings.endpoint_name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ValidationException":
            return None                  # no such endpoint (yet)
        raise
    tags = client.list_tags(ResourceArn=described["EndpointArn"]).get("Tags", [])
    return next((t["Value"] for t in tags if t["Key"] == PACKAGE_TAG), None)


class PairCheck:
    """The endpoint's package, cached for `reload_seconds`; compared with the table's on demand."""

    def __init__(self, settings: Settings, clock=time.monotonic):
        self.settings, self.clock = settings, clock
        self._lock = threading.Lock()
        self._checked_at = -math.inf
        self._package: str | None = None
        self._error: str | None = None

    def recheck(self) -> None:
        """Ask the endpoint again on the next comparison (the table just moved: so did the endpoint)."""
        with self._lock:
            self._checked_at = -math.inf

    def endpoint_package(self, max_age: float | None = None) -> tuple[str | None, str | None]:
        now = self.clock()
        limit = self.settings.reload_seconds
        if max_age is not None:
            limit = min(max_age, limit)
        with self._lock:
            if now - self._checked_at >= limit:
                try:
                    self._package = (endpoint_package_local(self.settings) if self.settings.local
                                     else endpoint_package_aws(self.settings))
                    self._error = None
                except Exception as err:    # noqa: BLE001 - unreachable or refused: reported, never a 500
                    self._error = f"{type(err).__name__}: {str(err)[:200]}"
                self._checked_at = now
            return self._package, self._error

    def pair(self, table_package: str | None, table_digest: str | None = None,
             max_age: float | None = None) -> Pair:
        package, error = self.endpoint_package(max_age)
        return Pair(table_package or None, package, error, table_digest or None)
