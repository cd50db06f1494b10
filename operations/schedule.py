"""The EventBridge Scheduler schedule that retrains MyFlix (`myflix pipeline schedule show|set|off`).

One schedule, `<resource prefix>-retrain` in the default group (the stack's `RetrainScheduleName`
output; `myflix-retrain` by default), starts the pipeline with the stack's scheduler role (the
`RetrainSchedulerRoleArn` output: it may only StartPipelineExecution on this pipeline). `set`
creates the schedule, or updates it in place (the stack's RetrainSchedule parameter creates the
same schedule: use one or the other); `off` disables it (kept, so `set` turns it back on); `show`
prints it. Targets the SageMaker Pipelines templated target, so scheduled runs use the pipeline's
parameter defaults (Ingest downloads IMDb's current files) unless `-p NAME=VALUE` are given (checked
by pipeline/parameters.py's one parser, then against the deployed pipeline's parameters).
"""
from __future__ import annotations

import json
import re
from typing import Any

from operations import aws
from operations import settings as settings_mod
from operations.errors import UserError
from pipeline.parameters import ParameterError, parse_overrides

DEFAULT_SCHEDULE_NAME = "myflix-retrain"
EXPRESSION = re.compile(r"^(cron|rate|at)\(.+\)$")
RETRY_POLICY = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
# Config file keys (myflix config from-stack writes them from the stack outputs of the same name).
NAME_KEY = "retrain_schedule_name"
ROLE_KEY = "retrain_scheduler_role_arn"


# --- pure helpers ---------------------------------------------------------------------------
def check_expression(expression: str) -> str:
    text = (expression or "").strip()
    if not EXPRESSION.match(text):
        raise UserError(f"{expression!r} is not a schedule expression: use cron(minutes hours day-of-month "
                        "month day-of-week year), e.g. 'cron(0 3 ? * SUN *)', or rate(7 days)")
    return text


def parse_params(items: list[str]) -> list[dict[str, str]]:
    """`-p NAME=VALUE` for the scheduled runs, through the one parser (unknown names with "did you
    mean", types, allowed values; an empty value only where the default is empty, and then left out)."""
    try:
        values = parse_overrides(items)
    except ParameterError as err:
        raise UserError(str(err)) from None
    return [{"Name": name, "Value": value} for name, value in values.items()]


def schedule_request(name: str, expression: str, timezone: str, pipeline_arn: str, role_arn: str,
                     parameters: list[dict[str, str]], state: str = "ENABLED") -> dict[str, Any]:
    """CreateSchedule/UpdateSchedule arguments for the retrain schedule (pure)."""
    return {"Name": name, "ScheduleExpression": expression, "ScheduleExpressionTimezone": timezone,
            "FlexibleTimeWindow": {"Mode": "OFF"}, "State": state,
            "Description": "Starts the MyFlix pipeline (set by myflix pipeline schedule)",
            "Target": {"Arn": pipeline_arn, "RoleArn": role_arn, "RetryPolicy": dict(RETRY_POLICY),
                       "SageMakerPipelineParameters": {"PipelineParameterList": parameters}}}


def update_request(current: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """UpdateSchedule replaces the whole schedule: the current one with `changes` applied (pure)."""
    keep = ("Name", "GroupName", "ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow",
            "State", "Description", "Target", "StartDate", "EndDate", "KmsKeyArn", "ActionAfterCompletion")
    request = {k: current[k] for k in keep if current.get(k) is not None}
    request.update(changes)
    return request


def describe(schedule: dict[str, Any] | None, name: str) -> str:
    if schedule is None:
        return (f"no retrain schedule {name}: create one with "
                "`myflix pipeline schedule set 'cron(0 3 ? * SUN *)'` (or the stack's RetrainSchedule parameter)")
    target = schedule.get("Target") or {}
    params = ((target.get("SageMakerPipelineParameters") or {}).get("PipelineParameterList") or [])
    lines = [f"schedule   {schedule['Name']} ({schedule.get('State')})",
             f"when       {schedule.get('ScheduleExpression')} {schedule.get('ScheduleExpressionTimezone') or 'UTC'}",
             f"starts     {target.get('Arn')}",
             f"as role    {target.get('RoleArn')}",
             "parameters " + (", ".join(f"{p['Name']}={p['Value']}" for p in params) or "the pipeline's defaults")]
    if schedule.get("LastModificationDate"):
        lines.append(f"changed    {schedule['LastModificationDate']}")
    return "\n".join(lines)


# --- what the commands do -------------------------------------------------------------------
def context(region: str | None, pipeline_name: str | None,
            name: str | None) -> tuple[Any, str, dict[str, Any]]:
    """(boto3 session, the schedule's name, {settings, config}): the name from the option, the config
    file (`myflix config from-stack` writes it) or the default."""
    resolved = settings_mod.resolve({"region": region, "pipeline_name": pipeline_name})
    resolved.require("region")
    config = settings_mod.load_config()
    name = name or config.get(NAME_KEY) or DEFAULT_SCHEDULE_NAME
    return aws.session(resolved.region), name, {"settings": resolved, "config": config}


def _get(scheduler: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError  # lazily: botocore costs every command's start-up
    try:
        return scheduler.get_schedule(Name=name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def show(region: str | None, pipeline_name: str | None, name: str | None) -> str:
    """The schedule, described (or how to create one)."""
    session, name, _ = context(region, pipeline_name, name)
    with aws.user_errors(f"reading the schedule {name}"):
        return describe(_get(session.client("scheduler"), name), name)


def set_schedule(region: str | None, pipeline_name: str | None, name: str | None, expression: str,
                 timezone: str, role_arn: str | None, params: list[str]) -> str:
    """Create or update the schedule and turn it on; what it is now, described."""
    expression = check_expression(expression)
    parameters = parse_params(params)
    session, name, ctx = context(region, pipeline_name, name)
    scheduler = session.client("scheduler")
    with aws.user_errors(f"setting the schedule {name}"):
        current = _get(scheduler, name)
        pipeline_name = ctx["settings"].pipeline_name
        described = session.client("sagemaker").describe_pipeline(PipelineName=pipeline_name)
        pipeline_arn = described["PipelineArn"]
        if parameters:   # names the spec knows but an older deployed pipeline does not
            definition = json.loads(described.get("PipelineDefinition") or "{}")
            declared = {p["Name"] for p in definition.get("Parameters", [])}
            unknown = sorted({p["Name"] for p in parameters} - declared) if declared else []
            if unknown:
                raise UserError(f"unknown pipeline parameter(s) {', '.join(unknown)}: the pipeline has "
                                f"{', '.join(sorted(declared))}")
        role = role_arn or ((current or {}).get("Target") or {}).get("RoleArn") or ctx["config"].get(ROLE_KEY)
        if not role:
            raise UserError("no role for the schedule: pass --role-arn (the stack output RetrainSchedulerRoleArn), "
                            f"or run `myflix config from-stack <stack>` so \"{ROLE_KEY}\" is in the config file")
        wanted = schedule_request(name, expression, timezone, pipeline_arn, role, parameters)
        if current is None:
            scheduler.create_schedule(**wanted)
            verb = "created"
        else:
            scheduler.update_schedule(**update_request(current, **{k: v for k, v in wanted.items() if k != "Name"}))
            verb = "updated"
        return f"{verb} the retrain schedule\n" + describe(scheduler.get_schedule(Name=name), name)


def turn_off(region: str | None, pipeline_name: str | None, name: str | None) -> str:
    """Disable the schedule (kept); what happened, in words."""
    session, name, _ = context(region, pipeline_name, name)
    scheduler = session.client("scheduler")
    with aws.user_errors(f"disabling the schedule {name}"):
        current = _get(scheduler, name)
        if current is None:
            return f"no retrain schedule {name}: nothing to turn off"
        if current.get("State") == "DISABLED":
            return f"the retrain schedule {name} is already off"
        scheduler.update_schedule(**update_request(current, State="DISABLED"))
        return ("turned the retrain schedule off (kept: `myflix pipeline schedule set EXPRESSION` turns it on)\n"
                + describe(scheduler.get_schedule(Name=name), name))
