"""What the Studio page shows, as JSON-ready dicts, read from the local runner's records (pure reads).

One execution's view combines its record (`local_runner.executions`), the definition that ran
(its own definition.json: the DAG is drawn from that, with `studio.dag`'s graph and layout),
and the step outputs in the local object store (reports, the gate's property file). Expressions
of the definition are resolved with `local_runner.expressions` against what the record holds,
so a step's arguments are shown as the job received them. Nothing here writes.
"""
from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from local_aws import layout, registry
from local_aws.store import LocalStore
from local_runner import executions, expressions
from operations.reports import PLOTS
from pipeline import parameters as parameter_model
from steps import schema
from studio import dag as dag_mod

EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
GROUP_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
VERSION = re.compile(r"^[1-9][0-9]{0,8}$")
# report JSON -> the PNGs reports/ draws beside it (operations/reports.py's one list; Ingest's has no figure)
REPORTS = {name: plots for name, plots in PLOTS.items() if name != "ingest.json"}
LOG_TAIL_LINES = 60
LOG_TAIL_BYTES = 32_000
MAX_LISTED_FILES = 40
SYMBOLS = {"Equals": "==", "GreaterThan": ">", "GreaterThanOrEqualTo": ">=",
           "LessThan": "<", "LessThanOrEqualTo": "<="}


class NotFound(LookupError):
    """No such execution, step or package: the API answers 404."""


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


def _seconds(start: Any, end: Any) -> float | None:
    if isinstance(start, datetime) and isinstance(end, datetime):
        return round((end - start).total_seconds(), 1)
    return None


def file_url(uri: str) -> str | None:
    """The page's link to an object of the local store (`s3://bucket/key` -> /studio/files/bucket/key)."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        return None
    return "/studio/files/" + uri[len("s3://"):].lstrip("/")


# --- one execution's record, definition and context -----------------------------------------------
class Execution:
    """An execution as the Studio reads it: record, definition, store, and an expression context."""

    def __init__(self, workdir: Path, execution_id: str):
        if not EXECUTION_ID.match(execution_id or ""):
            raise NotFound(f"{execution_id!r} is not an execution id (letters, digits and '-')")
        self.workdir = Path(workdir)
        try:
            self.record = executions.describe_execution(self.workdir, execution_id)
        except LookupError as err:
            raise NotFound(str(err)) from None
        if self.record.get("PipelineExecutionId") != execution_id:
            raise NotFound(f"no local execution with the id {execution_id!r}")
        self.id = execution_id
        self.dir = executions.execution_dir(self.workdir, execution_id)
        try:
            self.definition = json.loads((self.dir / executions.DEFINITION_FILE).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            self.definition = {"Steps": [], "Parameters": []}
        self.store = LocalStore(self.workdir)
        self.steps = {s["StepName"]: s for s in self.record.get("Steps", [])}
        self.step_defs = dict(_walk_steps(self.definition.get("Steps") or []))
        self.parameters = self._parameters()
        self.context = expressions.Context(
            parameters=self.parameters,
            execution={"PipelineExecutionId": self.id,
                       "PipelineExecutionArn": self.record.get("PipelineExecutionArn"),
                       "PipelineName": self.record.get("PipelineName")},
            step_properties=self._properties, property_file=self._property_file,
            read_json=self._read_json)

    def _parameters(self) -> dict[str, Any]:
        declared = {p["Name"]: p for p in self.definition.get("Parameters") or [] if "Name" in p}
        values: dict[str, Any] = {}
        for item in self.record.get("PipelineParameters") or []:
            name, text = item.get("Name"), item.get("Value")
            kind = (declared.get(name) or {}).get("Type", "String")
            values[name] = _typed(kind, text)
        return values

    def defaults(self) -> dict[str, Any]:
        return {p["Name"]: p.get("DefaultValue") for p in self.definition.get("Parameters") or [] if "Name" in p}

    def _properties(self, name: str) -> dict:
        step = self.steps.get(name)
        if not step or step.get("StepStatus") != "Succeeded":
            raise expressions.ExpressionError(f"step {name} has not run")
        outputs = step.get("Outputs") or {}
        kind = step.get("StepType")
        if kind == "Processing":
            return {"ProcessingOutputConfig": {"Outputs": [
                {"OutputName": n, "S3Output": {"S3Uri": u}} for n, u in outputs.items()]}}
        if kind == "Training":
            return {"ModelArtifacts": {"S3ModelArtifacts": outputs.get("model")}}
        if kind in ("RegisterModel", "Model"):
            return {"ModelPackageArn": outputs.get("ModelPackageArn"),
                    "ModelArn": ((step.get("Metadata") or {}).get("Model") or {}).get("Arn")}
        return {}

    def _property_file(self, step: str, name: str) -> Any:
        for spec in (self.step_defs.get(step) or {}).get("PropertyFiles") or []:
            if spec.get("PropertyFileName") == name:
                uri = ((self.steps.get(step) or {}).get("Outputs") or {}).get(spec.get("OutputName"))
                if not uri:
                    raise expressions.ExpressionError(f"step {step} has no output {spec.get('OutputName')}")
                return self._read_json(uri.rstrip("/") + "/" + spec.get("FilePath", ""))
        raise expressions.ExpressionError(f"step {step} has no property file {name}")

    def _read_json(self, uri: str) -> Any:
        try:
            return json.loads(self.store.path_for(uri).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise expressions.ExpressionError(f"cannot read {uri}: {err}") from None

    def resolve(self, value: Any) -> Any:
        """`value` with each expression resolved, or shown as `<unresolved: ...>` when it cannot be."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if expressions.is_expression(value):
            try:
                return expressions.resolve(value, self.context)
            except (expressions.ExpressionError, KeyError, TypeError, ValueError):
                return f"<unresolved: {json.dumps(value)[:200]}>"
        return {k: self.resolve(v) for k, v in value.items()}

    def report_files(self) -> dict[str, dict]:
        """Report name -> {step, uri, url, data, pngs} for every report JSON the steps wrote."""
        found: dict[str, dict] = {}
        for step in self.record.get("Steps", []):
            for uri in (step.get("Outputs") or {}).values():
                if not isinstance(uri, str) or not uri.startswith("s3://"):
                    continue
                try:
                    folder = self.store.path_for(uri)
                except ValueError:
                    continue
                if not folder.is_dir():
                    continue
                for name, pngs in REPORTS.items():
                    if name in found or not (folder / name).is_file():
                        continue
                    base = uri.rstrip("/") + "/"
                    try:
                        data = json.loads((folder / name).read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        data = None
                    found[name] = {"step": step["StepName"], "uri": base + name, "url": file_url(base + name),
                                   "data": data,
                                   "pngs": [{"name": p, "url": file_url(base + p)} for p in pngs
                                            if (folder / p).is_file()]}
        return found


def _typed(kind: str, text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        if kind == "Integer":
            return int(text)
        if kind == "Float":
            return float(text)
    except ValueError:
        return text
    if kind == "Boolean":
        return text.lower() == "true"
    return text


def _walk_steps(steps: list[dict], branch: tuple[str, str] | None = None) -> Iterator[tuple[str, dict]]:
    for step in steps:
        if not isinstance(step, dict) or "Name" not in step:
            continue
        yield step["Name"], dict(step, _branch=branch)
        if step.get("Type") == "Condition":
            args = step.get("Arguments") or {}
            yield from _walk_steps(args.get("IfSteps") or [], (step["Name"], "if"))
            yield from _walk_steps(args.get("ElseSteps") or [], (step["Name"], "else"))


def _same(value: Any, default: Any) -> bool:
    try:
        return float(value) == float(default)
    except (TypeError, ValueError):
        return expressions.to_text(value) == expressions.to_text(default)


def parameter_specs() -> list[dict]:
    """The pipeline's parameters as pipeline/parameters.py knows them: default, help, allowed values."""
    return [{"name": sp.name, "default": sp.default, "help": sp.help,
             "choices": list(sp.choices) if sp.choices else None,
             "minimum": sp.minimum, "maximum": sp.maximum}
            for sp in parameter_model.parameter_specs("")]


def _parameter_problem(name: str, value: Any) -> str | None:
    """Why a recorded value is not one the pipeline allows (the same check as `-p`), or None."""
    text = "true" if value is True else "false" if value is False else str(value)
    try:
        parameter_model.check_parameters({name: text}, strict=False)
    except parameter_model.ParameterError as err:
        return str(err)
    return None


def changed_parameters(execution: Execution) -> list[dict]:
    """Parameters given other values than the definition's defaults; the demo data that a plain
    `myflix run` points Ingest at is no change of the user's."""
    from operations.demo_data import demo_uris
    defaults = execution.defaults()
    try:
        demo = demo_uris(layout.split_s3_uri(str(execution.parameters.get("basics_uri") or ""))[0])
    except layout.LayoutError:
        demo = {}
    return [{"name": name, "value": value, "default": defaults.get(name),
             "problem": _parameter_problem(name, value)}
            for name, value in execution.parameters.items()
            if name in defaults and not _same(value, defaults[name]) and demo.get(name) != value]


def gate(execution: Execution) -> dict | None:
    """The first ConditionStep's conditions with their resolved values and outcome."""
    for name, step in execution.step_defs.items():
        if step.get("Type") != "Condition":
            continue
        record = execution.steps.get(name) or {}
        rows = []
        for condition in (step.get("Arguments") or {}).get("Conditions") or []:
            rows.append(_condition_row(condition, execution))
        outcome = ((record.get("Metadata") or {}).get("Condition") or {}).get("Outcome")
        return {"step": name, "status": record.get("StepStatus"), "outcome": outcome, "conditions": rows}
    return None


def _condition_row(condition: dict, execution: Execution) -> dict:
    kind = condition.get("Type")
    left, right = condition.get("LeftValue"), condition.get("RightValue")
    label = kind
    if isinstance(left, dict) and expressions.JSON_GET in left:
        label = left[expressions.JSON_GET].get("Path", kind)
    elif isinstance(left, dict) and expressions.GET in left:
        label = str(left[expressions.GET]).rsplit(".", 1)[-1]
    threshold = (right[expressions.GET].rsplit(".", 1)[-1]
                 if isinstance(right, dict) and expressions.GET in right else None)
    if isinstance(right, dict) and expressions.JSON_GET in right:     # compared with another figure
        threshold = right[expressions.JSON_GET].get("Path")
    row = {"metric": label, "op": SYMBOLS.get(kind, kind), "threshold_parameter": threshold,
           "value": None, "threshold": None, "passed": None}
    try:
        row["value"] = expressions.resolve(left, execution.context)
        row["threshold"] = expressions.resolve(right, execution.context)
        row["passed"] = expressions.evaluate_condition(condition, execution.context)
    except (expressions.ExpressionError, KeyError, TypeError, ValueError):
        pass                 # Evaluate has not run (yet): the row shows the threshold only
    if row["threshold"] is None and threshold in execution.parameters:
        row["threshold"] = execution.parameters[threshold]
    return row


def _short(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def gate_failure(execution: Execution, g: dict | None) -> str | None:
    """`the quality gate failed on <metric> <value> (needs <op> <threshold>)`, rounded, the failing
    conditions only; None unless the execution failed at its gate."""
    failing = [c for c in (g or {}).get("conditions") or [] if c.get("passed") is False]
    if not failing or execution.record.get("PipelineExecutionStatus") != "Failed":
        return None
    return "the quality gate failed on " + "; ".join(
        f"{c['metric']} {_short(c['value'])} (needs {c['op']} {_short(c['threshold'])})" for c in failing)


def chosen_k(reports: dict[str, dict]) -> int | None:
    data = (reports.get("elbow.json") or {}).get("data")
    return data.get("chosen_k") if isinstance(data, dict) else None


# --- the API's documents ---------------------------------------------------------------------------
def summary(workdir: Path, execution_id: str) -> dict:
    execution = Execution(workdir, execution_id)
    record = execution.record
    reports = execution.report_files()
    g = gate(execution)
    return {
        "id": execution.id, "name": record.get("PipelineExecutionDisplayName"),
        "status": record.get("PipelineExecutionStatus"), "start": _iso(record.get("StartTime")),
        "end": _iso(record.get("EndTime")),
        "duration": _seconds(record.get("StartTime"), record.get("EndTime")),
        "failure_reason": record.get("FailureReason"), "failure_summary": gate_failure(execution, g),
        "changed_parameters": changed_parameters(execution), "chosen_k": chosen_k(reports),
        "gate": g["conditions"] if g else [], "gate_outcome": g["outcome"] if g else None,
    }


def _record_signature(workdir: Path, execution_id: str) -> tuple | None:
    try:
        st = (executions.execution_dir(workdir, execution_id) / executions.EXECUTION_FILE).stat()
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def executions_etag(workdir: Path) -> str:
    """A validator of the executions list: every record's identity (a stat each, no read)."""
    base = executions.executions_dir(workdir)
    digest = hashlib.sha256()
    for child in sorted(base.iterdir()) if base.is_dir() else []:
        digest.update(f"{child.name}:{_record_signature(workdir, child.name)};".encode())
    return '"' + digest.hexdigest()[:32] + '"'


# A summary is rebuilt only when its execution.json changed (the runner rewrites it at every step):
# an open tab polling the list costs a stat per execution, not a read of every report.
_SUMMARIES: dict[tuple[str, str], tuple[tuple, dict]] = {}
_SUMMARIES_MAX = 2000


def list_summaries(workdir: Path, limit: int = 100) -> list[dict]:
    out = []
    for item in executions.list_executions(workdir)[:limit]:
        execution_id = item["PipelineExecutionId"]
        key, signature = (str(workdir), execution_id), _record_signature(workdir, execution_id)
        cached = _SUMMARIES.get(key)
        if cached is not None and signature is not None and cached[0] == signature:
            out.append(cached[1])
            continue
        try:
            found = summary(workdir, execution_id)
        except NotFound:
            continue          # removed while we read
        if signature is not None:
            if len(_SUMMARIES) >= _SUMMARIES_MAX:
                _SUMMARIES.clear()
            _SUMMARIES[key] = (signature, found)
        out.append(found)
    return out


def _node_status(step: dict) -> str:
    return executions.shown_status(step.get("StepStatus"), step.get("FailureReason"))


def detail(workdir: Path, execution_id: str) -> dict:
    """One execution: its summary, the DAG (laid out), every step's state, and the reports."""
    execution = Execution(workdir, execution_id)
    base = summary(workdir, execution_id)
    graph = dag_mod.build_dag(execution.definition) if execution.definition.get("Steps") else dag_mod.Dag()
    graph = graph.reduced()
    lay = dag_mod.layout(graph) if graph.nodes else dag_mod.Layout({}, {})
    pos = lay.positions
    nodes = []
    for name, node in graph.nodes.items():
        step = execution.steps.get(name, {})
        x, y = pos.get(name, (0.0, 0.0))
        nodes.append({"name": name, "type": node.type, "display_name": node.display_name,
                      "description": node.description, "x": x, "y": -y,
                      "status": _node_status(step),
                      "duration": _seconds(step.get("StartTime"), step.get("EndTime")),
                      "cache_hit": bool(step.get("CacheHitResult"))})
    reports = execution.report_files()
    base.update(
        dag={"nodes": nodes, "edges": [{"from": s, "to": d, "label": lab,
                                        "via": [[x, row] for x, row in lay.routes.get((s, d, lab), [])]}
                                       for s, d, lab in graph.edges]},
        steps=[{"name": s["StepName"], "type": s.get("StepType"), "status": _node_status(s),
                "start": _iso(s.get("StartTime")), "end": _iso(s.get("EndTime")),
                "duration": _seconds(s.get("StartTime"), s.get("EndTime")),
                "cache_hit": (s.get("CacheHitResult") or {}).get("SourcePipelineExecutionArn"),
                "failure_reason": s.get("FailureReason")} for s in execution.record.get("Steps", [])],
        parameters=execution.parameters,
        reports={name: {k: v for k, v in rep.items()} for name, rep in reports.items()},
        gate_detail=gate(execution))
    return base


def _referenced_parameters(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == expressions.GET and isinstance(item, str) and item.startswith("Parameters."):
                yield item.split(".", 1)[1]
            else:
                yield from _referenced_parameters(item)
    elif isinstance(value, list):
        for item in value:
            yield from _referenced_parameters(item)


def _listed(execution: Execution, uri: str) -> list[dict]:
    try:
        path = execution.store.path_for(uri)
    except ValueError:
        return []
    if path.is_file():
        return [{"name": path.name, "size": path.stat().st_size, "url": file_url(uri)}]
    if not path.is_dir():
        return []
    files = []
    for child in sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())[:MAX_LISTED_FILES]:
        rel = child.relative_to(path).as_posix()
        files.append({"name": rel, "size": child.stat().st_size, "url": file_url(uri.rstrip("/") + "/" + rel)})
    return files


def _own_log(execution: Execution, step: dict) -> Path | None:
    """The step's log file when it is one of this execution's own logs/ (no link, a regular file)."""
    log_file = step.get("LogFile")
    if not log_file:
        return None
    logs = (execution.dir / "logs").resolve()
    path = Path(log_file)
    try:
        resolved = path.resolve()
    except OSError:
        return None
    if resolved.parent != logs or path.is_symlink() or not resolved.is_file():
        return None
    return resolved


def log_path(workdir: Path, execution_id: str, step_name: str) -> Path:
    """The whole log of one step (GET .../steps/<step>/log); NotFound when it has none."""
    if not STEP_NAME.match(step_name or ""):
        raise NotFound(f"{step_name!r} is not a step name (letters, digits, '-' and '_')")
    execution = Execution(workdir, execution_id)
    path = _own_log(execution, execution.steps.get(step_name) or {})
    if path is None:
        raise NotFound(f"step {step_name} of execution {execution_id} has no log (only jobs write one)")
    return path


def log_error(text: str | None, failure_reason: str | None) -> str | None:
    """The line of a failed step's log that says why: the script's own last error line (before
    the training toolkit's report), else the last line that names an error."""
    if not text:
        return None
    from local_runner import training
    found = training.script_error(text)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    named = [line for line in lines if re.search(r"error|exception|failed|invalid", line, re.I)
             and "sagemaker-training-toolkit" not in line]
    if found and re.search(r"error|exception|invalid|refused|not |cannot", found, re.I):
        return found
    return named[-1][:400] if named else found


def _read_end(path: Path | None, size: int) -> str | None:
    if path is None:
        return None
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        handle.seek(max(0, handle.tell() - size))
        return handle.read().decode("utf-8", errors="replace")


def _log_tail(execution: Execution, step: dict) -> str | None:
    """The last lines of the step's log, read only from this execution's own logs/ folder."""
    resolved = _own_log(execution, step)
    if resolved is None:
        return step.get("LogTail")
    with open(resolved, "rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - LOG_TAIL_BYTES))
        text = handle.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-LOG_TAIL_LINES:])


def step_detail(workdir: Path, execution_id: str, step_name: str) -> dict:
    if not STEP_NAME.match(step_name or ""):
        raise NotFound(f"{step_name!r} is not a step name (letters, digits, '-' and '_')")
    execution = Execution(workdir, execution_id)
    step = execution.steps.get(step_name)
    spec = execution.step_defs.get(step_name)
    if step is None or spec is None:
        raise NotFound(f"execution {execution_id} has no step {step_name!r} "
                       f"(it has {', '.join(execution.steps)})")
    args = spec.get("Arguments") or {}
    if spec.get("Type") == "Condition":     # the branches are steps of their own
        args = {"Conditions": args.get("Conditions")}
    outputs = {name: {"uri": uri, "files": _listed(execution, uri) if isinstance(uri, str) else []}
               for name, uri in (step.get("Outputs") or {}).items()}
    branch = spec.get("_branch")
    tail_text = _log_tail(execution, step)
    return {
        "execution": execution_id, "name": step_name, "type": spec.get("Type"),
        "display_name": spec.get("DisplayName") or step_name, "description": spec.get("Description"),
        "status": _node_status(step), "start": _iso(step.get("StartTime")), "end": _iso(step.get("EndTime")),
        "duration": _seconds(step.get("StartTime"), step.get("EndTime")),
        "cache_hit": (step.get("CacheHitResult") or {}).get("SourcePipelineExecutionArn"),
        "branch": {"condition": branch[0], "side": branch[1]} if branch else None,
        "depends_on": spec.get("DependsOn") or [],
        "arguments": execution.resolve(args),
        "parameters": {n: execution.parameters.get(n) for n in dict.fromkeys(_referenced_parameters(args))},
        "outputs": outputs, "metadata": step.get("Metadata") or {},
        "failure_reason": step.get("FailureReason"), "log_tail": tail_text,
        "log_error": log_error(_read_end(_own_log(execution, step), 200_000) or tail_text,
                               step.get("FailureReason")) if step.get("StepStatus") in ("Failed", "Stopped") else None,
        "log_url": (f"/studio/api/executions/{execution_id}/steps/{step_name}/log"
                    if _own_log(execution, step) else None),
        "gate": gate(execution) if spec.get("Type") == "Condition" else None,
    }


# --- the registry and the endpoints --------------------------------------------------------------------
def _package_metrics(store: LocalStore, package: dict) -> dict[str, Any]:
    uri = (((package.get("ModelMetrics") or {}).get("ModelQuality") or {}).get("Statistics") or {}).get("S3Uri")
    if not uri:
        return {}
    try:
        evaluation = json.loads(store.path_for(uri).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    metrics = evaluation.get("clustering_metrics") if isinstance(evaluation, dict) else None
    if not isinstance(metrics, dict):
        return {}
    return {name: (item.get("value") if isinstance(item, dict) else item) for name, item in metrics.items()}


def endpoints(workdir: Path) -> list[dict]:
    folder = layout.endpoints_dir(workdir)
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.is_symlink() or not path.is_file():
            continue
        try:
            record = layout.read_record(path)
        except layout.LayoutError:
            continue
        if record is None:
            continue
        arn = record.get("ModelPackageArn") or ""
        tags = record.get("Tags") or {}
        out.append({"name": record.get("EndpointName") or path.stem, "status": record.get("EndpointStatus"),
                    "package_arn": arn, "version": arn.rsplit("/", 1)[-1] if arn else None,
                    "smoke": tags.get("myflix:smoke") if isinstance(tags, dict) else None,
                    "since": record.get("LastModifiedTime")})
    return out


def registry_view(workdir: Path) -> dict:
    store = LocalStore(Path(workdir))
    serving = endpoints(workdir)
    packages: list[dict] = []
    problems: list[dict] = []      # files that are not packages: shown, never a 503
    for package in registry.list_packages(Path(workdir), problems=problems):
        arn = package.get("ModelPackageArn")
        packages.append({
            "group": package.get("ModelPackageGroupName"), "version": package.get("ModelPackageVersion"),
            "arn": arn, "approval": package.get("ModelApprovalStatus"),
            "status": package.get("ModelPackageStatus"), "created": package.get("CreationTime"),
            "modified": package.get("LastModifiedTime"),
            "description": package.get("ApprovalDescription"),
            "history": [{"status": h.get("Status"), "comment": h.get("Description"), "actor": h.get("Actor"),
                         "time": h.get("Time")} for h in package.get("ApprovalHistory") or []
                        if isinstance(h, dict)],
            "production": any(e["package_arn"] == arn and e["name"] == schema.ENDPOINT_NAME for e in serving),
            "execution_id": (package.get("CustomerMetadataProperties") or {}).get("myflix_execution_id"),
            "metrics": _package_metrics(store, package),
            "serving": [e["name"] for e in serving if e["package_arn"] == arn],
        })
    approval = {p["arn"]: p["approval"] for p in packages}
    for endpoint in serving:           # say why an endpoint still serves a version a reviewer turned down
        if approval.get(endpoint["package_arn"]) == "Rejected":
            endpoint["note"] = (f"serves version {endpoint['version']}, which is Rejected: "
                                + ("staging keeps the last version deployed to it until another is approved; "
                                   "prod is not affected" if endpoint["name"] != schema.ENDPOINT_NAME
                                   else "reject it again or roll back (myflix deploy rollback --local)"))
    return {"packages": packages, "endpoints": serving, "problems": problems}
