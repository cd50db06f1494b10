"""The account side, from the cfn stack: its outputs as the config file's values, the Chalice stage
that deploys the API with the stack's role, the template as compact JSON, and the teardown of what
the stacks and the pipeline created (what `myflix config ...` calls; cli/cmd_config.py prints).

`config_from_outputs` maps the Outputs of the stack made from cfn/myflix-infra.yaml to config file
keys (saved through `operations.settings.save_config`), so every `myflix pipeline ...` command finds
region, role and bucket without options.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any, Mapping

from local_aws.layout import write_json_atomic
from operations import cfn_template
from operations import settings as settings_mod
from operations.errors import UserError

# Stack output -> config file key. The first three are what `myflix pipeline ...` needs
# (operations/settings.py SOURCES); the rest are for the API's deployment and for people.
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
    "BucketKeyPolicyArn": "bucket_key_policy_arn",     # only with KmsKeyArn
    "StagingEndpointName": "staging_endpoint_name",
    "DeployerFunctionName": "deployer_function_name",
    "RetrainScheduleName": "retrain_schedule_name",     # read by `myflix pipeline schedule`
    "RetrainSchedulerRoleArn": "retrain_scheduler_role_arn",
    "MlflowTrackingServerArn": "mlflow_tracking_arn",    # only with MlflowTrackingServerSize
    "MlflowAccessPolicyArn": "mlflow_access_policy_arn",
    "EventsStreamName": "events_stream",                # the API's MYFLIX_EVENTS_STREAM
}
REQUIRED_OUTPUTS = ("Region", "SageMakerRoleArn", "BucketName", "ApiRoleArn", "GlueDatabase",
                    "ModelPackageGroup")
# A stack in any other state has no trustworthy outputs (being created, rolled back, deleted).
USABLE_STATES = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
                 "IMPORT_COMPLETE", "IMPORT_ROLLBACK_COMPLETE"}
DEPLOY_HINT = ("aws cloudformation deploy --template-file cfn/myflix-infra.yaml --stack-name {name} "
               "--capabilities CAPABILITY_NAMED_IAM --region {region}")




def config_from_outputs(stack_name: str, stack: Mapping[str, Any]) -> dict[str, str]:
    """The config file values for one DescribeStacks `Stacks[i]` entry; pure, no AWS calls.

    Refuses a stack that is not in a complete state or lacks an output the `myflix` commands need.
    """
    status = stack.get("StackStatus", "?")
    if status not in USABLE_STATES:
        raise UserError(
            f"stack {stack_name} is {status}, not created or updated: wait for it to finish "
            f"(aws cloudformation describe-stacks --stack-name {stack_name}) or fix and deploy it again")
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or []}
    missing = [key for key in REQUIRED_OUTPUTS if not outputs.get(key)]
    if missing:
        raise UserError(
            f"stack {stack_name} has no output {', '.join(missing)}: is it made from "
            f"cfn/myflix-infra.yaml? Deploy that template (see docs/aws.md, \"Run on your AWS account\")")
    values = {key: outputs[output] for output, key in OUTPUT_KEYS.items() if outputs.get(output)}
    values["stack_name"] = stack_name
    return values


def region_for(args_region: str | None) -> str:
    resolved = settings_mod.resolve({"region": args_region})
    if resolved.region:
        return resolved.region
    import boto3  # lazily, here and below: boto3 costs every command's start-up
    region = boto3.session.Session().region_name   # ~/.aws/config's profile region
    if not region:
        raise UserError("no AWS region: pass --region (the stack's region) or set "
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
        raise UserError("no AWS credentials: configure them (aws configure, AWS_PROFILE or "
                        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and try again") from err
    except bexc.ClientError as err:
        message = err.response.get("Error", {}).get("Message", str(err))
        if "does not exist" in message:
            raise UserError(
                f"no stack {stack_name} in {region}: create it with "
                f"`{DEPLOY_HINT.format(name=stack_name, region=region)}`, or pass --region "
                f"for the region it lives in") from err
        raise UserError(f"cannot read stack {stack_name} in {region}: {message}") from err
    except bexc.EndpointConnectionError as err:
        raise UserError(f"cannot reach CloudFormation in {region}: {err}; check the region "
                        f"and the network") from err
    if not stacks:
        raise UserError(f"no stack {stack_name} in {region}")
    return stacks[0]






PANDAS_LAYER = re.compile(r"^arn:(aws[a-z-]*):lambda:([a-z0-9-]+):(\d{12}):layer:(AWSSDKPandas-[^:]+):(\d+)$")
LAYER_PYTHON = re.compile(r"-Python(\d)(\d+)$")
# Regions a customer must enable: the AWS SDK for pandas layer is published there from other
# accounts (and with other version numbers), so the us-east-1 ARN cannot be moved there.
OPT_IN_REGIONS = frozenset({
    "af-south-1", "ap-east-1", "ap-east-2", "ap-south-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-southeast-6", "ap-southeast-7", "ca-west-1", "eu-central-2", "eu-south-1",
    "eu-south-2", "il-central-1", "me-central-1", "me-south-1", "mx-central-1"})


def _layer_parameter(region: str, python: tuple[int, int]) -> str:
    return (f"/aws/service/aws-sdk-pandas/<version>/{region}/py{python[0]}.{python[1]}/x86_64/"
            "layer-arn")


def check_layer_python(layers: list[str], region: str, python: tuple[int, int]) -> None:
    """Refuse a pandas layer built for another Python than the one that packages the API: Chalice
    sets the Lambda runtime from the Python it runs under, and numpy fails to import (every route a
    502) when the layer's Python differs."""
    for arn in layers:
        match = PANDAS_LAYER.match(arn)
        built = LAYER_PYTHON.search(match.group(4)) if match else None
        if built and (int(built.group(1)), int(built.group(2))) != tuple(python):
            runtime = f"python{python[0]}.{python[1]}"
            raise UserError(
                f"the layer {match.group(4)} is built for Python {built.group(1)}.{built.group(2)}, "
                f"but this Python is {python[0]}.{python[1]}, and `chalice package` run with it gives "
                f"the Lambda Runtime {runtime}: numpy would not import there. Run chalice from a "
                f"Python {built.group(1)}.{built.group(2)} environment, or pass --layer with the "
                f"AWSSDKPandas-Python{python[0]}{python[1]} ARN (`aws ssm get-parameter --name "
                f"{_layer_parameter(region, python)}` names it)")


def chalice_stage(config: Mapping[str, Any], cors_origin: str = "*", layers: list[str] | None = None,
                  layer_override: str | None = None,
                  python: tuple[int, int] | None = None) -> tuple[dict[str, Any], list[str]]:
    """The Chalice stage (api/.chalice/config.json `stages.<name>`) that deploys the API with the
    stack's Lambda role instead of one Chalice would create, and the stack's names; pure.

    `layers` are the project's layer ARNs (its config.json): the AWS SDK for pandas layer is
    published per region, so it is moved to the stack's region (not to an opt-in region, where
    other accounts publish it: --layer then). `python` is the Python that will run `chalice
    package` (default: this one); a layer built for another is refused. Returns (stage, notes).
    """
    python = tuple(python or sys.version_info[:2])
    missing = [key for key in ("api_role_arn", "region") if not config.get(key)]
    if missing:
        raise UserError(f"the config file has no {', '.join(missing)}: run "
                        f"`myflix config from-stack NAME` first")
    region, notes = config["region"], []
    stage: dict[str, Any] = {
        "manage_iam_role": False,
        "iam_role_arn": config["api_role_arn"],
        "environment_variables": {
            "MYFLIX_GLUE_DATABASE": config.get("glue_database", "myflix"),
            "MYFLIX_GLUE_TABLE": config.get("glue_table", "movie_clusters"),
            "MYFLIX_ENDPOINT_NAME": config.get("endpoint_name", "myflix-movie-clusters"),
            "MYFLIX_CORS_ORIGIN": cors_origin,
            # POST /events and DELETE /viewers/{id} (api/chalicelib/events.py)
            "MYFLIX_EVENTS_STREAM": config.get("events_stream", "myflix-events"),
            "MYFLIX_BUCKET": config.get("bucket", ""),
        },
    }
    if layer_override:
        stage["layers"] = [layer_override]
    elif layers:
        moved = []
        for arn in layers:
            match = PANDAS_LAYER.match(arn)
            if match and match.group(2) != region and region in OPT_IN_REGIONS:
                raise UserError(
                    f"{region} is an opt-in region: the AWS SDK for pandas layer is published there "
                    f"from another account, so {match.group(4)} cannot be moved from "
                    f"{match.group(2)}; pass --layer with the ARN that `aws ssm get-parameter --name "
                    f"{_layer_parameter(region, python)}` prints")
            if match and match.group(2) != region:
                partition, _, account, name, version = match.groups()
                moved.append(f"arn:{partition}:lambda:{region}:{account}:layer:{name}:{version}")
                notes.append(f"layer {name}:{version} moved from {match.group(2)} to {region}: "
                             f"check that this version is published there (the public SSM "
                             f"parameter {_layer_parameter(region, python)} names it) or pass "
                             "--layer ARN")
            else:
                moved.append(arn)
        stage["layers"] = moved
    check_layer_python(stage.get("layers") or [], region, python)
    return stage, notes


def write_chalice_stage(path: Path, stage_name: str, stage: Mapping[str, Any]) -> None:
    """Merge `stage` into `stages.<stage_name>` of a Chalice config.json, keeping everything else."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the Chalice config {path}: {err}; pass the api/ project's "
                        f".chalice/config.json") from err
    data.setdefault("stages", {}).setdefault(stage_name, {}).update(stage)
    write_json_atomic(path, data)








# --- teardown --------------------------------------------------------------------------------
def _not_found(err: Exception) -> bool:
    text = str(err)
    return any(s in text for s in ("does not exist", "Could not find", "NoSuchBucket", "not found"))


class _Teardown:
    """Runs each deletion, reporting it; a failure is recorded and the rest still runs."""

    def __init__(self, act: bool):
        self.act, self.problems, self.done = act, [], 0

    def __call__(self, what: str, action) -> Any:
        if not self.act:
            print(f"  would {what}")
            return None
        try:
            result = action()
        except Exception as err:        # noqa: BLE001 - every AWS failure is reported, then we go on
            if _not_found(err):
                print(f"  {what}: already gone")
                return None
            self.problems.append(f"{what}: {err}")
            print(f"  {what}: FAILED ({err})")
            return None
        self.done += 1
        print(f"  {what}: done")
        return result


def _empty_bucket(s3, bucket: str) -> int:
    """Delete every object version and delete marker (the bucket is versioned); return the count."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                 for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(batch), 1000):     # DeleteObjects takes at most 1000 keys
            chunk = batch[start:start + 1000]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            deleted += len(chunk)
    return deleted


def teardown(stack: str | None, region: str | None, *, api_stack: str | None, keep_data: bool,
             yes: bool) -> int:
    """Delete, in dependency order, what the stacks and the pipeline created (only with `yes`;
    else print the plan): 0 when done, 1 when a deletion failed (each one is reported)."""
    config = settings_mod.load_config()
    stack_arg, stack = stack, stack or config.get("stack_name")
    region = region or config.get("region")
    if not stack or not region:
        raise UserError("no stack to tear down: pass the stack name and --region, or run "
                        "`myflix config from-stack NAME` first")
    import boto3
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        raise UserError("no AWS credentials: configure them (aws configure, AWS_PROFILE or "
                        "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and try again")
    values = config_from_outputs(stack, describe_stack(stack, region, session.client("cloudformation"))) \
        if stack_arg else config
    endpoint = values.get("endpoint_name") or "myflix-movie-clusters"
    bucket, group = values.get("bucket"), values.get("model_package_group")
    sm, cfn, s3 = (session.client(name) for name in ("sagemaker", "cloudformation", "s3"))
    run = _Teardown(act=yes)
    print(("tearing down" if yes else "teardown plan (nothing is deleted without --yes)")
          + f" in {region}:")

    staging = values.get("staging_endpoint_name") or f"{endpoint}-staging"
    for name in (staging, endpoint):
        run(f"delete endpoint {name}", lambda name=name: sm.delete_endpoint(EndpointName=name))
    # The deployer names models and configs <endpoint>-... (staging's too); nothing else is touched.
    configs = [c["EndpointConfigName"]
               for page in sm.get_paginator("list_endpoint_configs").paginate(NameContains=endpoint)
               for c in page.get("EndpointConfigs", []) if c["EndpointConfigName"].startswith(endpoint + "-")]
    models = [m["ModelName"] for page in sm.get_paginator("list_models").paginate(NameContains=endpoint)
              for m in page.get("Models", []) if m["ModelName"].startswith(endpoint + "-")]
    for name in configs:
        run(f"delete endpoint config {name}", lambda name=name: sm.delete_endpoint_config(EndpointConfigName=name))
    for name in models:
        run(f"delete model {name}", lambda name=name: sm.delete_model(ModelName=name))
    if api_stack:
        run(f"delete the API stack {api_stack}", lambda: _delete_stack(cfn, api_stack))
    # The stack goes before the data it retains: its bucket policy is deleted while the bucket
    # still exists, and nothing of the stack is left pointing at a deleted bucket.
    run(f"delete the stack {stack} (roles, policies, Glue database, log group)",
        lambda: _delete_stack(cfn, stack))
    if keep_data:
        print(f"  keep the bucket {bucket} and the model registry {group} (--keep-data)")
    else:
        if group:
            packages = [p["ModelPackageArn"] for page in sm.get_paginator("list_model_packages")
                        .paginate(ModelPackageGroupName=group) for p in page["ModelPackageSummaryList"]] \
                if yes else []
            for arn in packages:
                run(f"delete model package {arn}", lambda arn=arn: sm.delete_model_package(ModelPackageName=arn))
            run(f"delete model package group {group}",
                lambda: sm.delete_model_package_group(ModelPackageGroupName=group))
        if bucket:
            count = run(f"empty bucket {bucket} (every version)", lambda: _empty_bucket(s3, bucket))
            if count is not None:
                print(f"    {count} object versions deleted")
            run(f"delete bucket {bucket}", lambda: s3.delete_bucket(Bucket=bucket))
    if not yes:
        print("run again with --yes to delete these")
        return 0
    if run.problems:
        print(f"myflix: teardown finished with {len(run.problems)} problem(s): "
              + "; ".join(run.problems), file=sys.stderr)
        return 1
    print(f"teardown done ({run.done} deletions)")
    return 0


def _delete_stack(cfn, name: str) -> None:
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig={"Delay": 10, "MaxAttempts": 180})


def write_template(template: str, output: str) -> tuple[Path, int]:
    """cfn/myflix-infra.yaml as compact JSON at `output`, under CloudFormation's inline limit: (path, bytes)."""
    source = Path(template)
    if not source.is_file():
        raise UserError(f"{source} is not there: run this from the repository root, or pass --template")
    try:
        text = cfn_template.compact(source)
    except Exception as err:  # noqa: BLE001 - a broken YAML file: say which and why
        raise UserError(f"cannot read the template {source}: {err}") from err
    if len(text.encode("utf-8")) > cfn_template.INLINE_LIMIT:
        raise UserError(f"{source} is {len(text.encode('utf-8')):,} bytes even as compact JSON, over "
                        f"CloudFormation's {cfn_template.INLINE_LIMIT:,}-byte inline limit: deploy it "
                        "with --s3-bucket (the template then goes through S3)")
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target, len(text.encode("utf-8"))
