"""`myflix pipeline schedule show|set|off`: the EventBridge Scheduler schedule that retrains MyFlix
(operations/schedule.py: one schedule, `<resource prefix>-retrain`, starting the pipeline with the
stack's scheduler role, with the pipeline's parameter defaults unless `-p NAME=VALUE` are given).
"""
from __future__ import annotations

import argparse
from typing import Any

from cli import options
from operations import schedule
from operations.schedule import DEFAULT_SCHEDULE_NAME, NAME_KEY, ROLE_KEY


def cmd_show(args: argparse.Namespace) -> int:
    print(schedule.show(args.region, args.pipeline_name, args.name))
    return 0


def cmd_set(args: argparse.Namespace) -> int:
    print(schedule.set_schedule(args.region, args.pipeline_name, args.name, args.expression, args.timezone,
                                args.role_arn, args.param))
    return 0


def cmd_off(args: argparse.Namespace) -> int:
    print(schedule.turn_off(args.region, args.pipeline_name, args.name))
    return 0


def add_commands(subparsers: Any) -> None:
    pipeline_sub = options.subcommands_of(subparsers, "pipeline")
    if pipeline_sub is None:          # cli.cmd_pipeline is not loaded: nothing to hang off
        return
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
    options.params(p, "a pipeline parameter for the scheduled runs (repeatable)")
    p.set_defaults(func=cmd_set)
    p = sub.add_parser("off", help="disable the schedule (kept; `set` turns it on again)")
    common(p)
    p.set_defaults(func=cmd_off)
