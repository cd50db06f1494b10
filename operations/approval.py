"""Approving or rejecting a registered model, and the release that follows: ONE entry point for
`myflix pipeline approve` (the account's registry), `myflix registry approve|reject`, `myflix run`
(its release after a run) and the Studio's registry page (the local registry).

On AWS, UpdateModelPackage is all we do: the registry's "Model Package State Change" event starts
the deployer Lambda. Locally, `decide` sets the status in `<workdir>/registry/` and hands the same
event to the same deployer in-process (`release`): Approved -> staging, smoke test, then prod and
the table (unless promote=False); Rejected while live on prod -> rollback.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from deployer.release import DeployError, event_for
from local_aws import layout, registry
from operations import aws
from operations import settings as settings_mod
from operations.deploy import local_deployer
from operations.errors import UserError


class ReleaseFailed(UserError):
    """The package's status changed, but the deployer refused or failed its release."""

    def __init__(self, package: dict, message: str):
        super().__init__(message)
        self.package = package


# --- the local registry -------------------------------------------------------------------------
def release(workdir: Path, package: dict, promote: bool = True, log: Callable[[str], None] = print) -> dict:
    """What the registry's decision sets off: the same event, the same deployer as on AWS.
    Returns the deployer's result ({"outcome", "message", ...}); ReleaseFailed when it refused."""
    try:
        return local_deployer(workdir, auto_promote=promote, log=log).handle_event(event_for(package))
    except DeployError as err:
        raise ReleaseFailed(package, str(err)) from None


def decide(workdir: Path, ref: str | None, status: str, *, group: str | None = None,
           description: str | None = None, actor: str | None = None, promote: bool = True,
           log: Callable[[str], None] = print, announce: bool = False) -> tuple[dict, dict]:
    """Set a local package's approval (`ref`: VERSION, GROUP/VERSION or the ARN; None: the group's
    newest), then release it: (the package, the deployer's result). registry.RegistryError when
    there is no such package; ReleaseFailed when the release did not go ahead. `announce` logs the
    new status before the deployer's lines (the command line does; the Studio shows it itself)."""
    if ref is None:
        packages = registry.list_packages(workdir, group)
        if not packages:
            raise UserError(f"no model packages in group {group} under "
                            f"{registry.registry_dir(workdir)}: run `myflix run` first")
        ref = packages[0]["ModelPackageArn"]
    kwargs: dict[str, Any] = {"description": description}
    if group is not None:
        kwargs["group"] = group
    if actor is not None:
        kwargs["actor"] = actor
    package = registry.set_approval(workdir, ref, status, **kwargs)
    if announce:
        log(f"{package['ModelPackageArn']}: {package['ModelApprovalStatus']}")
    return package, release(workdir, package, promote=promote, log=log)


# --- the account's registry ---------------------------------------------------------------------
def latest_package(client: Any, group: str, status: str | None = None) -> dict:
    request: dict[str, Any] = {"ModelPackageGroupName": group, "SortBy": "CreationTime",
                               "SortOrder": "Descending", "MaxResults": 1}
    if status:
        request["ModelApprovalStatus"] = status
    found = client.list_model_packages(**request).get("ModelPackageSummaryList", [])
    if not found:
        raise UserError(f"no model package in group {group}: run the pipeline first "
                        f"(its Register step adds one)")
    return found[0]


def approval_description(status: str, reason: str | None) -> str:
    """ApprovalDescription: the reviewer's reason, who gave it and when (SageMaker also records the
    caller's identity as LastModifiedBy; Studio lists both in the version's activity)."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{reason or f'{status} with myflix pipeline approve'} ({registry.local_actor()}, {stamp})"[:1024]


def quality_metrics(s3: Any, package: dict) -> tuple[str | None, dict[str, Any]]:
    """The package's model quality statistics (Evaluate's evaluation.json, registered as
    ModelMetrics.ModelQuality.Statistics): (its URI, {metric: value}); ({}, when there are none).

    Studio's Model quality tab charts only Model Monitor's classification and regression
    statistics, so clustering metrics are read here (and in MLflow, and the local Studio page)."""
    quality = (package.get("ModelMetrics") or {}).get("ModelQuality") or {}
    uri = (quality.get("Statistics") or {}).get("S3Uri")
    if not uri or not uri.startswith("s3://"):
        return None, {}
    bucket, key = layout.split_s3_uri(uri)
    evaluation = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    metrics = evaluation.get("clustering_metrics") if isinstance(evaluation, dict) else None
    return uri, {name: (item.get("value") if isinstance(item, dict) else item)
                 for name, item in (metrics or {}).items()}


def approve_cloud(resolved: settings_mod.Settings, group: str, package_arn: str | None, status: str,
                  reason: str | None, show: bool = False,
                  log: Callable[[str], None] = print) -> tuple[str, str | None]:
    """UpdateModelPackage on the account's package (default: the group's latest), after logging the
    model quality the reviewer decides on. Returns (ARN, status before); with `show`, changes nothing."""
    client = aws.client(resolved.region, "sagemaker")
    with aws.user_errors(f"approving in model package group {group}"):
        arn = package_arn or latest_package(client, group)["ModelPackageArn"]
        package = client.describe_model_package(ModelPackageName=arn)
        before = package.get("ModelApprovalStatus")
        # What the reviewer decides on: Evaluate's metrics, read from the package itself.
        log(metrics_line(*quality_metrics(aws.client(resolved.region, "s3"), package)))
        if not show:
            client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status,
                                        ApprovalDescription=approval_description(status, reason))
    return arn, before


def metrics_line(uri: str | None, metrics: dict[str, Any]) -> str:
    """The model quality metrics in one line, or that there are none."""
    if not metrics:
        return "no model quality metrics registered with this package"
    shown = ", ".join(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
                      for name, value in metrics.items())
    return f"model quality ({uri}): {shown}"
