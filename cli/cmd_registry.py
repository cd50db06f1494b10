"""`myflix registry list|approve|reject`: the local model registry (`<workdir>/registry/`), and what follows.

The local run registers each model in `<workdir>/registry/<group>/<version>.json` (the shape of
DescribeModelPackage). `list` shows the versions; `approve` and `reject` (or `approve --reject`)
set the approval status, as UpdateModelPackage does on AWS, and then hand the registry's
"Model Package State Change" event to the very deployer the AWS Lambda runs (deployer/), through
operations/approval.py (the one approve -> event -> deployer entry point):
Approved -> the staging endpoint, its smoke test through the local endpoint server, then prod
and the table (unless --no-promote); Rejected while live on prod -> rollback.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from local_aws import registry
from operations import approval
from operations.deploy import went_ahead
from operations.errors import UserError
from steps import schema


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser("registry", help="the local model registry: list, approve",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="registry_command", metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workdir", type=Path, default=Path(".myflix"),
                        help="the local work folder (default .myflix)")
    common.add_argument("--group", default=schema.MODEL_PACKAGE_GROUP,
                        help=f"model package group (default {schema.MODEL_PACKAGE_GROUP})")
    listing = sub.add_parser("list", parents=[common], help="model package versions, newest first")
    listing.add_argument("--all-groups", action="store_true", help="every group, not only --group")
    listing.set_defaults(func=cmd_list)
    approve = sub.add_parser("approve", parents=[common],
                             help="approve (or reject) a version: VERSION, GROUP/VERSION or the ARN")
    approve.add_argument("package", nargs="?", default=None,
                         help="which version (default: the newest)")
    approve.add_argument("--reject", action="store_true", help="set Rejected instead of Approved")
    approve.add_argument("--description", default=None, help="ApprovalDescription to record")
    approve.add_argument("--no-promote", action="store_true",
                         help="stop at the staging endpoint and its smoke test (then: myflix deploy promote --local)")
    approve.set_defaults(func=cmd_approve)
    reject = sub.add_parser("reject", parents=[common],
                            help="reject a version (rolls prod back when it is the live one)")
    reject.add_argument("package", nargs="?", default=None, help="which version (default: the newest)")
    reject.add_argument("--description", default=None, help="ApprovalDescription to record")
    reject.set_defaults(func=cmd_approve, reject=True, no_promote=False)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _metric_summary(package: dict) -> str:
    return (package.get("CustomerMetadataProperties") or {}).get("myflix_execution_id", "")


def cmd_list(args: argparse.Namespace) -> int:
    problems: list[dict] = []
    packages = registry.list_packages(args.workdir, None if args.all_groups else args.group,
                                      problems=problems)
    for problem in problems:
        print(f"registry: {problem['error']}", file=sys.stderr)
    if not packages:
        print(f"no model packages in {registry.registry_dir(args.workdir)}"
              f"{'' if args.all_groups else ' for group ' + args.group}: run `myflix run` first")
        return 0
    print(f"{'GROUP':<24} {'VER':>4}  {'STATUS':<22} {'CREATED':<20} {'EXECUTION':<20} MODEL")
    for p in packages:
        model = ((p.get("InferenceSpecification") or {}).get("Containers") or [{}])[0].get("ModelDataUrl", "")
        print(f"{p['ModelPackageGroupName']:<24} {p['ModelPackageVersion']:>4}  "
              f"{p['ModelApprovalStatus']:<22} {str(p.get('CreationTime', ''))[:19]:<20} "
              f"{_metric_summary(p):<20} {model}")
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    status = "Rejected" if args.reject else "Approved"
    try:
        _package, outcome = approval.decide(args.workdir, args.package, status, group=args.group,
                                            description=args.description, promote=not args.no_promote,
                                            announce=True)
    except registry.RegistryError as err:
        raise UserError(str(err)) from None
    return 0 if went_ahead(outcome) else 1

