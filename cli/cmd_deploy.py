"""`myflix deploy status|promote|rollback|package`: the releases the deployer made, and the operator's acts.

The same `deployer.Deployer` the Lambda runs, in-process (operations/deploy.py): against the account
(region, role and bucket from the settings, endpoint names from the config file that `myflix config
from-stack` wrote), or with `--local` against the local stand-ins under `--workdir`. `status` shows which
package serves each endpoint, since when, and its smoke test; `promote` puts staging's package on
prod (then points the table at its data); `rollback [--to VERSION]` puts an earlier approved
package back. `package` builds the deployer Lambda's zip, uploads it under
`code/deployer/<sha256>.zip` and prints that key (cfn/myflix-infra.yaml's DeployerCodeKey).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from deployer.deployer import Deployer, render_status
from operations import deploy
from operations import settings as settings_mod
from steps import schema


def _run(args: argparse.Namespace, action: Callable[[Deployer], int]) -> int:
    if args.local:
        def make() -> Deployer:
            return deploy.local_deployer(Path(args.workdir), auto_promote=False)
    else:
        def make() -> Deployer:
            return deploy.aws_deployer(settings_mod.from_args(args), args.endpoint, args.timeout)
    return deploy.run(make, action, f"myflix deploy {args.deploy_command}", local=args.local)


def cmd_status(args: argparse.Namespace) -> int:
    def show(deployer: Deployer) -> int:
        status = deployer.status()
        print(json.dumps(status, indent=2) if args.json else render_status(status))
        return 0
    return _run(args, show)


def _outcome(result: dict[str, Any]) -> int:
    # the deployer has printed what it did; the exit code says whether the release went ahead
    return 0 if deploy.went_ahead(result) else 1


def cmd_promote(args: argparse.Namespace) -> int:
    return _run(args, lambda deployer: _outcome(deployer.promote(force=args.force)))


def cmd_stage(args: argparse.Namespace) -> int:
    return _run(args, lambda deployer: _outcome(deployer.stage_version(args.version)))


def cmd_rollback(args: argparse.Namespace) -> int:
    return _run(args, lambda deployer: _outcome(deployer.rollback(to_version=args.to)))


def cmd_package(args: argparse.Namespace) -> int:
    resolved = settings_mod.from_args(args, "region", "bucket")
    key, size = deploy.upload_package(resolved)
    print(f"uploaded the deployer Lambda's code ({size} bytes) to s3://{resolved.bucket}/{key}",
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
