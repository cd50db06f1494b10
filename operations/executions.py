"""SageMaker pipeline executions, cloud and local: start, describe, wait, list, and their text.

Cloud executions through the SageMaker API (region and pipeline from operations/settings.py);
local ones from the local runner's records (`<workdir>/executions/`, local_runner/executions.py).
`render_execution` and `render_list` are the status texts `myflix pipeline status|wait|list` print.
"""
from __future__ import annotations

import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from local_runner import executions as local_executions
from local_runner.executions import shown_status
from operations import aws, inputs
from operations import settings as settings_mod
from operations.errors import UserError
from pipeline.parameters import ParameterError, parameter_defaults, parse_overrides

FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")


def sagemaker(resolved: settings_mod.Settings) -> Any:
    """The SageMaker client for the account's region (a UserError when there are no credentials)."""
    return aws.client(resolved.region, "sagemaker")


def when(value: Any) -> str:
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


def duration(start: Any, end: Any) -> str:
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
    ended = (execution.get("EndTime")
             or (execution.get("LastModifiedTime")
                 if execution.get("PipelineExecutionStatus") in FINAL_STATUSES else None))
    lines = [
        f"Execution  {execution.get('PipelineExecutionArn', '-')}",
        f"Name       {execution.get('PipelineExecutionDisplayName') or '-'}",
        f"Status     {execution.get('PipelineExecutionStatus', '-')}   started "
        f"{when(execution.get('StartTime') or execution.get('CreationTime'))}   ended "
        f"{when(ended)}",
    ]
    overrides = execution.get("PipelineParameters") or []
    if overrides:
        lines.append("Parameters " + ", ".join(f"{p.get('Name')}={p.get('Value')}" for p in overrides))
    if execution.get("FailureReason") not in (None, "", "None"):
        lines.append(f"Failure    {execution['FailureReason']}")
    if region and execution.get("PipelineExecutionArn", "").startswith("arn:aws:sagemaker"):
        pipeline = execution.get("PipelineExecutionArn", "").split(":pipeline/")[-1].split("/")[0]
        lines.append("Studio     Pipelines > " + pipeline + " > Executions shows the same DAG and per-step logs")
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
        took = duration(step.get("StartTime"), step.get("EndTime")) if step.get("StartTime") else ""
        cached = " (cached)" if step.get("CacheHitResult") else ""
        shown = shown_status(step["StepStatus"], step.get("FailureReason")) if step.get("StepStatus") else "?"
        lines.append(f"{step.get('StepName', '?'):<{width}}  {shown:<10}  "
                     f"{when(step.get('StartTime')):<20}  {took:>7}  "
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
def latest_execution_arn(client: Any, pipeline_name: str) -> str:
    found = client.list_pipeline_executions(PipelineName=pipeline_name, SortBy="CreationTime",
                                            SortOrder="Descending", MaxResults=1)
    summaries = found.get("PipelineExecutionSummaries", [])
    if not summaries:
        raise UserError(f"pipeline {pipeline_name} has no executions yet: run "
                        f"`myflix pipeline start`")
    return summaries[0]["PipelineExecutionArn"]


def execution_arn(client: Any, resolved: settings_mod.Settings, given: str | None) -> str:
    if not given:
        return latest_execution_arn(client, resolved.pipeline_name)
    if given.startswith("arn:"):
        return given
    # An execution id: build the ARN from the pipeline's.
    pipeline_arn = client.describe_pipeline(PipelineName=resolved.pipeline_name)["PipelineArn"]
    return f"{pipeline_arn}/execution/{given}"


def cloud_steps(client: Any, execution_arn: str) -> tuple[list[dict] | None, str]:
    """Steps of a cloud execution in run order, or (None, why) when the service cannot list them."""
    from botocore.exceptions import ClientError  # lazily: botocore costs every command's start-up
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


def describe_cloud(resolved: settings_mod.Settings, given: str | None,
                    client: Any = None) -> tuple[dict, list | None, str]:
    client = client or sagemaker(resolved)
    with aws.user_errors("describing the pipeline execution"):
        arn = execution_arn(client, resolved, given)
        execution = dict(client.describe_pipeline_execution(PipelineExecutionArn=arn))
        steps, note = cloud_steps(client, arn)
        try:
            execution["PipelineParameters"] = client.list_pipeline_parameters_for_execution(
                PipelineExecutionArn=arn).get("PipelineParameters", [])
        except Exception:  # noqa: BLE001 - the parameters are a nicety; the status matters
            pass
    return execution, steps, note


def describe_local(workdir: Path, given: str | None) -> tuple[dict, list]:
    try:
        described = local_executions.describe_execution(Path(workdir), given)
    except LookupError as err:
        raise UserError(str(err)) from err
    steps = described.pop("Steps", [])
    return described, steps


def start(resolved: settings_mod.Settings, overrides: dict[str, str],
          display_name: str | None = None) -> str:
    client = sagemaker(resolved)
    request: dict[str, Any] = {
        "PipelineName": resolved.pipeline_name,
        "PipelineParameters": [{"Name": k, "Value": v} for k, v in overrides.items()],
        "PipelineExecutionDescription": "started by myflix pipeline start",
    }
    if display_name:
        request["PipelineExecutionDisplayName"] = display_name
    with aws.user_errors(f"starting pipeline {resolved.pipeline_name}"):
        try:
            response = client.start_pipeline_execution(**request)
        except Exception as err:  # a missing pipeline deserves the next step, not the raw error
            text = str(err)
            if any(hint in text for hint in ("does not exist", "ResourceNotFound", "Could not find pipeline")):
                raise UserError(f"pipeline {resolved.pipeline_name} does not exist in "
                                f"{resolved.region}: run `myflix pipeline upsert` first") from err
            raise
    return response["PipelineExecutionArn"]


def input_version(resolved: settings_mod.Settings, values: dict[str, Any]) -> str:
    """What the inputs are now (operations/inputs.py), so Ingest's cache key follows the data."""
    with aws.user_errors("reading what the input files are (ETag/version)"):
        return inputs.input_version(aws.client(resolved.region, "s3"), str(values.get("basics_uri") or ""),
                                    str(values.get("ratings_uri") or ""),
                                    str(values.get("imdb_base_url") or ""))


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
            print(f"{when(datetime.now(timezone.utc))}  execution {status}", flush=True)
            last_status = status
        for name, state in _step_states(steps).items():
            if seen.get(name) != state:
                print(f"{when(datetime.now(timezone.utc))}  {name}: {state}", flush=True)
                seen[name] = state
        if status in FINAL_STATUSES:
            sys.stdout.write("\n" + render_execution(execution, steps, region, note))
            return 0 if status == "Succeeded" else 1
        if timeout and time.monotonic() - started > timeout:
            print(f"still {status} after {timeout:.0f}s: stopped waiting (the execution goes on; "
                  f"run `myflix pipeline wait` again)", file=sys.stderr)
            return 3
        time.sleep(poll)


def render_list(summaries: list[dict]) -> str:
    if not summaries:
        return "no executions yet\n"
    lines = [f"{'STATUS':<10}  {'STARTED':<20}  {'NAME':<28}  EXECUTION"]
    for item in summaries:
        arn = item.get("PipelineExecutionArn", "")
        lines.append(f"{item.get('PipelineExecutionStatus', '?'):<10}  {when(item.get('StartTime')):<20}  "
                     f"{(item.get('PipelineExecutionDisplayName') or '-')[:28]:<28}  {arn}")
        if item.get("PipelineExecutionFailureReason") not in (None, "", "None"):
            lines.append(f"{'':<10}  reason: {item['PipelineExecutionFailureReason']}")
    return "\n".join(lines) + "\n"


def start_execution(resolved: settings_mod.Settings, pairs: list[str], display_name: str | None = None,
                    log: Callable[[str], None] = print) -> tuple[str, dict[str, str]]:
    """`-p NAME=VALUE` checked (the one parser), input_version filled in from what the inputs are
    now, then StartPipelineExecution: (execution ARN, the parameters sent)."""
    defaults = parameter_defaults(resolved.bucket or "")
    try:
        overrides = parse_overrides(pairs)
    except ParameterError as err:
        raise UserError(str(err)) from None
    if "input_version" not in overrides and "input_version" in defaults:
        version = input_version(resolved, {**defaults, **overrides})
        if version:
            overrides["input_version"] = version
        else:
            log("input_version unknown (the download's server names no ETag/Last-Modified): "
                "Ingest's 12-hour cache applies")
    return start(resolved, overrides, display_name), overrides


def list_cloud(resolved: settings_mod.Settings, most: int) -> list[dict]:
    """The pipeline's latest executions in the account, newest first."""
    client = sagemaker(resolved)
    with aws.user_errors(f"listing executions of {resolved.pipeline_name}"):
        found = client.list_pipeline_executions(PipelineName=resolved.pipeline_name,
                                                SortBy="CreationTime", SortOrder="Descending",
                                                MaxResults=most)
    return found.get("PipelineExecutionSummaries", [])


def list_local(workdir: Path, most: int) -> list[dict]:
    """The local runner's executions in `workdir`, newest first."""
    return local_executions.list_executions(Path(workdir))[:most]


def wait_cloud(resolved: settings_mod.Settings, given: str | None, poll: float, timeout: float) -> int:
    """`wait` on a cloud execution (default: the latest)."""
    client = sagemaker(resolved)
    with aws.user_errors("finding the execution"):
        arn = execution_arn(client, resolved, given)
    return wait(lambda: describe_cloud(resolved, arn, client), resolved.region, poll, timeout)


def wait_local(workdir: Path, given: str | None, poll: float, timeout: float) -> int:
    """`wait` on a local execution: the runner may still be running in another terminal."""
    return wait(lambda: (*describe_local(Path(workdir), given), ""), poll=min(poll, 2.0), timeout=timeout)
