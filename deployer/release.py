"""The pure rules of a release: settings, endpoint tags, the event, the smoke test's verdict, rollback targets.

No AWS and no files here: every function takes plain dicts (DescribeModelPackage, the endpoint's
tags, the release manifest Publish wrote) and returns plain values, so the Lambda, the command
line and the tests share them as they are. The names repeat steps/schema.py's on purpose (the
Lambda is deployed without `steps`); tests/test_deployer.py checks that they agree.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

PROD_ENDPOINT = "myflix-movie-clusters"
STAGING_SUFFIX = "-staging"
MODEL_PACKAGE_GROUP = "myflix-movie-clusters"
GLUE_DATABASE = "myflix"
GLUE_TABLE = "movie_clusters"
EVENT_DETAIL_TYPE = "SageMaker Model Package State Change"
# Publish writes this beside the table's parquet files; the leading underscore hides it from
# Athena/Hive readers, and the API reads *.parquet only.
RELEASE_MANIFEST = "_myflix_release.json"
TABLE_URI_PROPERTY = "myflix_table_uri"      # the Register step's CustomerMetadataProperties key

# Endpoint tags: the record of what each endpoint serves and how its smoke test went.
TAG_PACKAGE = "myflix:model-package-arn"
TAG_DEPLOYED_AT = "myflix:deployed-at"
TAG_SMOKE = "myflix:smoke"                   # passed | failed | not-run
TAG_SMOKE_DETAIL = "myflix:smoke-detail"
TAG_PREVIOUS = "myflix:previous-package-arn"
TAG_VALUE_MAX = 256
PACKAGE_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]*):(\d{12}):model-package/([^/]+)/(\d+)$")


class DeployError(Exception):
    """A release that cannot go ahead; the message says why and what to do."""


class ManifestMissing(DeployError):
    """The package's release manifest is not there (yet): Publish runs after Register, so an
    approval at registration, or during Publish, comes before it. Worth retrying, unlike the rest."""


@dataclass(frozen=True)
class DeployConfig:
    """Where releases go and how big the endpoints are (the Lambda's environment, or local defaults)."""

    prod_endpoint: str = PROD_ENDPOINT
    staging_endpoint: str = PROD_ENDPOINT + STAGING_SUFFIX
    group: str = MODEL_PACKAGE_GROUP
    role_arn: str = ""                      # the role the endpoints' models run as (AWS only)
    database: str = GLUE_DATABASE
    table: str = GLUE_TABLE
    auto_promote: bool = False
    instance_type: str = ""                 # empty: serverless
    serverless_memory_mb: int = 2048
    serverless_max_concurrency: int = 5
    smoke_latency_ms: float = 2000.0        # every smoke request after the warm-up must beat it
    smoke_max_movies: int = 50
    # An approval event may come before Publish has written the manifest: wait this long for it.
    manifest_wait_seconds: float = 300.0
    manifest_poll_seconds: float = 20.0
    region: str | None = None
    extra: dict = field(default_factory=dict)

    def variant(self, model_name: str) -> dict[str, Any]:
        """The endpoint config's one variant: on an instance type when given, else serverless."""
        variant: dict[str, Any] = {"VariantName": "AllTraffic", "ModelName": model_name}
        if self.instance_type:
            variant.update(InstanceType=self.instance_type, InitialInstanceCount=1, InitialVariantWeight=1.0)
        else:
            variant["ServerlessConfig"] = {"MemorySizeInMB": int(self.serverless_memory_mb),
                                           "MaxConcurrency": int(self.serverless_max_concurrency)}
        return variant


def config_from_env(env: Mapping[str, str] | None = None) -> DeployConfig:
    """The Lambda's settings (cfn/myflix-infra.yaml sets these variables); a clear error for bad values."""
    env = os.environ if env is None else env
    prod = env.get("MYFLIX_ENDPOINT_NAME") or PROD_ENDPOINT

    def number(name: str, default: float, kind=int):
        raw = env.get(name)
        if raw in (None, ""):
            return default
        try:
            return kind(raw)
        except ValueError:
            raise DeployError(f"environment variable {name}={raw!r} is not a number") from None
    config = DeployConfig(
        prod_endpoint=prod, staging_endpoint=env.get("MYFLIX_STAGING_ENDPOINT_NAME") or prod + STAGING_SUFFIX,
        group=env.get("MYFLIX_MODEL_PACKAGE_GROUP") or MODEL_PACKAGE_GROUP,
        role_arn=env.get("MYFLIX_ROLE_ARN", ""), database=env.get("MYFLIX_GLUE_DATABASE") or GLUE_DATABASE,
        table=env.get("MYFLIX_GLUE_TABLE") or GLUE_TABLE,
        auto_promote=(env.get("MYFLIX_AUTO_PROMOTE", "false").strip().lower() in ("1", "true", "yes")),
        instance_type=env.get("MYFLIX_INSTANCE_TYPE", ""),
        serverless_memory_mb=number("MYFLIX_SERVERLESS_MEMORY_MB", 2048),
        serverless_max_concurrency=number("MYFLIX_SERVERLESS_MAX_CONCURRENCY", 5),
        smoke_latency_ms=number("MYFLIX_SMOKE_LATENCY_MS", 2000.0, float),
        manifest_wait_seconds=number("MYFLIX_MANIFEST_WAIT_SECONDS", 300.0, float),
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None)
    check_config(config)
    return config


def check_config(config: DeployConfig) -> None:
    if config.staging_endpoint == config.prod_endpoint:
        raise DeployError(f"the staging and prod endpoints are both {config.prod_endpoint}: name them apart")
    if not config.instance_type:
        if config.serverless_memory_mb not in range(1024, 6145, 1024):
            raise DeployError(f"serverless memory {config.serverless_memory_mb} MB: serverless endpoints take "
                              "1024, 2048, 3072, 4096, 5120 or 6144")
        if not 1 <= config.serverless_max_concurrency <= 200:
            raise DeployError(f"serverless max concurrency {config.serverless_max_concurrency}: use 1..200")
    if config.smoke_latency_ms <= 0:
        raise DeployError(f"smoke latency bound {config.smoke_latency_ms} ms: give a positive number")


# --- packages ---------------------------------------------------------------------------------------
def package_version(arn: str) -> int:
    match = PACKAGE_ARN.match(arn or "")
    if not match:
        raise DeployError(f"{arn!r} is not a versioned model package ARN "
                          "(arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version>)")
    return int(match.group(4))


def check_deployable(package: Mapping[str, Any]) -> None:
    """Refuse a package that is not Approved, not completely registered, or names no model data."""
    arn = package.get("ModelPackageArn")
    status = package.get("ModelApprovalStatus")
    if status != "Approved":
        raise DeployError(f"model package {arn} is {status or 'without an approval status'}, not Approved: "
                          "approve it (`myflix pipeline approve`, or `myflix registry approve` locally)")
    if package.get("ModelPackageStatus", "Completed") != "Completed":
        raise DeployError(f"model package {arn} is {package.get('ModelPackageStatus')}, not Completed: "
                          "wait for the registration to finish")
    containers = (package.get("InferenceSpecification") or {}).get("Containers") or []
    if not containers or not containers[0].get("ModelDataUrl"):
        raise DeployError(f"model package {arn} names no model data (InferenceSpecification.Containers[0]"
                          ".ModelDataUrl): register it again")


def release_uri(package: Mapping[str, Any]) -> str:
    """Where Publish left this package's table and its release manifest (the Register step records it)."""
    table_uri = (package.get("CustomerMetadataProperties") or {}).get(TABLE_URI_PROPERTY)
    if not table_uri or not str(table_uri).startswith("s3://"):
        raise DeployError(f"model package {package.get('ModelPackageArn')} has no {TABLE_URI_PROPERTY} in its "
                          "CustomerMetadataProperties: it was registered by an older pipeline; run the "
                          "pipeline again and approve the new package")
    return str(table_uri).rstrip("/") + "/" + RELEASE_MANIFEST


def check_manifest(manifest: Mapping[str, Any], package: Mapping[str, Any], uri: str) -> None:
    arn = package.get("ModelPackageArn")
    if manifest.get("ModelPackageArn") != arn:
        raise DeployError(f"{uri} was published for {manifest.get('ModelPackageArn')!r}, not {arn}: the table "
                          "and the model come from different executions")
    table_input = manifest.get("TableInput") or {}
    if not (table_input.get("StorageDescriptor") or {}).get("Location") or not table_input.get("Name"):
        raise DeployError(f"{uri} holds no TableInput with a Name and a StorageDescriptor.Location: "
                          "run the pipeline again")
    if not manifest.get("Smoke"):
        raise DeployError(f"{uri} lists no smoke-test movies: run the pipeline again")


# --- the event -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PackageEvent:
    arn: str
    group: str
    status: str


def parse_event(event: Any) -> PackageEvent:
    """The fields the deployer acts on, from a "SageMaker Model Package State Change" event."""
    if not isinstance(event, Mapping) or event.get("detail-type") != EVENT_DETAIL_TYPE:
        raise DeployError(f"not a {EVENT_DETAIL_TYPE!r} event (detail-type "
                          f"{event.get('detail-type') if isinstance(event, Mapping) else type(event).__name__!r})")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise DeployError("the event has no detail object")
    arn = detail.get("ModelPackageArn")
    if not isinstance(arn, str):
        resources = [r for r in event.get("resources") or [] if isinstance(r, str) and ":model-package/" in r]
        arn = resources[0] if resources else None
    if not arn:
        raise DeployError("the event names no model package (detail.ModelPackageArn)")
    package_version(arn)
    return PackageEvent(arn=arn, group=str(detail.get("ModelPackageGroupName") or PACKAGE_ARN.match(arn).group(3)),
                        status=str(detail.get("ModelApprovalStatus") or ""))


# copy of local_aws.constants.LOCAL_REGION (the local registry's events): the deployer's zip ships
# deployer/ only; tests/test_local_aws.py checks that they agree.
LOCAL_REGION = "us-east-1"


def event_for(package: Mapping[str, Any], region: str = LOCAL_REGION) -> dict[str, Any]:
    """A state-change event for this package, in EventBridge's shape (what `myflix registry approve` sends)."""
    arn = package["ModelPackageArn"]
    account = PACKAGE_ARN.match(arn).group(2)
    return {"version": "0", "detail-type": EVENT_DETAIL_TYPE, "source": "aws.sagemaker", "account": account,
            "region": region, "resources": [arn],
            "detail": {key: package.get(key) for key in (
                "ModelPackageGroupName", "ModelPackageVersion", "ModelPackageArn", "ModelPackageStatus",
                "ModelApprovalStatus", "CreationTime", "LastModifiedTime") if key in package}}


# --- tags --------------------------------------------------------------------------------------------
def tag_value(text: Any) -> str:
    """A value SageMaker accepts as a tag: its allowed characters only, at most 256 of them."""
    cleaned = re.sub(r"[^\w .:/=+\-@]", " ", str(text), flags=re.ASCII)
    return re.sub(r"\s+", " ", cleaned).strip()[:TAG_VALUE_MAX]


def release_tags(package_arn: str, deployed_at: str, smoke: "SmokeResult | None",
                 previous: str | None = None) -> dict[str, str]:
    tags = {TAG_PACKAGE: package_arn, TAG_DEPLOYED_AT: deployed_at,
            TAG_SMOKE: smoke.verdict if smoke else "not-run",
            TAG_SMOKE_DETAIL: tag_value(smoke.detail if smoke else "no smoke test ran")}
    if previous and previous != package_arn:
        tags[TAG_PREVIOUS] = previous
    return {k: tag_value(v) if k != TAG_PACKAGE and k != TAG_PREVIOUS else v for k, v in tags.items()}


# --- the smoke test ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SmokeResult:
    passed: bool
    detail: str
    checked: int = 0
    wrong: tuple = ()
    slowest_ms: float = 0.0

    @property
    def verdict(self) -> str:
        return "passed" if self.passed else "failed"


def judge_smoke(cases: list[Mapping[str, Any]], answers: list[Any], latencies_ms: list[float],
                bound_ms: float) -> SmokeResult:
    """Every movie must land in the cluster its table row says, each answer within the latency bound."""
    if not cases:
        return SmokeResult(False, "no smoke-test movies to check")
    wrong = []
    for case, answer in zip(cases, answers):
        try:
            got = int(answer["predictions"][0]["cluster"])
        except (KeyError, IndexError, TypeError, ValueError):
            wrong.append((case.get("tconst"), case.get("cluster"), f"bad answer {str(answer)[:60]}"))
            continue
        if got != int(case["cluster"]):
            wrong.append((case.get("tconst"), int(case["cluster"]), got))
    slowest = max(latencies_ms) if latencies_ms else 0.0
    slow = [ms for ms in latencies_ms if ms > bound_ms]
    if wrong:
        shown = " - ".join(f"{t} table {want} endpoint {got}" for t, want, got in wrong[:3])
        return SmokeResult(False, f"{len(wrong)}/{len(cases)} movies off their table cluster: {shown}",
                           len(cases), tuple(wrong), slowest)
    if slow:
        return SmokeResult(False, f"{len(slow)}/{len(cases)} answers slower than {bound_ms:.0f} ms - "
                           f"slowest {slowest:.0f} ms", len(cases), (), slowest)
    # worded in the characters a SageMaker tag allows: it is recorded on the endpoint as it is
    return SmokeResult(True, f"{len(cases)}/{len(cases)} movies in their table cluster - slowest "
                       f"{slowest:.0f} ms - bound {bound_ms:.0f} ms", len(cases), (), slowest)


# --- rollback ------------------------------------------------------------------------------------------
def rollback_target(live_arn: str | None, previous_arn: str | None, packages: list[Mapping[str, Any]],
                    to_version: int | None = None) -> Mapping[str, Any]:
    """The package a rollback puts on prod: VERSION when given, else what prod served before (when
    still Approved), else the newest Approved package older than the live one. `packages` are the
    group's DescribeModelPackage-like summaries."""
    approved = [p for p in packages if p.get("ModelApprovalStatus") == "Approved"]
    if to_version is not None:
        found = [p for p in packages if int(p.get("ModelPackageVersion") or package_version(p["ModelPackageArn"]))
                 == int(to_version)]
        if not found:
            raise DeployError(f"there is no version {to_version} in the group")
        if found[0].get("ModelApprovalStatus") != "Approved":
            raise DeployError(f"version {to_version} is {found[0].get('ModelApprovalStatus')}, not Approved: "
                              "approve it first, or pick another version")
        return found[0]
    if previous_arn and previous_arn != live_arn:
        for p in approved:
            if p["ModelPackageArn"] == previous_arn:
                return p
    live_version = package_version(live_arn) if live_arn else None
    older = [p for p in approved if p["ModelPackageArn"] != live_arn
             and (live_version is None or package_version(p["ModelPackageArn"]) < live_version)]
    if not older:
        raise DeployError(f"no earlier Approved package to roll back to (prod serves {live_arn or 'nothing'}); "
                          "approve one, or give --to VERSION")
    return max(older, key=lambda p: package_version(p["ModelPackageArn"]))
