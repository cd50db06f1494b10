"""`myflix config from-stack|show`: the account-side settings, read from the cfn stack's outputs.

`from-stack NAME` reads the Outputs of the stack created from cfn/myflix-infra.yaml (boto3
CloudFormation) and saves them into the config file through `pipeline.settings.save_config`, so
every `myflix pipeline ...` command finds region, role and bucket without options. `show` prints
the file and what each setting resolves to, and from where. `chalice-stage` prints the
Chalice stage that deploys the API with the stack's role and names.
"""
from __future__ import annotations

import json
import sys
from typing import Any, Mapping

from pipeline import settings as settings_mod

# Stack output -> config file key. The first three are what `myflix pipeline ...` needs
# (pipeline/settings.py SOURCES); the rest are for the API's deployment and for people.
OUTPUT_KEYS: dict[str, str] = {
    "Region": "region",
    "SageMakerRoleArn": "role_arn",
    "BucketName": "bucket",
    "PipelineName": "pipeline_name",
    "ApiRoleArn": "api_role_arn",
    "GlueDatabase": "glue_database",
    "GlueTable": "glue_table",
    "ModelPackageGroup": "model_package_group",
    "EndpointName": "endpoint_name",
    "OperatorPolicyArn": "operator_policy_arn",
}
REQUIRED_OUTPUTS = ("Region", "SageMakerRoleArn", "BucketName", "ApiRoleArn", "GlueDatabase",
                    "ModelPackageGroup")
# A stack in any other state has no trustworthy outputs (being created, rolled back, deleted).
USABLE_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
                 "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
DEPLOY_HINT = ("aws cloudformation deploy --template-file cfn/myflix-infra.yaml --stack-name {name} "
               "--capabilities CAPABILITY_NAMED_IAM --region {region}")


def _user_error(message: str) -> Exception:
    from pipeline.cli import UserError   # late: pipeline.cli imports this module
    return UserError(message)


def config_from_outputs(stack_name: str, stack: Mapping[str, Any]) -> dict[str, str]:
    """The config file values for one DescribeStacks `Stacks[i]` entry; pure, no AWS calls.

    Refuses a stack that is not in a complete state or lacks an output the `myflix` commands need.
    """
    status = stack.get("StackStatus", "?")
    if status not in USABLE_STATES:
        raise _user_error(
            f"stack {stack_name} is {status}, not created or updated: wait for it to finish "
            f"(aws cloudformation describe-stacks --stack-name {stack_name}) or fix and deploy it again")
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or []}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise _user_error(
            f"stack {stack_name} has no output {', '.join(missing)}: is it made from "
            f"cfn/myflix-infra.yaml? Deploy that template (see README, \"Run on your AWS account\")")
    values = {key: outputs[output] for output, key in OUTPUT_KEYS.items() if outputs.get(output)}
    values["stack_name"] = stack_name
    return values


def _region_for(args_region: str | None) -> str:
    resolved = settings_mod.resolve({"region": args_region})
    if resolved.region:
        return resolved.region
    import boto3
    region = boto3.session.Session().region_name   # ~/.aws/config's profile region
    if not region:
        raise _user_error("no AWS region: pass --region (the stack's region) or set "
                          "AWS_REGION / AWS_DEFAULT_REGION")
    return region


def describe_stack(stack_name: str, region: str, client: Any = None) -> dict[str, Any]:
    """DescribeStacks for one stack, with the usual failures turned into UserErrors."""
    import boto3
    import botocore.exceptions as bexc

    try:
        cfn = client or boto3.client("cloudformation", region_name=region)
        stacks = cfn.describe_stacks(StackName=stack_name)["Stacks"]
    except bexc.NoCredentialsError as err:
        raise _user_error("no AWS credentials: configure them (aws configure, AWS_PROFILE or "
                          "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and try again") from err
    except bexc.ClientError as err:
        message = err.response.get("Error", {}).get("Message", str(err))
        if "does not exist" in message:
            raise _user_error(
                f"no stack {stack_name} in {region}: create it with "
                f"`{DEPLOY_HINT.format(name=stack_name, region=region)}`, or pass --region "
                f"for the region it lives in") from err
        raise _user_error(f"cannot read stack {stack_name} in {region}: {message}") from err
    except bexc.EndpointConnectionError as err:
        raise _user_error(f"cannot reach CloudFormation in {region}: {err}; check the region "
                          f"and the network") from err
    if not stacks:
        raise _user_error(f"no stack {stack_name} in {region}")
    return stacks[0]


def cmd_from_stack(args) -> int:
    region = _region_for(args.region)
    print(f"reading the outputs of stack {args.name} in {region}", file=sys.stderr)
    values = config_from_outputs(args.name, describe_stack(args.name, region))
    if values["region"] != region:   # only a hand-edited template could make these differ
        raise _user_error(f"stack {args.name} says its region is {values['region']}, but it was "
                          f"read from {region}: check the template's Region output")
    path = settings_mod.save_config(values)
    for key in sorted(values):
        print(f"  {key:20} {values[key]}")
    print(f"saved to {path}; `myflix pipeline ...` commands now use these (options and "
          f"MYFLIX_* variables still win)")
    return 0


def cmd_show(args) -> int:
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


def chalice_stage(config: Mapping[str, Any], cors_origin: str = "*") -> dict[str, Any]:
    """The Chalice stage (api/.chalice/config.json `stages.<name>`) that deploys the API with the
    stack's Lambda role instead of one Chalice would create, and the stack's names."""
    missing = [key for key in ("api_role_arn", "region") if not config.get(key)]
    if missing:
        raise _user_error(f"the config file has no {', '.join(missing)}: run "
                          f"`myflix config from-stack NAME` first")
    return {
        "manage_iam_role": False,
        "iam_role_arn": config["api_role_arn"],
        "environment_variables": {
            "MYFLIX_GLUE_DATABASE": config.get("glue_database", "myflix"),
            "MYFLIX_GLUE_TABLE": config.get("glue_table", "movie_clusters"),
            "MYFLIX_ENDPOINT_NAME": config.get("endpoint_name", "myflix-movie-clusters"),
            "MYFLIX_CORS_ORIGIN": cors_origin,
        },
    }


def cmd_chalice_stage(args) -> int:
    print(json.dumps(chalice_stage(settings_mod.load_config(), args.cors_origin), indent=2,
                     sort_keys=True))
    return 0


def add_commands(subparsers) -> None:
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

    stage = sub.add_parser(
        "chalice-stage", help="print the Chalice stage that deploys the API with the stack's role",
        description="Print a stage for api/.chalice/config.json (\"stages\": {\"aws\": ...}): "
                    "the stack's API role (manage_iam_role false) and the table and endpoint names.")
    stage.add_argument("--cors-origin", default="*",
                       help="the origin the MyFlix page is served from (default *)")
    stage.set_defaults(func=cmd_chalice_stage)
