"""What the Studio starts and stops: a local execution from its parameter form, a stop, a retry.

The form is the one parameter model (`pipeline.parameters.parameter_specs`: name, type, default,
help). A run is `myflix run --no-serve` in a process of its own (its own session, so the server's
Ctrl-C does not reach it), under an execution id chosen here so that the page can follow it
before the runner has written its record; its output goes to `<workdir>/studio-runs/<id>.log`.
Names and types are checked here before anything starts (400 with "did you mean"); `myflix run`
then checks the values as it does on the command line. One run at a time per work folder. Stop is
StopPipelineExecution (`executions.request_stop`); retry starts a new execution with the failed
one's parameters, so the steps that had succeeded are cache hits and it resumes at the failed one.
"""
from __future__ import annotations

import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from local_aws.constants import LOCAL_BUCKET
from local_runner import executions
from pipeline.parameters import ParameterError, parameter_defaults, parameter_specs
from pipeline.parameters import check_parameters as check_values

RUN_LOGS = "studio-runs"
DISPLAY_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,81}$")   # SageMaker's PipelineExecutionDisplayName
MAX_VALUE = 2000
_TYPES = ((bool, "Boolean"), (int, "Integer"), (float, "Float"), (str, "String"))
_children: dict[str, subprocess.Popen] = {}
_lock = threading.Lock()


class ActionRefused(Exception):
    """The request cannot be done (status 400, 404 or 409; the message says why and what to do)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _type_name(value: Any) -> str:
    return next(name for kind, name in _TYPES if isinstance(value, kind))


def parameter_form() -> list[dict]:
    """Every pipeline parameter with its type, default and help, in the order Studio shows them."""
    return [{"name": s.name, "type": _type_name(s.default), "default": s.default, "help": s.help,
             "choices": list(s.choices) if s.choices else None, "minimum": s.minimum, "maximum": s.maximum}
            for s in parameter_specs(LOCAL_BUCKET)]


def check_parameters(values: Any) -> dict[str, str]:
    """The form's values -> `-p NAME=VALUE` strings other than the defaults, checked by the one
    parameter model (pipeline/parameters.py: names with "did you mean", types, allowed values,
    k_min <= k_max); anything else is refused (400)."""
    if not isinstance(values, dict):
        raise ActionRefused(400, "BadRequest", "parameters must be a JSON object of name -> value")
    given: dict[str, str] = {}
    for name, value in values.items():
        if len(str(name)) > 100:
            raise ActionRefused(400, "BadRequest", f"{str(name)[:60]!r}...: no such pipeline parameter")
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float, str)):
            text = str(value).strip()
        else:
            raise ActionRefused(400, "BadRequest", f"{name}: give a value, not {type(value).__name__}")
        if text == "":
            continue                    # an emptied field is its default (the placeholder shows it)
        if len(text) > MAX_VALUE or any(ord(c) < 32 for c in text):
            raise ActionRefused(400, "BadRequest",
                                f"{name}: at most {MAX_VALUE} characters, no control characters")
        given[str(name)] = text
    try:
        typed = check_values(given)
    except ParameterError as err:
        raise ActionRefused(400, "BadRequest", str(err)) from None
    defaults = parameter_defaults(LOCAL_BUCKET)
    return {name: _as_text(value) for name, value in typed.items() if value != defaults[name]}


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def running(workdir: Path) -> str | None:
    """The id of an execution still running in this work folder (or starting here), if any."""
    with _lock:
        for execution_id, child in list(_children.items()):
            if child.poll() is None and not _ended(workdir, execution_id):
                return execution_id     # (a process whose execution has ended is only logging to MLflow)
            if child.poll() is not None:
                del _children[execution_id]
    for item in executions.list_executions(Path(workdir))[:20]:
        if item.get("PipelineExecutionStatus") == "Executing":
            return item["PipelineExecutionId"]
    return None


def _ended(workdir: Path, execution_id: str) -> bool:
    try:
        record = executions.describe_execution(Path(workdir), execution_id)
    except LookupError:
        return False                    # not recorded yet: still starting
    return record.get("PipelineExecutionStatus") in executions.FINAL_STATUSES


def start_run(workdir: Path, parameters: dict[str, str], display_name: str | None = None) -> str:
    """Start `myflix run --no-serve` on the work folder; returns the execution id it will record."""
    from local_runner.plan import new_execution_id
    if display_name is not None and not DISPLAY_NAME.match(display_name):
        raise ActionRefused(400, "BadRequest", "display_name: letters, digits and '-', starting with a "
                                               "letter or digit, at most 82 characters (SageMaker's rule)")
    busy = running(workdir)
    if busy:
        raise ActionRefused(409, "ExecutionRunning", f"execution {busy} is still running in this work "
                                                     "folder: stop it or wait, then start another")
    execution_id = new_execution_id()
    command = [sys.executable, "-m", "cli.main", "run", "--no-serve", "--workdir", str(workdir),
               "--execution-id", execution_id]
    if display_name:
        command += ["--display-name", display_name]
    for name, value in parameters.items():
        command += ["-p", f"{name}={value}"]
    logs = Path(workdir) / RUN_LOGS
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"{execution_id}.log", "wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                 start_new_session=True, cwd=str(Path.cwd()))
    with _lock:
        _children[execution_id] = child
    return execution_id


def launch(workdir: Path, execution_id: str) -> dict | None:
    """A run this server started: {status: Starting|Failed, output} until its record is written, then
    {status: Recorded} (the page then reads the execution itself)."""
    path = Path(workdir) / RUN_LOGS / f"{execution_id}.log"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        executions.describe_execution(Path(workdir), execution_id)
        return {"id": execution_id, "status": "Recorded", "exit_code": None, "output": ""}
    except LookupError:
        pass
    with _lock:
        child = _children.get(execution_id)
    code = child.poll() if child is not None else None
    text = path.read_bytes()[-4000:].decode("utf-8", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()][-12:]
    ended = code is not None or child is None
    return {"id": execution_id, "status": "Failed" if ended else "Starting", "exit_code": code,
            "output": "\n".join(lines)}


def stop(workdir: Path, execution_id: str) -> dict:
    record = _record(workdir, execution_id)
    if record.get("PipelineExecutionStatus") != "Executing":
        state = record.get("PipelineExecutionStatus")
        raise ActionRefused(409, "NotRunning", f"execution {execution_id} is {state}: only a running one "
                                               "stops")
    executions.request_stop(Path(workdir), execution_id, "stopped in the Studio")
    return {"id": execution_id, "status": "Stopping"}


def retry(workdir: Path, execution_id: str) -> dict:
    """A new execution with the same parameters: the steps that succeeded are cache hits, so it
    resumes at the step that failed (SageMaker's RetryPipelineExecution reruns in place)."""
    record = _record(workdir, execution_id)
    if record.get("PipelineExecutionStatus") not in ("Failed", "Stopped"):
        state = record.get("PipelineExecutionStatus")
        raise ActionRefused(409, "NotRetryable", f"execution {execution_id} is {state}: "
                                                 "retry a Failed or Stopped one")
    given = {p["Name"]: p.get("Value", "") for p in record.get("PipelineParameters") or []}
    form = {item["name"] for item in parameter_form()}
    parameters = check_parameters({k: v for k, v in given.items() if k in form})
    # the data files as that run had them (a plain run's demo files are the same URIs again)
    parameters.update({k: given[k] for k in ("basics_uri", "ratings_uri") if given.get(k)})
    name = f"retry-of-{execution_id}"[:82]
    return {"id": start_run(workdir, parameters, name), "retry_of": execution_id}


def _record(workdir: Path, execution_id: str) -> dict:
    try:
        record = executions.describe_execution(Path(workdir), execution_id)
    except LookupError as err:
        raise ActionRefused(404, "NotFound", str(err)) from None
    if record.get("PipelineExecutionId") != execution_id:
        raise ActionRefused(404, "NotFound", f"no local execution {execution_id!r}")
    return record
