"""`myflix pipeline report`: an execution's step reports with their plots, on this machine.

No job draws a plot (the SKLearn image has no matplotlib): the steps write their figures' data into
JSON. For a cloud execution this command downloads those JSON files from the execution's output
prefix, `s3://<bucket>/runs/<pipeline>/<execution id>/<step>/<output>/`, and draws the PNGs beside
them (operations/reports.py: the one list of report files), as the local runner does after each
local step. `--local` reads the local runner's work folder instead.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli import options
from operations import aws, executions, reports
from operations import settings as settings_mod
from operations.errors import UserError
from steps import schema


def cmd_report(args: argparse.Namespace) -> int:
    if args.local:
        _execution, steps = executions.describe_local(Path(args.workdir), args.execution)
        folders = reports.local_folders(Path(args.workdir), steps)
        drawn = reports.draw(folders)
        files = [p for folder in folders for p in sorted(folder.glob("*.json")) + sorted(folder.glob("*.png"))]
    else:
        resolved = settings_mod.from_args(args, "region", "bucket")
        client = executions.sagemaker(resolved)
        with aws.user_errors("finding the execution"):
            arn = executions.execution_arn(client, resolved, args.execution)
        execution_id = arn.rsplit("/", 1)[-1]
        out = Path(args.output or f"myflix-report-{execution_id}")
        with aws.user_errors("downloading the reports"):
            fetched = reports.download(aws.client(resolved.region, "s3"), resolved.bucket,
                                       resolved.pipeline_name, execution_id, out)
        if not fetched:
            raise UserError(f"execution {execution_id} has no reports under s3://{resolved.bucket}/"
                            f"{schema.RUNS_PREFIX}/{resolved.pipeline_name}/{execution_id}/ yet: has Preprocess "
                            "run? (`myflix pipeline status` shows its steps)")
        drawn = reports.draw(sorted({p.parent for p in fetched}))
        files = fetched + drawn
    for path in files:
        print(path)
    print(f"{len(drawn)} plot(s) drawn")
    return 0


def add_commands(subparsers: Any) -> None:
    pipeline_sub = options.subcommands_of(subparsers, "pipeline")
    if pipeline_sub is None:          # cli.cmd_pipeline is not loaded: nothing to hang off
        return
    p = pipeline_sub.add_parser("report", help="an execution's reports (JSON) and their plots (PNG), here",
                                description=__doc__.splitlines()[0])
    options.account(p)
    options.local_executions(p)
    p.add_argument("execution", nargs="?", help="execution ARN or id (default: the latest)")
    p.add_argument("-o", "--output", help="folder for a cloud execution's reports (default myflix-report-<id>)")
    p.set_defaults(func=cmd_report)
