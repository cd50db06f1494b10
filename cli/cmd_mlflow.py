"""`myflix mlflow ui|log`: pipeline executions as MLflow runs (operations/tracking.py), and MLflow's own UI.

`log [EXECUTION]` logs (or re-logs: it is idempotent) a local execution into the work folder's
store, or with `--cloud` a SageMaker execution: its parameters and steps from SageMaker, its
reports downloaded as `myflix pipeline report` does, into the managed MLflow tracking server of
`mlflow_tracking_arn` (config file, or $MYFLIX_MLFLOW_TRACKING_ARN), or `--tracking-uri`.
`ui` runs `mlflow ui` on the local store, bound to 127.0.0.1, in a process group of its own
(operations/mlflow_ui.py): Ctrl-C or SIGTERM stops the server and every worker it started.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from cli import options
from operations import mlflow_ui, tracking
from operations import settings as settings_mod
from operations.errors import UserError


def cmd_ui(args: argparse.Namespace) -> int:
    return mlflow_ui.run_ui(Path(args.workdir), args.port, log=lambda line: print(line, flush=True))


def cmd_log(args: argparse.Namespace) -> int:
    try:
        if args.cloud:
            out = Path(args.output or f"myflix-report-{(args.execution or 'latest').rsplit('/', 1)[-1]}")
            outputs = tracking.cloud_execution_outputs(settings_mod.from_args(args, "region", "bucket"),
                                                       args.execution, out)
            uri = args.tracking_uri or settings_mod.mlflow_tracking_uri()
            if not uri:
                raise UserError("no MLflow tracking server for a cloud execution: set \"mlflow_tracking_arn\" in "
                                f"{settings_mod.config_path()} or $MYFLIX_MLFLOW_TRACKING_ARN (a SageMaker MLflow "
                                "tracking server's ARN), or pass --tracking-uri")
            logged = tracking.log_execution(outputs, uri)
        else:
            local_uri, artifacts = tracking.local_store(Path(args.workdir))
            outputs = tracking.local_outputs(Path(args.workdir), args.execution)
            uri = args.tracking_uri or local_uri
            logged = tracking.log_execution(outputs, uri, artifacts if uri == local_uri else None)
    except LookupError as err:
        raise UserError(str(err)) from None
    except tracking.TrackingError as err:
        raise UserError(str(err)) from None
    print(f"{logged.describe()} ({len(outputs.reports)} report files, {len(outputs.parameters)} parameters)")
    return 0


def add_commands(subparsers: Any) -> None:
    top = subparsers.add_parser("mlflow", help="executions as MLflow runs: log, and MLflow's UI",
                                description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="mlflow_command", metavar="COMMAND")
    ui = sub.add_parser("ui", help="MLflow's own UI over the local store (127.0.0.1)")
    ui.add_argument("--workdir", default=".myflix", help="local work folder (default .myflix)")
    ui.add_argument("--port", type=int, default=5000, help="port (default 5000)")
    ui.set_defaults(func=cmd_ui)
    log = sub.add_parser("log", help="log (or re-log) an execution as an MLflow run")
    log.add_argument("execution", nargs="?", help="execution id or ARN (default: the latest)")
    log.add_argument("--workdir", default=".myflix", help="local work folder (default .myflix)")
    log.add_argument("--cloud", action="store_true", help="a SageMaker execution (else a local one)")
    log.add_argument("--tracking-uri", help="log here instead (default: the local store, or mlflow_tracking_arn "
                                            "with --cloud)")
    log.add_argument("-o", "--output", help="folder for a cloud execution's reports (default myflix-report-<id>)")
    options.account(log)
    log.set_defaults(func=cmd_log)
    top.set_defaults(func=lambda args: top.print_help() or 2)
