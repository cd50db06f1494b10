"""`myflix mlflow ui|log`: pipeline executions as MLflow runs (operations/tracking.py), and MLflow's own UI.

`log [EXECUTION]` logs (or re-logs: it is idempotent) a local execution into the work folder's
store, or with `--cloud` a SageMaker execution: its parameters and steps from SageMaker, its
reports downloaded as `myflix pipeline report` does, into the managed MLflow tracking server of
`mlflow_tracking_arn` (config file, or $MYFLIX_MLFLOW_TRACKING_ARN), or `--tracking-uri`.
`ui` runs `mlflow ui` on the local store, bound to 127.0.0.1, in a process group of its own:
Ctrl-C or SIGTERM stops the server and every worker it started.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cli.main import UserError


def cmd_ui(args: argparse.Namespace) -> int:
    from operations import tracking
    workdir = Path(args.workdir)
    uri, artifacts = tracking.local_store(workdir)
    if not Path(uri[len("sqlite:///"):]).is_file():
        raise UserError(f"no MLflow store in {workdir / 'mlflow'} yet: `myflix run` logs each execution there, "
                        "or log one with `myflix mlflow log`")
    env = dict(os.environ, **{k: os.environ.get(k, v) for k, v in tracking.MLFLOW_ENV.items()})
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--default-artifact-root", artifacts, "--host", "127.0.0.1", "--port", str(args.port)]
    experiment = _experiment_id(uri)
    # workflowType: MLflow 3's UI otherwise opens in its GenAI mode (traces, tokens, cost)
    page = (f"#/experiments/{experiment}/runs?workflowType=machine_learning" if experiment
            else "#/experiments?workflowType=machine_learning")
    print(f"MLflow UI on http://127.0.0.1:{args.port}/{page} over {uri} (Ctrl-C stops it)", flush=True)
    return run_process_group(command, env)


def _experiment_id(uri: str) -> str | None:
    """The pipeline's experiment in the store (None when it cannot be read: the UI lists them all)."""
    import sqlite3
    from operations import tracking
    try:
        with sqlite3.connect(f"file:{uri[len('sqlite:///'):]}?mode=ro", uri=True) as db:
            row = db.execute("SELECT experiment_id FROM experiments WHERE name = ?",
                             (tracking.EXPERIMENT,)).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def run_process_group(command: list[str], env: dict[str, str], grace: float = 10.0) -> int:
    """Run `command` in a new process group until it ends, or until Ctrl-C/SIGTERM reaches us:
    then the whole group (the MLflow server and its workers) gets SIGTERM, and SIGKILL after
    `grace` seconds, so nothing it started outlives this command."""
    import signal

    process = subprocess.Popen(command, env=env, start_new_session=True)

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return process.wait()
    except KeyboardInterrupt:
        _stop_group(process, grace)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if process.poll() is None:
            _stop_group(process, grace)


def _stop_group(process: subprocess.Popen, grace: float) -> None:
    import signal
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; its workers may linger a moment after it
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def _cloud_outputs(args: argparse.Namespace, out: Path):
    from operations import aws, tracking
    from cli import cmd_pipeline
    from cli.cmd_report import download_reports, draw
    resolved = cmd_pipeline._settings(args, "region", "bucket")
    client = cmd_pipeline._sagemaker(resolved)
    with cmd_pipeline._user_errors("reading the execution"):
        arn = cmd_pipeline._execution_arn(client, resolved, args.execution)
        execution = client.describe_pipeline_execution(PipelineExecutionArn=arn)
        parameters = _all(client.list_pipeline_parameters_for_execution, "PipelineParameters", PipelineExecutionArn=arn)
        steps = _all(client.list_pipeline_execution_steps, "PipelineExecutionSteps", PipelineExecutionArn=arn)
        fetched = download_reports(aws.client(resolved.region, "s3"), resolved.bucket, resolved.pipeline_name,
                                   arn.rsplit("/", 1)[-1], out)
    drawn = draw(sorted({p.parent for p in fetched}))
    package = next((((s.get("Metadata") or {}).get("RegisterModel") or {}).get("Arn") for s in steps
                    if ((s.get("Metadata") or {}).get("RegisterModel") or {}).get("Arn")), None)
    return tracking.cloud_outputs(execution, parameters, fetched + drawn, package), resolved


def _all(call: Any, key: str, **kwargs: Any) -> list[dict]:
    items, token = [], None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items


def cmd_log(args: argparse.Namespace) -> int:
    from operations import settings, tracking
    try:
        if args.cloud:
            out = Path(args.output or f"myflix-report-{(args.execution or 'latest').rsplit('/', 1)[-1]}")
            outputs, _ = _cloud_outputs(args, out)
            uri = args.tracking_uri or settings.mlflow_tracking_uri()
            if not uri:
                raise UserError("no MLflow tracking server for a cloud execution: set \"mlflow_tracking_arn\" in "
                                f"{settings.config_path()} or $MYFLIX_MLFLOW_TRACKING_ARN (a SageMaker MLflow "
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
    from cli import cmd_pipeline
    cmd_pipeline._common(log)
    log.set_defaults(func=cmd_log)
    top.set_defaults(func=lambda args: top.print_help() or 2)
