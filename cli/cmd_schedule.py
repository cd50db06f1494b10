"""`myflix pipeline schedule show|set|off`: the EventBridge Scheduler schedule that retrains MyFlix.

One schedule, `<resource prefix>-retrain` in the default group (the stack's `RetrainScheduleName`
output; `myflix-retrain` by default), starts the pipeline with the stack's scheduler role (the
`RetrainSchedulerRoleArn` output: it may only StartPipelineExecution on this pipeline). `set`
creates the schedule, or updates it in place (the stack's RetrainSchedule parameter creates the
same schedule: use one or the other); `off` disables it (kept, so `set` turns it back on); `show`
prints it. Targets the SageMaker Pipelines templated target, so scheduled runs use the pipeline's
parameter defaults (Ingest downloads IMDb's current files) unless `-p NAME=VALUE` are given.
"""
from __future__ import annotations

import argparse
import json
import re
from typing import Any

DEFAULT_SCHEDULE_NAME = "myflix-retrain"
EXPRESSION = re.compile(r"^(cron|rate|at)\(.+\)$")
RETRY_POLICY = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
# Config file keys (myflix config from-stack writes them from the stack outputs of the same name).
NAME_KEY = "retrain_schedule_name"
ROLE_KEY = "retrain_scheduler_role_arn"


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.choices.get("pipeline")
    if top is None:          # cli.cmd_pipeline is not loaded: nothing to hang off
        return
    pipeline_sub = next(a for a in top._actions if isinstance(a, argparse._SubParsersAction))
    parser = pipeline_sub.add_parser(
        "schedule", help="the retrain schedule (EventBridge Scheduler): show | set EXPRESSION | off",
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  myflix pipeline schedule show\n"
               "  myflix pipeline schedule set 'cron(0 3 ? * SUN *)'     (Sundays 03:00 UTC)\n"
               "  myflix pipeline schedule set 'rate(1 day)' -p max_similar_churn=0.05\n"
               "  myflix pipeline schedule off")
    sub = parser.add_subparsers(dest="schedule_command", metavar="show|set|off")
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--region", help="AWS region ($MYFLIX_REGION, $AWS_REGION, $AWS_DEFAULT_REGION)")
        p.add_argument("--pipeline-name", help="pipeline name ($MYFLIX_PIPELINE_NAME)")
        p.add_argument("--name", help=f"schedule name (config \"{NAME_KEY}\"; default {DEFAULT_SCHEDULE_NAME})")

    p = sub.add_parser("show", help="print the schedule: expression, state, target, parameters")
    common(p)
    p.set_defaults(func=cmd_show)
    p = sub.add_parser("set", help="create or update the schedule, and turn it on")
    common(p)
    p.add_argument("expression", help="cron(...), rate(...) or at(...), EventBridge Scheduler syntax")
    p.add_argument("--timezone", default="UTC", help="time zone of a cron expression (default UTC)")
    p.add_argument("--role-arn", help=f"role the schedule starts the pipeline with (config \"{ROLE_KEY}\": "
                                      "the stack output RetrainSchedulerRoleArn)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                   help="a pipeline parameter for the scheduled runs (repeatable)")
    p.set_defaults(func=cmd_set)
    p = sub.add_parser("off", help="disable the schedule (kept; `set` turns it on again)")
    common(p)
    p.set_defaults(func=cmd_off)


# --- pure helpers ---------------------------------------------------------------------------
def check_expression(expression: str) -> str:
    from cli.main import UserError
    text = (expression or "").strip()
    if not EXPRESSION.match(text):
        raise UserError(f"{expression!r} is not a schedule expression: use cron(minutes hours day-of-month "
                        "month day-of-week year), e.g. 'cron(0 3 ? * SUN *)', or rate(7 days)")
    return text


def parse_params(items: list[str]) -> list[dict[str, str]]:
    from cli.main import UserError
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"-p {item!r}: write parameters as NAME=VALUE")
        if value == "":
            # Scheduler (and StartPipelineExecution) refuse an empty value: the parameter's default
            # is what the schedule gets without it.
            raise UserError(f"-p {name.strip()}=: an empty value is refused by Scheduler and SageMaker; "
                            f"omit -p {name.strip()} to use the pipeline's default")
        out.append({"Name": name.strip(), "Value": value})
    from pipeline.definition import ParameterError, check_parameters
    try:
        check_parameters({p["Name"]: p["Value"] for p in out}, strict=False)   # names: the deployed pipeline
    except ParameterError as err:
        raise UserError(f"-p {err}") from None
    return out


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


# --- the commands ---------------------------------------------------------------------------
def _context(args: argparse.Namespace) -> tuple[Any, str, dict[str, Any]]:
    from operations import aws, settings
    resolved = settings.resolve({"region": args.region, "pipeline_name": args.pipeline_name})
    resolved.require("region")
    config = settings.load_config()
    name = args.name or config.get(NAME_KEY) or DEFAULT_SCHEDULE_NAME
    return aws.session(resolved.region), name, {"settings": resolved, "config": config}


def _get(scheduler: Any, name: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError
    try:
        return scheduler.get_schedule(Name=name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def cmd_show(args: argparse.Namespace) -> int:
    from operations import aws
    session, name, _ = _context(args)
    with aws.user_errors(f"reading the schedule {name}"):
        print(describe(_get(session.client("scheduler"), name), name))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    from operations import aws
    from cli.main import UserError
    expression = check_expression(args.expression)
    parameters = parse_params(args.param)
    session, name, ctx = _context(args)
    scheduler = session.client("scheduler")
    with aws.user_errors(f"setting the schedule {name}"):
        current = _get(scheduler, name)
        pipeline_name = ctx["settings"].pipeline_name
        described = session.client("sagemaker").describe_pipeline(PipelineName=pipeline_name)
        pipeline_arn = described["PipelineArn"]
        if parameters:
            declared = {p["Name"] for p in json.loads(described.get("PipelineDefinition") or "{}").get("Parameters", [])}
            unknown = sorted({p["Name"] for p in parameters} - declared) if declared else []
            if unknown:
                raise UserError(f"unknown pipeline parameter(s) {', '.join(unknown)}: the pipeline has "
                                f"{', '.join(sorted(declared))}")
        role = args.role_arn or ((current or {}).get("Target") or {}).get("RoleArn") or ctx["config"].get(ROLE_KEY)
        if not role:
            raise UserError("no role for the schedule: pass --role-arn (the stack output RetrainSchedulerRoleArn), "
                            f"or run `myflix config from-stack <stack>` so \"{ROLE_KEY}\" is in the config file")
        wanted = schedule_request(name, expression, args.timezone, pipeline_arn, role, parameters)
        if current is None:
            scheduler.create_schedule(**wanted)
            verb = "created"
        else:
            scheduler.update_schedule(**update_request(current, **{k: v for k, v in wanted.items() if k != "Name"}))
            verb = "updated"
        print(f"{verb} the retrain schedule\n" + describe(scheduler.get_schedule(Name=name), name))
    return 0


def cmd_off(args: argparse.Namespace) -> int:
    from operations import aws
    session, name, _ = _context(args)
    scheduler = session.client("scheduler")
    with aws.user_errors(f"disabling the schedule {name}"):
        current = _get(scheduler, name)
        if current is None:
            print(f"no retrain schedule {name}: nothing to turn off")
            return 0
        if current.get("State") == "DISABLED":
            print(f"the retrain schedule {name} is already off")
            return 0
        scheduler.update_schedule(**update_request(current, State="DISABLED"))
        print(f"turned the retrain schedule off (kept: `myflix pipeline schedule set EXPRESSION` turns it on)\n"
              + describe(scheduler.get_schedule(Name=name), name))
    return 0
