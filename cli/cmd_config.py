"""`myflix config from-stack|show|get|template|chalice-stage|teardown`: the account side, from the cfn stack.

`from-stack NAME` reads the Outputs of the stack created from cfn/myflix-infra.yaml and saves them
into the config file, so every `myflix pipeline ...` command finds region, role and bucket without
options. `show` prints the file and what each setting resolves to, and from where; `get KEY` prints
one value (for shell scripts). `chalice-stage` writes the Chalice stage that deploys the API with the
stack's role and names. `teardown` removes what the stacks and the pipeline created, in dependency
order. What each does lives in operations/stack.py; this module parses and prints.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from operations import cfn_template, stack
from operations import settings as settings_mod
from operations.errors import UserError


def cmd_from_stack(args: argparse.Namespace) -> int:
    region = stack.region_for(args.region)
    print(f"reading the outputs of stack {args.name} in {region}", file=sys.stderr)
    values = stack.config_from_outputs(args.name, stack.describe_stack(args.name, region))
    if values["region"] != region:   # only a hand-edited template could make these differ
        raise UserError(f"stack {args.name} says its region is {values['region']}, but it was "
                        f"read from {region}: check the template's Region output")
    path = settings_mod.save_config(values)
    for key in sorted(values):
        print(f"  {key:20} {values[key]}")
    print(f"saved to {path}; `myflix pipeline ...` commands now use these (options and "
          f"MYFLIX_* variables still win)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    path = settings_mod.config_path()
    data = settings_mod.load_config()
    resolved = settings_mod.resolve()
    if args.json:
        print(json.dumps({"path": str(path), "config": data,
                          "resolved": {name: getattr(resolved, name) for name in settings_mod.SOURCES},
                          "origin": resolved.origin}, indent=2, sort_keys=True))
        return 0
    print(f"config file: {path}" + ("" if path.is_file() else " (none yet: run `myflix config from-stack NAME`)"))
    for key in sorted(data):
        print(f"  {key:20} {data[key]}")
    print("what `myflix pipeline ...` uses now (option > environment > config file > default):")
    for name in settings_mod.SOURCES:
        value = getattr(resolved, name)
        where = resolved.origin.get(name, "unset")
        print(f"  {name:20} {value if value else '-':60} ({where})")
    return 0


def cmd_chalice_stage(args: argparse.Namespace) -> int:
    config = settings_mod.load_config()
    layers = None
    target = Path(args.write) if args.write else None
    if target is not None and target.is_file():
        try:
            layers = json.loads(target.read_text(encoding="utf-8")).get("layers")
        except ValueError:
            layers = None   # write_chalice_stage reports the broken file
    stage, notes = stack.chalice_stage(config, args.cors_origin, layers, args.layer)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if target is None:
        print(json.dumps({"stages": {args.stage: stage}}, indent=2, sort_keys=True))
        return 0
    stack.write_chalice_stage(target, args.stage, stage)
    print(f"stage {args.stage} written to {target}: role {stage['iam_role_arn']}, endpoint "
          f"{stage['environment_variables']['MYFLIX_ENDPOINT_NAME']}; next: "
          f"(cd {target.parent.parent} && chalice package --stage {args.stage} <out dir>)")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    target, size = stack.write_template(args.template, args.output)
    print(f"wrote {target} ({size:,} bytes of CloudFormation's {cfn_template.INLINE_LIMIT:,}-byte inline "
          f"limit): aws cloudformation deploy --template-file {target}")
    return 0


def cmd_get(args: argparse.Namespace) -> int:
    data = settings_mod.load_config()
    if args.key not in data:
        known = ", ".join(sorted(data)) or "none yet"
        raise UserError(f"no {args.key!r} in {settings_mod.config_path()} (keys: {known}); "
                        f"run `myflix config from-stack NAME`")
    print(data[args.key])
    return 0


def cmd_teardown(args: argparse.Namespace) -> int:
    return stack.teardown(args.stack, args.region, api_stack=args.api_stack, keep_data=args.keep_data,
                          yes=args.yes)


def add_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config", help="account settings: read them from the cfn stack, show them",
        description="Account settings for `myflix pipeline ...`, saved in $MYFLIX_CONFIG "
                    "(default ~/.config/myflix/config.json).")
    sub = parser.add_subparsers(dest="config_command", metavar="SUBCOMMAND")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    from_stack = sub.add_parser(
        "from-stack", help="save the outputs of the stack made from cfn/myflix-infra.yaml",
        description="Read region, bucket, SageMaker role, API role, Glue database and model "
                    "package group from a CloudFormation stack's outputs and save them.")
    from_stack.add_argument("name", help="the stack name given to `aws cloudformation deploy`")
    from_stack.add_argument("--region", help="the stack's region (default: AWS_REGION, "
                                             "AWS_DEFAULT_REGION, the config file, your AWS profile)")
    from_stack.set_defaults(func=cmd_from_stack)

    show = sub.add_parser("show", help="print the config file and what each setting resolves to")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(func=cmd_show)

    template = sub.add_parser(
        "template", help="the infra stack's template as compact JSON (under CloudFormation's inline limit)",
        description="Writes cfn/myflix-infra.yaml as compact JSON, without comments: the same template "
                    "in about two thirds of the bytes, so `aws cloudformation deploy` can send it inline.")
    template.add_argument("--template", default=str(Path("cfn") / "myflix-infra.yaml"),
                          help="the YAML template (default cfn/myflix-infra.yaml)")
    template.add_argument("--output", default=str(Path("build") / "myflix-infra.json"),
                          help="where to write it (default build/myflix-infra.json)")
    template.set_defaults(func=cmd_template)
    get = sub.add_parser("get", help="print one saved value (e.g. bucket), for shell scripts")
    get.add_argument("key", help="a config key: region, bucket, role_arn, api_role_arn, ...")
    get.set_defaults(func=cmd_get)

    stage = sub.add_parser(
        "chalice-stage", help="write the Chalice stage that deploys the API with the stack's role",
        description="A stage for api/.chalice/config.json: the stack's API role (manage_iam_role "
                    "false), the table and endpoint names, the pandas layer in the stack's region.")
    stage.add_argument("--stage", default="aws", help="stage name (default aws)")
    stage.add_argument("--write", metavar="CONFIG_JSON",
                       help="merge the stage into this Chalice config.json (default: print it)")
    stage.add_argument("--cors-origin", default="*",
                       help="the origin the MyFlix page is served from (default *)")
    stage.add_argument("--layer", help="the AWS SDK for pandas layer ARN for the stack's region "
                                       "(default: the project's layer, moved to that region)")
    stage.set_defaults(func=cmd_chalice_stage)

    down = sub.add_parser(
        "teardown", help="delete the endpoint, the API stack, the data and the stack (asks for --yes)",
        description="Delete, in order: the staging and prod endpoints and the models/configs the deployer made, the "
                    "API stack, the infra stack, then what it retains on purpose: the model "
                    "packages and their group, every object version and the bucket. Without "
                    "--yes, only prints the plan. Needs the rights of whoever created the stack.")
    down.add_argument("stack", nargs="?", help="infra stack name (default: the one in the config file)")
    down.add_argument("--region", help="its region (default: the config file's)")
    down.add_argument("--api-stack", help="the API's stack (from chalice package) to delete first")
    down.add_argument("--keep-data", action="store_true", help="keep the bucket and the model registry")
    down.add_argument("--yes", action="store_true", help="really delete")
    down.set_defaults(func=cmd_teardown)
