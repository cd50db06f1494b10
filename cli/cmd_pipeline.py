"""`myflix pipeline ...`: the MLOps engineer's commands for the SageMaker pipeline.

definition | upsert | start | status | wait | list | diff | dag | approve. Region, role, bucket
and pipeline name come from options, environment or the config file (operations/settings.py).
`definition` and `dag` never touch the network; `status`, `wait` and `list` also read the local
runner's executions with `--local`.
"""
from __future__ import annotations

import argparse
import difflib
import hashlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from operations import settings as settings_mod
from cli.main import UserError
from local_aws import layout
from local_runner.executions import shown_status
from steps import schema

FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")
# SageMaker accepts an inline definition up to 100 KB; above that it must come from S3.
INLINE_DEFINITION_LIMIT = 100 * 1024
DEFINITIONS_PREFIX = "pipeline-definitions"


# --- helpers shared by the commands ------------------------------------------------------------
def _settings(args: argparse.Namespace, *required: str) -> settings_mod.Settings:
    resolved = settings_mod.from_args(args)
    resolved.require(*required)
    return resolved


def _offline_settings(args: argparse.Namespace) -> settings_mod.Settings:
    """Settings for the offline commands (definition, dag): the account's, or --local's."""
    if args.local:
        return _local_settings(args)
    try:
        return _settings(args, "region", "role", "bucket")
    except UserError as err:
        raise UserError(f"{err}; or pass --local for the definition `myflix run` executes") from None


def _local_settings(args: argparse.Namespace) -> settings_mod.Settings:
    """The settings `myflix run` uses (options still win): no account, no config needed."""
    from local_aws.constants import LOCAL_BUCKET, LOCAL_REGION, LOCAL_ROLE
    return settings_mod.resolve({"region": args.region or LOCAL_REGION, "role": args.role or LOCAL_ROLE,
                                 "bucket": args.bucket or LOCAL_BUCKET,
                                 "pipeline_name": args.pipeline_name}, env={}, config={})


def _definition(resolved: settings_mod.Settings, bundle: Any = None) -> str:
    from pipeline.definition import Vpc, definition_json
    try:
        if resolved.subnets or resolved.security_group_ids:      # the config's subnets + security groups
            return definition_json(resolved.region, resolved.role, resolved.bucket, resolved.pipeline_name,
                                   bundle=bundle, vpc=Vpc(resolved.subnets, resolved.security_group_ids))
        return definition_json(resolved.region, resolved.role, resolved.bucket,
                               resolved.pipeline_name, bundle=bundle)
    except ValueError as err:
        raise UserError(str(err)) from err


def pretty(definition: str | dict) -> str:
    """Stable, readable JSON: sorted keys, two-space indent (what `diff` compares)."""
    data = json.loads(definition) if isinstance(definition, str) else definition
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def _sagemaker(resolved: settings_mod.Settings) -> Any:
    from operations import aws
    return aws.client(resolved.region, "sagemaker")


def _user_errors(action: str):
    from operations import aws
    return aws.user_errors(action)


def _when(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(value)


def _duration(start: Any, end: Any) -> str:
    if not isinstance(start, datetime):
        return ""
    end = end if isinstance(end, datetime) else datetime.now(timezone.utc)
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    if end.tzinfo is None:
        end = end.replace(tzinfo=timezone.utc)
    seconds = max(0, int((end - start).total_seconds()))
    return f"{seconds // 60}m{seconds % 60:02d}s"


def console_url(region: str, kind: str, name: str) -> str:
    """The AWS console page of a job or model package (Studio shows the same from the pipeline)."""
    base = f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#"
    paths = {"processing": f"/processing-jobs/{name}", "training": f"/jobs/{name}",
             "model-package": f"/model-packages/{name}"}
    return base + paths[kind]


def logs_url(region: str, kind: str, job_name: str) -> str:
    group = {"processing": "/aws/sagemaker/ProcessingJobs",
             "training": "/aws/sagemaker/TrainingJobs"}[kind].replace("/", "$252F")
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#logsV2:log-groups/log-group/{group}$3FlogStreamNameFilter$3D{job_name}")


def step_links(region: str | None, step: dict) -> list[str]:
    """Console and log links for a step from its Metadata (cloud executions only)."""
    if not region:
        return []
    meta = step.get("Metadata") or {}
    links = []
    for key, kind in (("ProcessingJob", "processing"), ("TrainingJob", "training")):
        arn = (meta.get(key) or {}).get("Arn")
        if arn:
            job = arn.rsplit("/", 1)[-1]
            links += [console_url(region, kind, job), logs_url(region, kind, job)]
    package = (meta.get("RegisterModel") or {}).get("Arn")
    if package:
        links.append(console_url(region, "model-package", package.split("/", 1)[-1]))
    return links


def render_execution(execution: dict, steps: list[dict] | None, region: str | None = None,
                     note: str = "") -> str:
    """The status report: one header, then one line per step with its failure and links."""
    lines = [
        f"Execution  {execution.get('PipelineExecutionArn', '-')}",
        f"Name       {execution.get('PipelineExecutionDisplayName') or '-'}",
        f"Status     {execution.get('PipelineExecutionStatus', '-')}   started "
        f"{_when(execution.get('StartTime') or execution.get('CreationTime'))}   ended "
        f"{_when(execution.get('EndTime') or (execution.get('LastModifiedTime') if execution.get('PipelineExecutionStatus') in FINAL_STATUSES else None))}",
    ]
    overrides = execution.get("PipelineParameters") or []
    if overrides:
        lines.append("Parameters " + ", ".join(f"{p.get('Name')}={p.get('Value')}" for p in overrides))
    if execution.get("FailureReason") not in (None, "", "None"):
        lines.append(f"Failure    {execution['FailureReason']}")
    if region and execution.get("PipelineExecutionArn", "").startswith("arn:aws:sagemaker"):
        lines.append("Studio     Pipelines > " + execution.get("PipelineExecutionArn", "").split(":pipeline/")[-1].split("/")[0]
                     + " > Executions shows the same DAG and per-step logs")
    if note:
        lines.append(note)
    if steps is None:
        return "\n".join(lines) + "\n"
    lines.append("")
    if not steps:
        lines.append("(no steps reported yet)")
    width = max([len(s.get("StepName", "")) for s in steps] + [4])
    lines.append(f"{'STEP':<{width}}  {'STATUS':<10}  {'STARTED':<20}  {'TOOK':>7}  DISPLAY NAME")
    for step in steps:
        took = _duration(step.get("StartTime"), step.get("EndTime")) if step.get("StartTime") else ""
        cached = " (cached)" if step.get("CacheHitResult") else ""
        shown = shown_status(step["StepStatus"], step.get("FailureReason")) if step.get("StepStatus") else "?"
        lines.append(f"{step.get('StepName', '?'):<{width}}  {shown:<10}  "
                     f"{_when(step.get('StartTime')):<20}  {took:>7}  "
                     f"{step.get('StepDisplayName') or ''}{cached}")
        if step.get("FailureReason"):
            lines.append(f"{'':<{width}}    reason: {step['FailureReason']}")
        for link in step_links(region, step):
            lines.append(f"{'':<{width}}    {link}")
        if step.get("LogFile") and step.get("StepStatus") in ("Failed", "Executing"):
            lines.append(f"{'':<{width}}    log: {step['LogFile']}")
        if step.get("LogTail") and step.get("StepStatus") == "Failed":
            for tail_line in str(step["LogTail"]).rstrip().splitlines()[-8:]:
                lines.append(f"{'':<{width}}    | {tail_line}")
    return "\n".join(lines) + "\n"


# --- cloud execution queries -------------------------------------------------------------------
def _latest_execution_arn(client: Any, pipeline_name: str) -> str:
    found = client.list_pipeline_executions(PipelineName=pipeline_name, SortBy="CreationTime",
                                            SortOrder="Descending", MaxResults=1)
    summaries = found.get("PipelineExecutionSummaries", [])
    if not summaries:
        raise UserError(f"pipeline {pipeline_name} has no executions yet: run "
                        f"`myflix pipeline start`")
    return summaries[0]["PipelineExecutionArn"]


def _execution_arn(client: Any, resolved: settings_mod.Settings, given: str | None) -> str:
    if not given:
        return _latest_execution_arn(client, resolved.pipeline_name)
    if given.startswith("arn:"):
        return given
    # An execution id: build the ARN from the pipeline's.
    pipeline_arn = client.describe_pipeline(PipelineName=resolved.pipeline_name)["PipelineArn"]
    return f"{pipeline_arn}/execution/{given}"


def cloud_steps(client: Any, execution_arn: str) -> tuple[list[dict] | None, str]:
    """Steps of a cloud execution in run order, or (None, why) when the service cannot list them."""
    from botocore.exceptions import ClientError
    steps: list[dict] = []
    kwargs: dict[str, Any] = {"PipelineExecutionArn": execution_arn, "SortOrder": "Ascending"}
    try:
        while True:
            page = client.list_pipeline_execution_steps(**kwargs)
            steps += page.get("PipelineExecutionSteps", [])
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    except (NotImplementedError, ClientError) as err:
        # Some endpoints (moto, for one) do not implement ListPipelineExecutionSteps.
        reason = "not implemented there" if isinstance(err, NotImplementedError) else str(err)
        return None, f"Steps      the endpoint does not list this execution's steps ({reason})"
    return steps, ""


def _describe_cloud(resolved: settings_mod.Settings, given: str | None,
                    client: Any = None) -> tuple[dict, list | None, str]:
    client = client or _sagemaker(resolved)
    with _user_errors("describing the pipeline execution"):
        arn = _execution_arn(client, resolved, given)
        execution = dict(client.describe_pipeline_execution(PipelineExecutionArn=arn))
        steps, note = cloud_steps(client, arn)
        try:
            execution["PipelineParameters"] = client.list_pipeline_parameters_for_execution(
                PipelineExecutionArn=arn).get("PipelineParameters", [])
        except Exception:  # noqa: BLE001 - the parameters are a nicety; the status matters
            pass
    return execution, steps, note


def _describe_local(workdir: Path, given: str | None) -> tuple[dict, list]:
    executions = _local_module()
    try:
        described = executions.describe_execution(Path(workdir), given)
    except LookupError as err:
        raise UserError(str(err)) from err
    steps = described.pop("Steps", [])
    return described, steps


def _local_module() -> Any:
    try:
        from local_runner import executions
    except ImportError as err:
        raise UserError(f"local executions are not available in this install ({err})") from err
    return executions


# --- the commands ------------------------------------------------------------------------------
def cmd_definition(args: argparse.Namespace) -> int:
    resolved = _offline_settings(args)
    text = _definition(resolved)
    out = text if args.compact else pretty(text)
    if args.output:
        Path(args.output).write_text(out, encoding="utf-8")
        print(f"wrote {args.output} ({len(out):,} bytes, {len(json.loads(text)['Steps'])} "
              f"top-level steps)", file=sys.stderr)
    else:
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0


def upload_bundle(s3: Any, bucket: str, bundle: Any, log: Callable[[str], None]) -> int:
    """Put the bundle's objects in the bucket, skipping those already there (content-hash keys)."""
    from botocore.exceptions import ClientError
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
    from botocore.exceptions import ClientError

    from operations import aws
    from pipeline.code_bundle import build_bundle
    bundle = build_bundle()
    definition = _definition(resolved, bundle)
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
    from botocore.exceptions import ClientError

    from operations import aws
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


def cmd_upsert(args: argparse.Namespace) -> int:
    resolved = _settings(args, "region", "role", "bucket")
    upsert(resolved, log=print)
    print("next: myflix pipeline start   (then: myflix pipeline wait)")
    return 0


def parse_overrides(pairs: list[str], defaults: dict[str, Any]) -> dict[str, str]:
    """`name=value` strings -> {name: value}, checked against the parameters, their types and the
    values they allow (pipeline.definition.check_parameters: the one validation of `-p`)."""
    from pipeline.definition import ParameterError, ParameterSpec, check_parameters, parameter_specs
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UserError(f"-p {pair!r}: expected name=value, e.g. -p k_override=20")
        name, value = pair.split("=", 1)
        out[name.strip()] = value
    known = {spec.name: spec for spec in parameter_specs("")}
    specs = [known.get(name) or ParameterSpec(name, default, "") for name, default in defaults.items()]
    try:
        typed = check_parameters(out, specs)
    except ParameterError as err:
        raise UserError(f"-p {err}") from None
    def text(name: str) -> str:
        value = typed[name]
        return str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else out[name]
    result: dict[str, str] = {}
    for name in out:
        if out[name] == "":
            # StartPipelineExecution (and Scheduler) refuse an empty value: an empty default is
            # what omitting the parameter gives; any other cannot be emptied from here.
            if defaults[name] in ("", None):
                continue
            raise UserError(f"-p {name}=: SageMaker refuses empty parameter values; omit -p {name} for its "
                            f"default ({defaults[name]}), or give a value")
        result[name] = text(name)
    return result


def start(resolved: settings_mod.Settings, overrides: dict[str, str],
          display_name: str | None = None) -> str:
    client = _sagemaker(resolved)
    request: dict[str, Any] = {
        "PipelineName": resolved.pipeline_name,
        "PipelineParameters": [{"Name": k, "Value": v} for k, v in overrides.items()],
        "PipelineExecutionDescription": "started by myflix pipeline start",
    }
    if display_name:
        request["PipelineExecutionDisplayName"] = display_name
    with _user_errors(f"starting pipeline {resolved.pipeline_name}"):
        try:
            response = client.start_pipeline_execution(**request)
        except Exception as err:  # a missing pipeline deserves the next step, not the raw error
            text = str(err)
            if any(hint in text for hint in ("does not exist", "ResourceNotFound", "Could not find pipeline")):
                raise UserError(f"pipeline {resolved.pipeline_name} does not exist in "
                                f"{resolved.region}: run `myflix pipeline upsert` first") from err
            raise
    return response["PipelineExecutionArn"]


def _input_version(resolved: settings_mod.Settings, values: dict[str, Any]) -> str:
    """What the inputs are now (operations/inputs.py), so Ingest's cache key follows the data."""
    from operations import aws, inputs
    with _user_errors("reading what the input files are (ETag/version)"):
        return inputs.input_version(aws.client(resolved.region, "s3"), str(values.get("basics_uri") or ""),
                                    str(values.get("ratings_uri") or ""),
                                    str(values.get("imdb_base_url") or ""))


def cmd_start(args: argparse.Namespace) -> int:
    resolved = _settings(args, "region", "bucket")
    from pipeline.definition import parameter_defaults
    defaults = parameter_defaults(resolved.bucket)
    overrides = parse_overrides(args.param, defaults)
    if "input_version" not in overrides and "input_version" in defaults:
        version = _input_version(resolved, {**defaults, **overrides})
        if version:
            overrides["input_version"] = version
        else:
            print("input_version unknown (the download's server names no ETag/Last-Modified): "
                  "Ingest's 12-hour cache applies")
    arn = start(resolved, overrides, args.display_name)
    print(f"started {arn}")
    for name, value in overrides.items():
        print(f"  {name} = {value}")
    if args.wait:
        return wait(lambda: _describe_cloud(resolved, arn), resolved.region, args.poll, args.timeout)
    print("follow it: myflix pipeline wait   (or: myflix pipeline status)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if args.local:
        execution, steps = _describe_local(args.workdir, args.execution)
        sys.stdout.write(render_execution(execution, steps))
        return 0
    resolved = _settings(args, "region")
    execution, steps, note = _describe_cloud(resolved, args.execution)
    sys.stdout.write(render_execution(execution, steps, resolved.region, note))
    return 0


def _step_states(steps: list[dict] | None) -> dict[str, str]:
    return {s.get("StepName", "?"): s.get("StepStatus", "?") for s in steps or []}


def wait(describe: Callable[[], tuple[dict, list | None, str]], region: str | None = None,
         poll: float = 30.0, timeout: float = 0.0) -> int:
    """Print step changes until the execution ends; 0 when it Succeeded, 1 otherwise, 3 on timeout."""
    started = time.monotonic()
    seen: dict[str, str] = {}
    last_status = None
    while True:
        execution, steps, note = describe()
        status = execution.get("PipelineExecutionStatus", "?")
        if status != last_status:
            print(f"{_when(datetime.now(timezone.utc))}  execution {status}", flush=True)
            last_status = status
        for name, state in _step_states(steps).items():
            if seen.get(name) != state:
                print(f"{_when(datetime.now(timezone.utc))}  {name}: {state}", flush=True)
                seen[name] = state
        if status in FINAL_STATUSES:
            sys.stdout.write("\n" + render_execution(execution, steps, region, note))
            return 0 if status == "Succeeded" else 1
        if timeout and time.monotonic() - started > timeout:
            print(f"still {status} after {timeout:.0f}s: stopped waiting (the execution goes on; "
                  f"run `myflix pipeline wait` again)", file=sys.stderr)
            return 3
        time.sleep(poll)


def cmd_wait(args: argparse.Namespace) -> int:
    if args.local:
        workdir = Path(args.workdir)
        # The local runner may still be running in another terminal: poll its record.
        return wait(lambda: (*_describe_local(workdir, args.execution), ""),
                    poll=min(args.poll, 2.0), timeout=args.timeout)
    resolved = _settings(args, "region")
    client = _sagemaker(resolved)
    with _user_errors("finding the execution"):
        arn = _execution_arn(client, resolved, args.execution)
    return wait(lambda: _describe_cloud(resolved, arn, client), resolved.region, args.poll, args.timeout)


def render_list(summaries: list[dict]) -> str:
    if not summaries:
        return "no executions yet\n"
    lines = [f"{'STATUS':<10}  {'STARTED':<20}  {'NAME':<28}  EXECUTION"]
    for item in summaries:
        arn = item.get("PipelineExecutionArn", "")
        lines.append(f"{item.get('PipelineExecutionStatus', '?'):<10}  {_when(item.get('StartTime')):<20}  "
                     f"{(item.get('PipelineExecutionDisplayName') or '-')[:28]:<28}  {arn}")
        if item.get("PipelineExecutionFailureReason") not in (None, "", "None"):
            lines.append(f"{'':<10}  reason: {item['PipelineExecutionFailureReason']}")
    return "\n".join(lines) + "\n"


def cmd_list(args: argparse.Namespace) -> int:
    if args.local:
        summaries = _local_module().list_executions(Path(args.workdir))[: args.max]
        sys.stdout.write(render_list(summaries))
        return 0
    resolved = _settings(args, "region")
    client = _sagemaker(resolved)
    with _user_errors(f"listing executions of {resolved.pipeline_name}"):
        found = client.list_pipeline_executions(PipelineName=resolved.pipeline_name,
                                                SortBy="CreationTime", SortOrder="Descending",
                                                MaxResults=args.max)
    sys.stdout.write(render_list(found.get("PipelineExecutionSummaries", [])))
    return 0


def deployed_definition(resolved: settings_mod.Settings) -> str:
    from botocore.exceptions import ClientError

    from operations import aws
    client = _sagemaker(resolved)
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


def cmd_diff(args: argparse.Namespace) -> int:
    resolved = _settings(args, "region", "role", "bucket")
    local = _definition(resolved)
    text = unified_diff(deployed_definition(resolved), local, resolved.pipeline_name)
    if not text:
        print(f"no differences: {resolved.pipeline_name} in {resolved.region} matches the local definition")
        return 0
    sys.stdout.write(text)
    print("\n(differences found: `myflix pipeline upsert` deploys the local definition)",
          file=sys.stderr)
    return 1


def cmd_dag(args: argparse.Namespace) -> int:
    from studio import dag as dag_mod
    if args.definition_file:
        try:
            definition = json.loads(Path(args.definition_file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise UserError(f"cannot read the definition {args.definition_file}: {err}") from err
        title = Path(args.definition_file).name
    else:
        resolved = _offline_settings(args)
        definition = json.loads(_definition(resolved))
        title = resolved.pipeline_name
    try:
        graph = dag_mod.build_dag(definition)
    except ValueError as err:
        raise UserError(str(err)) from err
    shown = graph if args.all_edges else graph.reduced()
    mermaid = dag_mod.to_mermaid(shown)
    if args.mermaid:
        Path(args.mermaid).write_text(mermaid, encoding="utf-8")
        print(f"wrote {args.mermaid}", file=sys.stderr)
    else:
        sys.stdout.write(mermaid)
    if args.png:
        dag_mod.draw_png(shown, Path(args.png), title=title)
        print(f"wrote {args.png} ({len(graph.nodes)} steps)", file=sys.stderr)
    return 0


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
    from local_aws.registry import local_actor
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"{reason or f'{status} with myflix pipeline approve'} ({local_actor()}, {stamp})"[:1024]


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


def _print_metrics(uri: str | None, metrics: dict[str, Any]) -> None:
    if not metrics:
        print("no model quality metrics registered with this package")
        return
    shown = ", ".join(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
                      for name, value in metrics.items())
    print(f"model quality ({uri}): {shown}")


def cmd_approve(args: argparse.Namespace) -> int:
    resolved = _settings(args, "region")
    client = _sagemaker(resolved)
    from operations import aws
    with _user_errors(f"approving in model package group {args.group}"):
        arn = args.package_arn or latest_package(client, args.group)["ModelPackageArn"]
        package = client.describe_model_package(ModelPackageName=arn)
        before = package.get("ModelApprovalStatus")
        # What the reviewer decides on: Evaluate's metrics, read from the package itself.
        _print_metrics(*quality_metrics(aws.client(resolved.region, "s3"), package))
        if args.show:
            print(f"{arn}: {before} (unchanged: --show)")
            return 0
        client.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=args.status,
                                    ApprovalDescription=approval_description(args.status, args.reason))
    print(f"{arn}: {before} -> {args.status}")
    if args.status == "Approved":
        print("the registry's event starts the deployer: staging, then a smoke test, then prod "
              "(AutoPromote) or `myflix deploy promote`; follow it with `myflix deploy status`")
    elif args.status == "Rejected":
        print("if that package serves prod, the deployer rolls back to the previous approved one "
              "(`myflix deploy status` shows it)")
    return 0


# --- argument parsing --------------------------------------------------------------------------
def _common(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("account (else environment variables, else the config file)")
    group.add_argument("--region", help="AWS region ($MYFLIX_REGION, $AWS_REGION, $AWS_DEFAULT_REGION)")
    group.add_argument("--role", help="SageMaker execution role ARN ($MYFLIX_ROLE_ARN)")
    group.add_argument("--bucket", help="S3 bucket for code, data and outputs ($MYFLIX_BUCKET)")
    group.add_argument("--pipeline-name", help=f"pipeline name ($MYFLIX_PIPELINE_NAME; default {schema.PIPELINE_NAME})")


def _local_opts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--local", action="store_true",
                        help="read the local runner's executions instead of SageMaker")
    parser.add_argument("--workdir", default=".myflix", help="local runner work folder (default .myflix)")


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("pipeline", help="the SageMaker pipeline: definition, upsert, start, status, ...",
                                description="Build, deploy, run and inspect the MyFlix SageMaker pipeline.")
    sub = top.add_subparsers(dest="pipeline_command", metavar="SUBCOMMAND")
    top.set_defaults(func=lambda args: (top.print_help(), 2)[1])

    p = sub.add_parser("definition", help="print the pipeline definition JSON (offline)")
    _common(p)
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument("--compact", action="store_true", help="exactly what SageMaker receives (no indent)")
    p.add_argument("--local", action="store_true",
                   help="the definition `myflix run` executes (local bucket, region and role)")
    p.set_defaults(func=cmd_definition)

    p = sub.add_parser("upsert", help="upload the code bundle, then create or update the pipeline")
    _common(p)
    p.set_defaults(func=cmd_upsert)

    p = sub.add_parser("start", help="start an execution (-p name=value overrides parameters)")
    _common(p)
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="override a pipeline parameter (repeatable)")
    p.add_argument("--display-name", help="execution display name")
    p.add_argument("--wait", action="store_true", help="then wait for it to finish")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between checks (with --wait)")
    p.add_argument("--timeout", type=float, default=0.0, help="stop waiting after N seconds (0: never)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("status", help="an execution's steps, failure reasons and links (default: latest)")
    _common(p)
    _local_opts(p)
    p.add_argument("execution", nargs="?", help="execution ARN or id (default: the latest)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("wait", help="show progress until the execution ends; exit 0 only if it Succeeded")
    _common(p)
    _local_opts(p)
    p.add_argument("execution", nargs="?", help="execution ARN or id (default: the latest)")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between checks")
    p.add_argument("--timeout", type=float, default=0.0, help="stop waiting after N seconds (0: never)")
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("list", help="recent executions")
    _common(p)
    _local_opts(p)
    p.add_argument("--max", type=int, default=10, help="how many (default 10)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("diff", help="local definition vs the deployed one (exit 1 when they differ)")
    _common(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("dag", help="the DAG as Mermaid text (stdout) and a PNG (offline)")
    _common(p)
    p.add_argument("--png", default="pipeline-dag.png", help="PNG file (default pipeline-dag.png; '' for none)")
    p.add_argument("--mermaid", help="write the Mermaid text to this file instead of stdout")
    p.add_argument("--definition-file", help="draw this definition JSON instead of generating one")
    p.add_argument("--local", action="store_true",
                   help="draw the definition `myflix run` executes (no account settings needed)")
    p.add_argument("--all-edges", action="store_true",
                   help="draw every data dependency, not only the ones a longer path does not imply")
    p.set_defaults(func=cmd_dag)

    p = sub.add_parser("approve", help="set the approval status of the latest package in the group")
    _common(p)
    p.add_argument("--group", default=schema.MODEL_PACKAGE_GROUP,
                   help=f"model package group (default {schema.MODEL_PACKAGE_GROUP})")
    p.add_argument("--package-arn", help="this package instead of the latest")
    p.add_argument("--status", default="Approved", choices=["Approved", "Rejected", "PendingManualApproval"])
    p.add_argument("--reason", help="why (ApprovalDescription, with who and when)")
    p.add_argument("--show", action="store_true",
                   help="print the package's status and model quality metrics; change nothing")
    p.set_defaults(func=cmd_approve)
