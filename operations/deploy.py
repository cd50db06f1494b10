"""The deployer (deployer/: one release sequence) as the commands and the Studio run it in-process:
over the local stand-ins of a work folder, or against the account.

`local_deployer` is what `myflix registry approve`, `myflix run` and the Studio hand the registry's
event to (through operations/approval.py); `aws_deployer` is what `myflix deploy ...` uses without
`--local`: region and role from the settings, endpoint, group and table names from the config file
that `myflix config from-stack` wrote. `run` turns the deployer's refusals into UserErrors.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from deployer.backends import LocalBackend, SageMakerBackend
from deployer.deployer import Deployer
from deployer.package import build_zip, code_key
from deployer.release import DeployConfig, DeployError
from local_aws.constants import LOCAL_REGION
from operations import aws
from operations import settings as settings_mod
from operations.errors import UserError
from steps import schema

# Outcomes that count as a release that went ahead (the deployer has said what it did either way).
GOOD_OUTCOMES = ("promoted", "rolled-back", "staged", "ignored")


def local_deployer(workdir: Path, auto_promote: bool = True, log: Callable[[str], None] = print) -> Deployer:
    """The deployer over the local stand-ins (what `myflix registry approve` and `myflix run` use)."""
    config = DeployConfig(prod_endpoint=schema.ENDPOINT_NAME, staging_endpoint=schema.STAGING_ENDPOINT_NAME,
                          group=schema.MODEL_PACKAGE_GROUP, database=schema.GLUE_DATABASE,
                          table=schema.GLUE_TABLE, auto_promote=auto_promote, region=LOCAL_REGION,
                          manifest_wait_seconds=0)    # a local approval comes after Publish, or not at all
    return Deployer(LocalBackend(config, workdir), config, log=log)


def aws_deployer(resolved: settings_mod.Settings, endpoint: str | None, timeout: float,
                 log: Callable[[str], None] = print) -> Deployer:
    """The deployer against the account: the prod endpoint (staging is <prod>-staging), group and
    table from the config file unless given; waits at most `timeout` seconds for an endpoint."""
    resolved.require("region", "role")
    saved = settings_mod.load_config()
    prod = endpoint or saved.get("endpoint_name") or schema.ENDPOINT_NAME
    config = DeployConfig(prod_endpoint=prod, staging_endpoint=prod + "-staging",
                          group=saved.get("model_package_group") or schema.MODEL_PACKAGE_GROUP,
                          role_arn=resolved.role, database=saved.get("glue_database") or schema.GLUE_DATABASE,
                          table=saved.get("glue_table") or schema.GLUE_TABLE, region=resolved.region)
    return Deployer(SageMakerBackend(config, aws.session(resolved.region)), config, log=log,
                    deadline=time.monotonic() + timeout)


def run(make: Callable[[], Deployer], action: Callable[[Deployer], Any], what: str, local: bool) -> Any:
    """`action(make())`, with the deployer's refusals (and, against AWS, AWS errors) as UserErrors."""
    try:
        if local:
            return action(make())
        with aws.user_errors(what):
            return action(make())
    except DeployError as err:
        raise UserError(str(err)) from None


def went_ahead(result: dict[str, Any]) -> bool:
    """Whether a release the deployer was asked for went ahead (the commands' exit code)."""
    return result.get("outcome") in GOOD_OUTCOMES


def upload_package(resolved: settings_mod.Settings) -> tuple[str, int]:
    """Build the deployer Lambda's zip and upload it under code/deployer/<sha256>.zip: (key, size)."""
    resolved.require("region", "bucket")
    body = build_zip()
    key = code_key(body)
    with aws.user_errors(f"uploading the deployer's code to s3://{resolved.bucket}/{key}"):
        aws.client(resolved.region, "s3").put_object(Bucket=resolved.bucket, Key=key, Body=body,
                                                      ContentType="application/zip")
    return key, len(body)
