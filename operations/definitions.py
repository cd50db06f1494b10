"""The pipeline definition as the commands use it: built for an account (or the local stand-ins),
uploaded with its code bundle (create or update the pipeline), compared with the deployed one.

`build` is `pipeline.definition.definition_json` with the resolved settings (and the config's VPC);
`upsert` uploads the bundle under content-hash keys, then CreatePipeline or UpdatePipeline (from S3
when the JSON is over SageMaker's inline limit) and makes sure the model package group exists.
"""
from __future__ import annotations

import difflib
import hashlib
import json
from typing import Any, Callable

from local_aws.constants import LOCAL_BUCKET, LOCAL_REGION, LOCAL_ROLE
from operations import aws
from operations import settings as settings_mod
from operations.errors import UserError
from operations.executions import sagemaker
from pipeline import definition as definition_mod
from pipeline.code_bundle import CodeBundle, build_bundle
from steps import schema

# SageMaker accepts an inline definition up to 100 KB; above that it must come from S3.
INLINE_DEFINITION_LIMIT = 100 * 1024
DEFINITIONS_PREFIX = "pipeline-definitions"


def offline_settings(args: Any) -> settings_mod.Settings:
    """Settings for the offline commands (definition, dag): the account's, or --local's."""
    if args.local:
        return local_settings(args)
    try:
        return settings_mod.from_args(args, "region", "role", "bucket")
    except UserError as err:
        raise UserError(f"{err}; or pass --local for the definition `myflix run` executes") from None


def local_settings(args: Any) -> settings_mod.Settings:
    """The settings `myflix run` uses (options still win): no account, no config needed."""
    return settings_mod.resolve({"region": args.region or LOCAL_REGION, "role": args.role or LOCAL_ROLE,
                                 "bucket": args.bucket or LOCAL_BUCKET,
                                 "pipeline_name": args.pipeline_name}, env={}, config={})


def build(resolved: settings_mod.Settings, bundle: CodeBundle | None = None) -> str:
    """The definition JSON for these settings (the config's subnets and security groups as a VPC)."""
    args = (resolved.region, resolved.role, resolved.bucket, resolved.pipeline_name)
    try:
        if resolved.subnets or resolved.security_group_ids:
            vpc = definition_mod.Vpc(resolved.subnets, resolved.security_group_ids)
            return definition_mod.definition_json(*args, bundle=bundle, vpc=vpc)
        return definition_mod.definition_json(*args, bundle=bundle)
    except ValueError as err:
        raise UserError(str(err)) from err


def build_local(bundle: CodeBundle | None = None) -> str:
    """The definition `myflix run` executes: the local stand-ins' region, role and bucket."""
    return definition_mod.definition_json(LOCAL_REGION, LOCAL_ROLE, LOCAL_BUCKET, bundle=bundle)


def pretty(definition: str | dict) -> str:
    """Stable, readable JSON: sorted keys, two-space indent (what `diff` compares)."""
    data = json.loads(definition) if isinstance(definition, str) else definition
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def upload_bundle(s3: Any, bucket: str, bundle: Any, log: Callable[[str], None]) -> int:
    """Put the bundle's objects in the bucket, skipping those already there (content-hash keys)."""
    from botocore.exceptions import ClientError  # lazily: botocore costs every command's start-up
    uploads = bundle.uploads()
    sent = 0
    for i, (key, body) in enumerate(uploads.items(), 1):
        try:
            head = s3.head_object(Bucket=bucket, Key=key)
            if head.get("ContentLength") == len(body):
                continue
        except ClientError as err:
            if str(err.response.get("Error", {}).get("Code")) not in ("404", "NoSuchKey", "NotFound"):
                raise
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        sent += 1
        log(f"  [{i}/{len(uploads)}] s3://{bucket}/{key}")
    return sent


def upsert(resolved: settings_mod.Settings, log: Callable[[str], None] = print,
           description: str | None = None) -> dict:
    """Upload the code bundle, then create the pipeline or update it. Returns the response."""
    from botocore.exceptions import ClientError  # lazily: botocore costs every command's start-up
    bundle = build_bundle()
    definition = build(resolved, bundle)
    session = aws.session(resolved.region)
    s3 = session.client("s3")
    client = session.client("sagemaker")
    with aws.user_errors(f"uploading the code bundle to s3://{resolved.bucket}"):
        log(f"code bundle {bundle.sha256[:12]}: {len(bundle.files)} files -> "
            f"s3://{resolved.bucket}/{bundle.prefix}/")
        sent = upload_bundle(s3, resolved.bucket, bundle, log)
        log(f"  {sent} uploaded, {len(bundle.uploads()) - sent} already there")
    request: dict[str, Any] = {
        "PipelineName": resolved.pipeline_name,
        "PipelineDisplayName": resolved.pipeline_name,
        "PipelineDescription": description or "MyFlix movie clusters: IMDb -> k-means -> "
                                              "registry, endpoint and Glue table",
        "RoleArn": resolved.role,
    }
    if len(definition.encode("utf-8")) < INLINE_DEFINITION_LIMIT:
        request["PipelineDefinition"] = definition
    else:
        key = (f"{DEFINITIONS_PREFIX}/{resolved.pipeline_name}/"
               f"{hashlib.sha256(definition.encode()).hexdigest()}.json")
        with aws.user_errors("uploading the pipeline definition"):
            s3.put_object(Bucket=resolved.bucket, Key=key, Body=definition.encode("utf-8"))
        request["PipelineDefinitionS3Location"] = {"Bucket": resolved.bucket, "ObjectKey": key}
    with aws.user_errors(f"creating or updating pipeline {resolved.pipeline_name}"):
        try:
            response = client.create_pipeline(**request)
            action = "created"
        except ClientError as err:
            code = aws.error_code(err)
            text = aws.error_message(err).lower()
            if code not in ("ResourceInUse", "ValidationException") or (
                    "exist" not in text and "in use" not in text):
                raise
            response = client.update_pipeline(**request)
            action = "updated"
    log(f"pipeline {resolved.pipeline_name} {action}: {response.get('PipelineArn')}")
    ensure_model_package_group(client, schema.MODEL_PACKAGE_GROUP, log)
    return {**response, "Action": action, "CodeBundle": bundle.sha256}


def ensure_model_package_group(client: Any, group: str, log: Callable[[str], None]) -> bool:
    """Create the group the Register step writes to when it is missing (the cfn stack makes it).

    Returns True when it was created. Lacking the permission to create it is a warning only.
    """
    from botocore.exceptions import ClientError  # lazily: botocore costs every command's start-up
    try:
        client.describe_model_package_group(ModelPackageGroupName=group)
        return False
    except ClientError as err:
        if aws.error_code(err) not in ("ValidationException", "ResourceNotFound"):
            log(f"warning: cannot check model package group {group}: {aws.error_message(err)}")
            return False
    try:
        client.create_model_package_group(
            ModelPackageGroupName=group,
            ModelPackageGroupDescription="MyFlix movie clusters (scaler + k-means)")
    except ClientError as err:
        log(f"warning: model package group {group} is missing and could not be created "
            f"({aws.error_message(err)}): the Register step needs it (deploy the cfn stack)")
        return False
    log(f"model package group {group} created")
    return True


def deployed_definition(resolved: settings_mod.Settings) -> str:
    """The definition SageMaker holds for the pipeline (a UserError when it is not deployed)."""
    from botocore.exceptions import ClientError  # lazily: botocore costs every command's start-up
    client = sagemaker(resolved)
    with aws.user_errors(f"reading pipeline {resolved.pipeline_name}"):
        try:
            described = client.describe_pipeline(PipelineName=resolved.pipeline_name)
        except ClientError as err:
            if aws.error_code(err) in ("ResourceNotFound", "ValidationException"):
                raise UserError(f"pipeline {resolved.pipeline_name} is not deployed in "
                                f"{resolved.region}: run `myflix pipeline upsert`") from err
            raise
    return described["PipelineDefinition"]


def unified_diff(deployed: str, local: str, name: str) -> str:
    return "".join(difflib.unified_diff(pretty(deployed).splitlines(keepends=True),
                                        pretty(local).splitlines(keepends=True),
                                        fromfile=f"deployed:{name}", tofile="local definition"))


def diff(resolved: settings_mod.Settings) -> str:
    """The deployed definition against this checkout's, as a unified diff ("" when they agree)."""
    return unified_diff(deployed_definition(resolved), build(resolved), resolved.pipeline_name)


def read_definition_file(path: str) -> dict:
    """A definition JSON file (what `dag --definition-file` draws); a UserError when unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the definition {path}: {err}") from err
