"""Local pipeline execution records: written by the runner, read by `myflix pipeline status/list --local`.

Layout: `<workdir>/executions/<execution id>/execution.json` (rewritten atomically after every
change, so another terminal always reads a whole record), `definition.json` (the definition that
ran), `logs/<step>.log` (each step's output). The read side answers in the shapes of SageMaker's
ListPipelineExecutions summaries and DescribePipelineExecution (times as timezone-aware datetimes,
as boto3 gives them), plus "Steps": ListPipelineExecutionSteps-like items in execution order,
each with a "LogFile" path and "LogTail". Steps that never started are listed too, with
StepStatus "NotRun" and the reason in FailureReason (SageMaker would omit them); `shown_status`
names a step of the branch not taken `NotTaken`, as every view shows it.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from local_aws.constants import ACCOUNT, LOCAL_REGION  # LOCAL_REGION: only in a damaged record's stand-in ARN
from local_aws.layout import write_json_atomic

EXECUTION_FILE = "execution.json"
DEFINITION_FILE = "definition.json"
TIME_KEYS = ("StartTime", "EndTime", "CreationTime", "LastModifiedTime")
FINAL_STATUSES = ("Succeeded", "Failed", "Stopped")


NOT_TAKEN_REASON = "branch not taken"   # how the runner's FailureReason of a skipped branch starts


def shown_status(status: str | None, reason: Any = None) -> str:
    """A step's status as every view shows it (CLI progress, `pipeline status`, the Studio): the
    record's, except that a step of the branch not taken is `NotTaken` (one name everywhere)."""
    status = status or "NotRun"
    if status == "NotRun" and str(reason or "").startswith(NOT_TAKEN_REASON):
        return "NotTaken"
    return status


def now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse_times(record: dict) -> dict:
    out = dict(record)
    for key in TIME_KEYS:
        if isinstance(out.get(key), str):
            out[key] = datetime.fromisoformat(out[key])
    return out


def executions_dir(workdir: Path) -> Path:
    return Path(workdir) / "executions"


STOP_FILE = "stop-requested"


def request_stop(workdir: Path, execution_id: str, reason: str) -> None:
    """StopPipelineExecution: the runner (in whatever process) sees the file within a second, stops
    the running step and records the execution Stopped with `reason`."""
    folder = execution_dir(Path(workdir), execution_id)
    (folder / STOP_FILE).write_text(reason + "\n", encoding="utf-8")


def stop_reason(folder: Path) -> str | None:
    """The reason of a stop requested for the execution in `folder`, or None."""
    try:
        return (Path(folder) / STOP_FILE).read_text(encoding="utf-8").strip() or "stop requested"
    except OSError:
        return None


def pipeline_arn(region: str, pipeline_name: str) -> str:
    return f"arn:aws:sagemaker:{region}:{ACCOUNT}:pipeline/{pipeline_name}"


class ExecutionRecorder:
    """Writes one execution's record as it progresses (the runner's side)."""

    def __init__(self, workdir: Path, execution_id: str, *, pipeline_name: str, region: str,
                 display_name: str | None, parameters: dict[str, Any], definition: dict):
        self.dir = executions_dir(workdir) / execution_id
        self.dir.mkdir(parents=True, exist_ok=False)
        (self.dir / "logs").mkdir()
        self.execution_id = execution_id
        arn = pipeline_arn(region, pipeline_name)
        start = now()
        self.record: dict[str, Any] = {
            "PipelineArn": arn,
            "PipelineName": pipeline_name,
            "PipelineExecutionArn": f"{arn}/execution/{execution_id}",
            "PipelineExecutionId": execution_id,
            "PipelineExecutionDisplayName": display_name or f"local-{execution_id}",
            "PipelineExecutionStatus": "Executing",
            "PipelineExecutionDescription": "local run (myflix local runner)",
            "CreationTime": _iso(start),
            "StartTime": _iso(start),
            "LastModifiedTime": _iso(start),
            "EndTime": None,
            "FailureReason": None,
            "PipelineParameters": [{"Name": k, "Value": _text(v)} for k, v in parameters.items()],
            "RunnerPid": os.getpid(),
            "ExecutionDir": str(self.dir),
            "Steps": [],
        }
        write_json_atomic(self.dir / DEFINITION_FILE, definition)
        self._save()

    @property
    def arn(self) -> str:
        return self.record["PipelineExecutionArn"]

    def log_file(self, step_name: str) -> Path:
        return self.dir / "logs" / f"{step_name}.log"

    def _save(self) -> None:
        self.record["LastModifiedTime"] = _iso(now())
        write_json_atomic(self.dir / EXECUTION_FILE, self.record)

    def _step(self, name: str) -> dict:
        for item in self.record["Steps"]:
            if item["StepName"] == name:
                return item
        raise KeyError(name)

    def declare_steps(self, steps: list[dict]) -> None:
        """Every step of the definition, in run order, as NotRun until it starts."""
        for step in steps:
            self.record["Steps"].append({
                "StepName": step["Name"], "StepDisplayName": step.get("DisplayName") or step["Name"],
                "StepDescription": step.get("Description"), "StepType": step.get("Type"),
                "StepStatus": "NotRun", "StartTime": None, "EndTime": None, "FailureReason": None,
                "Metadata": {}, "AttemptCount": 0, "LogFile": None, "LogTail": None,
            })
        self._save()

    def step_started(self, name: str, log_file: Path | None) -> None:
        item = self._step(name)
        item.update(StepStatus="Executing", StartTime=_iso(now()), AttemptCount=1,
                    LogFile=str(log_file) if log_file else None, FailureReason=None)
        self._save()

    def step_finished(self, name: str, status: str, *, failure_reason: str | None = None,
                      metadata: dict | None = None, cache_hit: str | None = None,
                      log_tail: str | None = None, outputs: dict | None = None) -> None:
        item = self._step(name)
        item.update(StepStatus=status, EndTime=_iso(now()), FailureReason=failure_reason,
                    Metadata=metadata or {}, LogTail=log_tail)
        if item["StartTime"] is None:
            item["StartTime"] = item["EndTime"]
        if cache_hit:
            item["CacheHitResult"] = {"SourcePipelineExecutionArn": cache_hit}
        if outputs:
            item["Outputs"] = outputs
        self._save()

    def step_not_run(self, name: str, reason: str) -> None:
        item = self._step(name)
        item.update(StepStatus="NotRun", FailureReason=reason)
        self._save()

    def finish(self, status: str, failure_reason: str | None = None) -> dict:
        self.record.update(PipelineExecutionStatus=status, FailureReason=failure_reason,
                           EndTime=_iso(now()))
        self._save()
        return describe_execution(self.dir.parent.parent, self.execution_id)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _settle(record: dict) -> dict:
    """An 'Executing' record whose runner process is gone was interrupted: report it Stopped."""
    if record.get("PipelineExecutionStatus") == "Executing" and not _alive(record.get("RunnerPid")):
        record = dict(record, PipelineExecutionStatus="Stopped",
                      FailureReason=record.get("FailureReason")
                      or "the local runner stopped before the execution ended (interrupted?)")
        record["Steps"] = [dict(s, StepStatus="Stopped") if s.get("StepStatus") == "Executing" else s
                           for s in record.get("Steps", [])]
    return record


_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,127}$")


def _unreadable(child: Path, path: Path) -> dict:
    """A record that cannot be read stands in the list as an execution that says why (a damaged
    execution.json must not make a run vanish)."""
    try:
        json.loads(path.read_text(encoding="utf-8"))
        why = "it is not an execution record"
    except (OSError, UnicodeDecodeError, ValueError) as err:
        why = f"{type(err).__name__}: {str(err)[:160]}"
    try:
        started = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).isoformat()
    except OSError:
        started = None
    arn = f"arn:aws:sagemaker:{LOCAL_REGION}:{ACCOUNT}:pipeline/unknown/execution/{child.name}"
    return {"PipelineExecutionArn": arn,
            "PipelineExecutionId": child.name, "PipelineExecutionStatus": "Unreadable", "StartTime": started,
            "FailureReason": f"{path} is unreadable ({why}): the record of this run was damaged; "
                             "its logs and outputs may still be there", "Steps": []}


def _record_of(child: Path) -> dict | None:
    """The execution in folder `child`, settled; a stand-in for a damaged one; None for no record yet."""
    path = child / EXECUTION_FILE
    if not path.is_file():
        return None                      # a folder being created
    record = _load(path)
    if isinstance(record, dict) and isinstance(record.get("PipelineExecutionArn"), str) \
            and record.get("PipelineExecutionId") == child.name:
        return _settle(record)
    return _unreadable(child, path)


def _records(workdir: Path) -> list[dict]:
    base = executions_dir(workdir)
    if not base.is_dir():
        return []
    found = []
    for child in base.iterdir():
        record = _record_of(child) if child.is_dir() else None
        if record is not None:
            found.append(record)
    found.sort(key=lambda r: (r.get("StartTime") or "", r.get("PipelineExecutionId") or ""), reverse=True)
    return found


def list_executions(workdir: Path) -> list[dict]:
    """Local executions, newest first, as ListPipelineExecutions' PipelineExecutionSummaries."""
    keys = ("PipelineExecutionArn", "PipelineExecutionDisplayName", "PipelineExecutionStatus",
            "StartTime")
    summaries = []
    for record in _records(workdir):
        summary = {k: record.get(k) for k in keys}
        if record.get("FailureReason"):
            summary["PipelineExecutionFailureReason"] = record["FailureReason"]
        summary["PipelineExecutionId"] = record.get("PipelineExecutionId")
        summaries.append(_parse_times(summary))
    return summaries


def describe_execution(workdir: Path, execution_id: str | None = None) -> dict:
    """One local execution (the latest when `execution_id` is None) as DescribePipelineExecution,
    plus "Steps" (ListPipelineExecutionSteps-like items with "LogFile", in run order).

    `execution_id` may be the id, the execution ARN or the display name. Raises LookupError
    when there is no such execution (or none at all) under `workdir`.
    """
    if execution_id is not None and _SAFE_ID.match(execution_id.rsplit("/", 1)[-1]):
        # one record, read directly: no scan of every execution (the Studio asks for each in turn)
        record = _record_of(execution_dir(workdir, execution_id.rsplit("/", 1)[-1]))
        if record is not None:
            out = _parse_times(record)
            out["Steps"] = [_parse_times(step) for step in record.get("Steps", [])]
            return out
    records = _records(workdir)
    if not records:
        raise LookupError(f"no local pipeline executions under {executions_dir(workdir)}: "
                          "run `myflix run` (or `make run`) first")
    if execution_id is None:
        record = records[0]
    else:
        wanted = execution_id.rsplit("/", 1)[-1]
        matches = [r for r in records if wanted in (r.get("PipelineExecutionId"),
                                                     r.get("PipelineExecutionDisplayName"))]
        if not matches:
            known = ", ".join(r["PipelineExecutionId"] for r in records[:10])
            raise LookupError(f"no local execution {execution_id!r} under {executions_dir(workdir)} "
                              f"(latest: {known})")
        record = matches[0]
    out = _parse_times(record)
    out["Steps"] = [_parse_times(step) for step in record.get("Steps", [])]
    return out


def execution_dir(workdir: Path, execution_id: str) -> Path:
    return executions_dir(workdir) / execution_id
