"""`myflix registry list|approve`: the local model registry (`<workdir>/registry/`).

The local run registers each model in `<workdir>/registry/<group>/<version>.json` (the shape of
DescribeModelPackage). `list` shows the versions; `approve` (or `approve --reject`) sets the
approval status, as UpdateModelPackage does on AWS.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

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
    approve.set_defaults(func=cmd_approve)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _metric_summary(package: dict) -> str:
    return (package.get("CustomerMetadataProperties") or {}).get("myflix_execution_id", "")


def cmd_list(args: argparse.Namespace) -> int:
    from pipeline.local import registry
    packages = registry.list_packages(args.workdir, None if args.all_groups else args.group)
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
    from pipeline.cli import UserError
    from pipeline.local import registry
    ref = args.package
    if ref is None:
        packages = registry.list_packages(args.workdir, args.group)
        if not packages:
            raise UserError(f"no model packages in group {args.group} under "
                            f"{registry.registry_dir(args.workdir)}: run `myflix run` first")
        ref = packages[0]["ModelPackageArn"]
    status = "Rejected" if args.reject else "Approved"
    try:
        package = registry.set_approval(args.workdir, ref, status, group=args.group,
                                        description=args.description)
    except registry.RegistryError as err:
        raise UserError(str(err)) from None
    print(f"{package['ModelPackageArn']}: {package['ModelApprovalStatus']}")
    endpoint = args.workdir / "endpoints" / f"{schema.ENDPOINT_NAME}.json"
    try:
        serving = json.loads(endpoint.read_text(encoding="utf-8")).get("ModelPackageArn")
    except (OSError, ValueError):
        serving = None
    if serving and serving != package["ModelPackageArn"]:
        # Approval changes the registry only; the pipeline's Deploy step is what moves endpoints.
        print(f"the local endpoint {schema.ENDPOINT_NAME} still serves {serving}")
    return 0
