"""`myflix deploy status|promote|rollback|package`: the releases the deployer made, and the operator's acts.

The same `deployer.Deployer` the Lambda runs, in-process: against the account (region, role and
bucket from the settings, endpoint names from the config file that `myflix config from-stack`
wrote), or with `--local` against the local stand-ins under `--workdir`. `status` shows which
package serves each endpoint, since when, and its smoke test; `promote` puts staging's package on
prod (then points the table at its data); `rollback [--to VERSION]` puts an earlier approved
package back. `package` builds the deployer Lambda's zip, uploads it under
`code/deployer/<sha256>.zip` and prints that key (cfn/myflix-infra.yaml's DeployerCodeKey).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from local_aws.constants import LOCAL_REGION
from steps import schema


def local_deployer(workdir: Path, auto_promote: bool = True, log=print):
    """The deployer over the local stand-ins (what `myflix registry approve` and `myflix run` use)."""
    from deployer.backends import LocalBackend
    from deployer.deployer import Deployer
    from deployer.release import DeployConfig
    config = DeployConfig(prod_endpoint=schema.ENDPOINT_NAME, staging_endpoint=schema.STAGING_ENDPOINT_NAME,
                          group=schema.MODEL_PACKAGE_GROUP, database=schema.GLUE_DATABASE,
                          table=schema.GLUE_TABLE, auto_promote=auto_promote, region=LOCAL_REGION,
                          manifest_wait_seconds=0)    # a local approval comes after Publish, or not at all
    return Deployer(LocalBackend(config, workdir), config, log=log)


def aws_deployer(args: argparse.Namespace, log=print):
    from operations import settings as settings_mod
    from operations.aws import session

    from deployer.backends import SageMakerBackend
    from deployer.deployer import Deployer
    from deployer.release import DeployConfig
    resolved = settings_mod.from_args(args)
    resolved.require("region", "role")
    saved = settings_mod.load_config()
    prod = args.endpoint or saved.get("endpoint_name") or schema.ENDPOINT_NAME
    config = DeployConfig(prod_endpoint=prod, staging_endpoint=prod + "-staging",
                          group=saved.get("model_package_group") or schema.MODEL_PACKAGE_GROUP,
                          role_arn=resolved.role, database=saved.get("glue_database") or schema.GLUE_DATABASE,
                          table=saved.get("glue_table") or schema.GLUE_TABLE, region=resolved.region)
    return Deployer(SageMakerBackend(config, session(resolved.region)), config, log=log,
                    deadline=time.monotonic() + args.timeout)


def _deployer(args: argparse.Namespace):
    return local_deployer(Path(args.workdir), auto_promote=False) if args.local else aws_deployer(args)


def _run(args: argparse.Namespace, action) -> int:
    from cli.main import UserError

    from deployer.release import DeployError
    try:
        if args.local:
            return action(_deployer(args))
        from operations.aws import user_errors
        with user_errors(f"myflix deploy {args.deploy_command}"):
            return action(_deployer(args))
    except DeployError as err:
        raise UserError(str(err)) from None


def cmd_status(args: argparse.Namespace) -> int:
    from deployer.deployer import render_status

    def show(deployer) -> int:
        status = deployer.status()
        print(json.dumps(status, indent=2) if args.json else render_status(status))
        return 0
    return _run(args, show)


def _outcome(result: dict[str, Any]) -> int:
    # the deployer has printed what it did; the exit code says whether the release went ahead
    return 0 if result["outcome"] in ("promoted", "rolled-back", "staged", "ignored") else 1


def cmd_promote(args: argparse.Namespace) -> int:
    return _run(args, lambda deployer: _outcome(deployer.promote(force=args.force)))


def cmd_stage(args: argparse.Namespace) -> int:
    return _run(args, lambda deployer: _outcome(deployer.stage_version(args.version)))


def cmd_rollback(args: argparse.Namespace) -> int:
    return _run(args, lambda deployer: _outcome(deployer.rollback(to_version=args.to)))


def cmd_package(args: argparse.Namespace) -> int:
    import sys

    from operations import settings as settings_mod
    from operations.aws import client, user_errors

    from deployer.package import build_zip, code_key
    resolved = settings_mod.from_args(args)
    resolved.require("region", "bucket")
    body = build_zip()
    key = code_key(body)
    with user_errors(f"uploading the deployer's code to s3://{resolved.bucket}/{key}"):
        client(resolved.region, "s3").put_object(Bucket=resolved.bucket, Key=key, Body=body,
                                                  ContentType="application/zip")
    print(f"uploaded the deployer Lambda's code ({len(body)} bytes) to s3://{resolved.bucket}/{key}",
          file=sys.stderr)
    print(key)
    return 0


def add_commands(subparsers: Any) -> None:
    top = subparsers.add_parser("deploy", help="releases: status, promote, rollback (and the deployer's code)",
                                description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="deploy_command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--local", action="store_true", help="the local stand-ins under --workdir, not AWS")
    common.add_argument("--workdir", default=".myflix", help="local work folder (default .myflix)")
    account = common.add_argument_group("account (else environment variables, else the config file)")
    account.add_argument("--region", help="AWS region ($MYFLIX_REGION, $AWS_REGION, $AWS_DEFAULT_REGION)")
    account.add_argument("--role", help="the SageMaker execution role the endpoints' models run as")
    account.add_argument("--bucket", help="S3 bucket ($MYFLIX_BUCKET)")
    account.add_argument("--endpoint", help=f"the prod endpoint (default from the config file, else "
                                            f"{schema.ENDPOINT_NAME}); staging is <endpoint>-staging")
    account.add_argument("--timeout", type=float, default=30 * 60.0,
                         help="seconds to wait for an endpoint to be InService (default 1800)")
    p = sub.add_parser("status", parents=[common], help="which package serves each endpoint, since when, smoke test")
    p.add_argument("--json", action="store_true", help="the status as JSON")
    p.set_defaults(func=cmd_status)
    p = sub.add_parser("promote", parents=[common], help="put staging's package on prod, then the table")
    p.add_argument("--force", action="store_true", help="even when its smoke test did not pass")
    p.set_defaults(func=cmd_promote)
    p = sub.add_parser("stage", parents=[common], help="stage an approved package again (staging + smoke "
                       "test), e.g. when its approval came before Publish had written its table")
    p.add_argument("--version", type=int, metavar="N", help="this version (default: the newest Approved)")
    p.set_defaults(func=cmd_stage)
    p = sub.add_parser("rollback", parents=[common], help="put an earlier approved package back on prod")
    p.add_argument("--to", type=int, metavar="VERSION", help="this version (default: what prod served before)")
    p.set_defaults(func=cmd_rollback)
    p = sub.add_parser("package", parents=[common], help="upload the deployer Lambda's code; print its S3 key")
    p.set_defaults(func=cmd_package)
    top.set_defaults(func=lambda args: top.print_help() or 2)
