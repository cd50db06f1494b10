"""MLflow's own UI over the work folder's store (`myflix mlflow ui`), in a process group of its own.

`run_ui` runs `mlflow ui` on the local store, bound to 127.0.0.1: Ctrl-C or SIGTERM stops the
server and every worker it started.
"""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from operations import tracking
from operations.errors import UserError


def run_ui(workdir: Path, port: int, log: Callable[[str], None] = print) -> int:
    """`mlflow ui` over the work folder's store until Ctrl-C/SIGTERM; its exit code."""
    uri, artifacts = tracking.local_store(workdir)
    if not Path(uri[len("sqlite:///"):]).is_file():
        raise UserError(f"no MLflow store in {workdir / 'mlflow'} yet: `myflix run` logs each execution there, "
                        "or log one with `myflix mlflow log`")
    env = dict(os.environ, **{k: os.environ.get(k, v) for k, v in tracking.MLFLOW_ENV.items()})
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
               "--default-artifact-root", artifacts, "--host", "127.0.0.1", "--port", str(port)]
    experiment = experiment_id(uri)
    # workflowType: MLflow 3's UI otherwise opens in its GenAI mode (traces, tokens, cost)
    page = (f"#/experiments/{experiment}/runs?workflowType=machine_learning" if experiment
            else "#/experiments?workflowType=machine_learning")
    log(f"MLflow UI on http://127.0.0.1:{port}/{page} over {uri} (Ctrl-C stops it)")
    return run_process_group(command, env)


def experiment_id(uri: str) -> str | None:
    """The pipeline's experiment in the store (None when it cannot be read: the UI lists them all)."""
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
