"""`myflix pipeline ...`: the MLOps engineer's commands for the SageMaker pipeline.

definition | upsert | start | status | wait | list | diff | dag | approve. Region, role, bucket
and pipeline name come from options, environment or the config file (operations/settings.py).
`definition` and `dag` never touch the network; `status`, `wait` and `list` also read the local
runner's executions with `--local`.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli import options
from operations import approval, definitions, executions
from operations import settings as settings_mod
from operations.errors import UserError
from steps import schema


def cmd_definition(args: argparse.Namespace) -> int:
    text = definitions.build(definitions.offline_settings(args))
    out = text if args.compact else definitions.pretty(text)
    if args.output:
        Path(args.output).write_text(out, encoding="utf-8")
        print(f"wrote {args.output} ({len(out):,} bytes, {len(json.loads(text)['Steps'])} "
              f"top-level steps)", file=sys.stderr)
    else:
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0


def cmd_upsert(args: argparse.Namespace) -> int:
    definitions.upsert(settings_mod.from_args(args, "region", "role", "bucket"), log=print)
    print("next: myflix pipeline start   (then: myflix pipeline wait)")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    resolved = settings_mod.from_args(args, "region", "bucket")
    arn, overrides = executions.start_execution(resolved, args.param, args.display_name, log=print)
    print(f"started {arn}")
    for name, value in overrides.items():
        print(f"  {name} = {value}")
    if args.wait:
        return executions.wait(lambda: executions.describe_cloud(resolved, arn), resolved.region,
                               args.poll, args.timeout)
    print("follow it: myflix pipeline wait   (or: myflix pipeline status)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if args.local:
        execution, steps = executions.describe_local(args.workdir, args.execution)
        sys.stdout.write(executions.render_execution(execution, steps))
        return 0
    resolved = settings_mod.from_args(args, "region")
    execution, steps, note = executions.describe_cloud(resolved, args.execution)
    sys.stdout.write(executions.render_execution(execution, steps, resolved.region, note))
    return 0


def cmd_wait(args: argparse.Namespace) -> int:
    if args.local:
        return executions.wait_local(Path(args.workdir), args.execution, args.poll, args.timeout)
    resolved = settings_mod.from_args(args, "region")
    return executions.wait_cloud(resolved, args.execution, args.poll, args.timeout)


def cmd_list(args: argparse.Namespace) -> int:
    if args.local:
        summaries = executions.list_local(Path(args.workdir), args.max)
    else:
        summaries = executions.list_cloud(settings_mod.from_args(args, "region"), args.max)
    sys.stdout.write(executions.render_list(summaries))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    resolved = settings_mod.from_args(args, "region", "role", "bucket")
    text = definitions.diff(resolved)
    if not text:
        print(f"no differences: {resolved.pipeline_name} in {resolved.region} matches the local definition")
        return 0
    sys.stdout.write(text)
    print("\n(differences found: `myflix pipeline upsert` deploys the local definition)",
          file=sys.stderr)
    return 1


def cmd_dag(args: argparse.Namespace) -> int:
    from studio import dag as dag_mod  # function-local: importing studio loads the whole Studio app
    if args.definition_file:
        definition = definitions.read_definition_file(args.definition_file)
        title = Path(args.definition_file).name
    else:
        resolved = definitions.offline_settings(args)
        definition = json.loads(definitions.build(resolved))
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


def cmd_approve(args: argparse.Namespace) -> int:
    arn, before = approval.approve_cloud(settings_mod.from_args(args, "region"), args.group, args.package_arn,
                                         args.status, args.reason, show=args.show, log=print)
    if args.show:
        print(f"{arn}: {before} (unchanged: --show)")
        return 0
    print(f"{arn}: {before} -> {args.status}")
    if args.status == "Approved":
        print("the registry's event starts the deployer: staging, then a smoke test, then prod "
              "(AutoPromote) or `myflix deploy promote`; follow it with `myflix deploy status`")
    elif args.status == "Rejected":
        print("if that package serves prod, the deployer rolls back to the previous approved one "
              "(`myflix deploy status` shows it)")
    return 0


# --- argument parsing --------------------------------------------------------------------------
def add_commands(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("pipeline", help="the SageMaker pipeline: definition, upsert, start, status, ...",
                                description="Build, deploy, run and inspect the MyFlix SageMaker pipeline.")
    sub = top.add_subparsers(dest="pipeline_command", metavar="SUBCOMMAND")
    top.set_defaults(func=lambda args: (top.print_help(), 2)[1])

    p = sub.add_parser("definition", help="print the pipeline definition JSON (offline)")
    options.account(p)
    p.add_argument("-o", "--output", help="write to this file instead of stdout")
    p.add_argument("--compact", action="store_true", help="exactly what SageMaker receives (no indent)")
    p.add_argument("--local", action="store_true",
                   help="the definition `myflix run` executes (local bucket, region and role)")
    p.set_defaults(func=cmd_definition)

    p = sub.add_parser("upsert", help="upload the code bundle, then create or update the pipeline")
    options.account(p)
    p.set_defaults(func=cmd_upsert)

    p = sub.add_parser("start", help="start an execution (-p name=value overrides parameters)")
    options.account(p)
    options.params(p)
    p.add_argument("--display-name", help="execution display name")
    p.add_argument("--wait", action="store_true", help="then wait for it to finish")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between checks (with --wait)")
    p.add_argument("--timeout", type=float, default=0.0, help="stop waiting after N seconds (0: never)")
    p.set_defaults(func=cmd_start)

    p = sub.add_parser("status", help="an execution's steps, failure reasons and links (default: latest)")
    options.account(p)
    options.local_executions(p)
    p.add_argument("execution", nargs="?", help="execution ARN or id (default: the latest)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("wait", help="show progress until the execution ends; exit 0 only if it Succeeded")
    options.account(p)
    options.local_executions(p)
    p.add_argument("execution", nargs="?", help="execution ARN or id (default: the latest)")
    p.add_argument("--poll", type=float, default=30.0, help="seconds between checks")
    p.add_argument("--timeout", type=float, default=0.0, help="stop waiting after N seconds (0: never)")
    p.set_defaults(func=cmd_wait)

    p = sub.add_parser("list", help="recent executions")
    options.account(p)
    options.local_executions(p)
    p.add_argument("--max", type=int, default=10, help="how many (default 10)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("diff", help="local definition vs the deployed one (exit 1 when they differ)")
    options.account(p)
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("dag", help="the DAG as Mermaid text (stdout) and a PNG (offline)")
    options.account(p)
    p.add_argument("--png", default="pipeline-dag.png", help="PNG file (default pipeline-dag.png; '' for none)")
    p.add_argument("--mermaid", help="write the Mermaid text to this file instead of stdout")
    p.add_argument("--definition-file", help="draw this definition JSON instead of generating one")
    p.add_argument("--local", action="store_true",
                   help="draw the definition `myflix run` executes (no account settings needed)")
    p.add_argument("--all-edges", action="store_true",
                   help="draw every data dependency, not only the ones a longer path does not imply")
    p.set_defaults(func=cmd_dag)

    p = sub.add_parser("approve", help="set the approval status of the latest package in the group")
    options.account(p)
    p.add_argument("--group", default=schema.MODEL_PACKAGE_GROUP,
                   help=f"model package group (default {schema.MODEL_PACKAGE_GROUP})")
    p.add_argument("--package-arn", help="this package instead of the latest")
    p.add_argument("--status", default="Approved", choices=["Approved", "Rejected", "PendingManualApproval"])
    p.add_argument("--reason", help="why (ApprovalDescription, with who and when)")
    p.add_argument("--show", action="store_true",
                   help="print the package's status and model quality metrics; change nothing")
    p.set_defaults(func=cmd_approve)
