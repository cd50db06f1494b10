"""The local runner: executes a SageMaker pipeline definition's JSON on this machine, step by step.

It reads the very JSON that `pipeline.definition.definition_json()` gives SageMaker (no second
description of the DAG), resolves the parameters (defaults plus overrides), orders the steps by
DependsOn and by the step properties their arguments read, and runs them one at a time:
- Processing: inputs copied from the local object store to folders standing for their container
  paths, the container entrypoint run with this Python, arguments under a declared LocalPath
  rewritten to the local folder, outputs copied back to their S3 URIs.
- Training: the real sagemaker-training toolkit (training.py) over a temporary /opt/ml laid out as
  SageMaker lays it out (config files, channels, the code archive), so the script gets its
  hyperparameters exactly as in a job; SM_MODEL_DIR is packed as
  `<S3OutputPath>/<job name>/output/model.tar.gz`.
Every step runs with the step environment's Python (step_env.py: the SKLearn image's packages),
never the project's. The PNGs of the steps' JSON reports are drawn beside them afterwards
(reports/), since the image has no matplotlib.
- Condition (If/Else; the other branch is reported NotRun), Fail (execution Failed with its
  message), RegisterModel (local model registry), Model (local model record).
Step subprocesses get only the environment their request sets (plus PATH and locale), no AWS
credentials or region, a home folder of their own, and a sitecustomize that refuses network
connections; a job with network gets MYFLIX_LOCAL_ROOT (so steps/aws_io.py uses the local
stand-ins), an isolated job gets neither that nor loopback: no route to anything. Records go to
`<workdir>/executions/<id>/` (see executions.py); enabled CacheConfigs are honoured (cache.py).
"""
from __future__ import annotations

import difflib
import gzip
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import reports
from local_runner import nonet, step_env, training
from local_aws import registry
from local_runner.cache import StepCache, cache_key, parse_duration
from local_runner.executions import ACCOUNT, ExecutionRecorder, stop_reason
from local_runner.expressions import (Context, ExpressionError, describe_condition,
                                        evaluate_condition, referenced_steps, resolve, to_text)
from local_runner.progress import Progress, last_line, tail
from local_aws.store import LocalStore, StoreError, file_digest

DEFAULT_REGION = "us-east-1"
DEFAULT_BUCKET = "myflix-local"
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/myflix-local"
SUPPORTED_TYPES = ("Processing", "Training", "Condition", "Fail", "RegisterModel", "Model")
PYTHON_NAMES = re.compile(r"^python(3(\.\d+)?)?$")
CONTAINER_ROOT = "/opt/ml/"
LOG_TAIL_LINES = 20
# A job's environment is what its request sets (CreateProcessingJob/CreateTrainingJob
# `Environment`; for training also what the training platform documents: TRAINING_JOB_NAME,
# TRAINING_JOB_ARN), never this machine's: no AWS_REGION, no credentials, no ~/.aws. From the host
# only what starting a process needs passes through (the executable search path, locale, temp dir).
HOST_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")


class DefinitionError(ValueError):
    """The definition (or a parameter override) cannot be run: says what and how to fix it."""


class ExecutionStopped(Exception):
    """A stop was requested (StopPipelineExecution; the Studio's Stop button): the running step is
    killed and the execution recorded Stopped."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class StepFailure(Exception):
    """A step failed: `reason` goes to FailureReason, `log_tail` to the record."""

    def __init__(self, reason: str, log_tail: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail


@dataclass
class PlannedStep:
    step: dict
    index: int                                       # position in the flattened definition
    branch: tuple[str, bool] | None = None           # (condition step, outcome) that must hold
    deps: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.step["Name"]

    @property
    def type(self) -> str:
        return self.step.get("Type", "?")


@dataclass
class StepResult:
    status: str                                      # Succeeded | Failed
    properties: dict = field(default_factory=dict)
    property_files: dict = field(default_factory=dict)
    metadata: dict = field(default_factory=dict)
    failure_reason: str | None = None
    log_tail: str | None = None
    cache_hit: str | None = None
    outputs: dict = field(default_factory=dict)
    note: str = ""
    outcome: bool | None = None                      # Condition steps


# --- the definition ----------------------------------------------------------------------------
def load_definition(definition: str | dict | Path) -> dict:
    if isinstance(definition, Path):
        definition = definition.read_text(encoding="utf-8")
    if isinstance(definition, str):
        try:
            definition = json.loads(definition)
        except json.JSONDecodeError as err:
            raise DefinitionError(f"the pipeline definition is not valid JSON: {err}") from err
    if not isinstance(definition, dict) or not isinstance(definition.get("Steps"), list):
        raise DefinitionError("the pipeline definition has no Steps list: is this the JSON from "
                              "pipeline.definition()?")
    return definition


def plan(definition: dict) -> list[PlannedStep]:
    """Every step (branch steps included), in an order that respects every dependency."""
    flat: list[PlannedStep] = []

    def add(steps: list[dict], branch: tuple[str, bool] | None) -> None:
        for step in steps:
            if not isinstance(step, dict) or "Name" not in step:
                raise DefinitionError(f"a step without a Name in the definition: {str(step)[:200]}")
            planned = PlannedStep(step=step, index=len(flat), branch=branch)
            flat.append(planned)
            if step.get("Type") == "Condition":
                args = step.get("Arguments", {})
                add(args.get("IfSteps", []), (step["Name"], True))
                add(args.get("ElseSteps", []), (step["Name"], False))

    add(definition["Steps"], None)
    by_name: dict[str, PlannedStep] = {}
    for planned in flat:
        if planned.name in by_name:
            raise DefinitionError(f"two steps are named {planned.name!r}: step names must be unique")
        by_name[planned.name] = planned
    for planned in flat:
        step = planned.step
        args = step.get("Arguments", {})
        if planned.type == "Condition":
            args = {"Conditions": args.get("Conditions", [])}
        deps = set(step.get("DependsOn") or []) | referenced_steps(args)
        if planned.branch:
            deps.add(planned.branch[0])
        for dep in sorted(deps):
            if dep not in by_name:
                raise DefinitionError(f"step {planned.name} depends on {dep!r}, which is not a step "
                                      "of this definition")
        deps.discard(planned.name)
        planned.deps = deps
    ordered: list[PlannedStep] = []
    done: set[str] = set()
    pending = list(flat)
    while pending:
        ready = [p for p in pending if p.deps <= done]
        if not ready:
            cycle = ", ".join(f"{p.name} <- {sorted(p.deps - done)}" for p in pending)
            raise DefinitionError(f"the steps' dependencies form a cycle: {cycle}")
        nxt = min(ready, key=lambda p: p.index)
        ordered.append(nxt)
        done.add(nxt.name)
        pending.remove(nxt)
    return ordered


def resolve_parameters(definition: dict, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Defaults from the definition, overridden by `overrides` (strings from the command line
    are converted to the parameter's declared type)."""
    declared = {p["Name"]: p for p in definition.get("Parameters") or []}
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        hints = [f"{name} (did you mean {' or '.join(close)}?)" if close else name for name in unknown
                 for close in [difflib.get_close_matches(name, declared, n=2)]]
        raise DefinitionError(f"unknown parameter(s) {', '.join(hints)}: the definition has "
                              f"{', '.join(sorted(declared))}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        kind = spec.get("Type", "String")
        if name in overrides:
            values[name] = _convert(name, kind, overrides[name])
        elif "DefaultValue" in spec:
            values[name] = spec["DefaultValue"]
        else:
            raise DefinitionError(f"parameter {name} has no default: give it with -p {name}=VALUE")
    return values


def _convert(name: str, kind: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if kind == "Integer":
            return int(value)
        if kind == "Float":
            return float(value)
    except ValueError:
        raise DefinitionError(f"parameter {name} is {kind}: {value!r} is not a valid "
                              f"{'integer' if kind == 'Integer' else 'number'}") from None
    if kind == "Boolean":
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise DefinitionError(f"parameter {name} is Boolean: use true or false, not {value!r}")
    return value


def parse_assignments(items: list[str] | None) -> dict[str, str]:
    """["name=value", ...] (from `-p`) -> {name: value}."""
    out: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise DefinitionError(f"-p {item!r}: write parameters as NAME=VALUE")
        out[name.strip()] = value
    return out


def new_execution_id() -> str:
    """Sortable and unique: time to the second plus 4 random characters (an id, not data)."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return f"{stamp}{secrets.token_hex(2)}"


def job_name(execution_id: str, step_name: str) -> str:
    name = re.sub(r"[^A-Za-z0-9-]", "-", f"pipelines-{execution_id}-{step_name}")
    return name[:63].rstrip("-")


# --- the runner --------------------------------------------------------------------------------
class LocalRunner:
    """Runs definitions in `workdir` (the object store, registry, records and cache live there)."""

    def __init__(self, workdir: Path, *, pipeline_name: str = "myflix-movie-clusters",
                 region: str = DEFAULT_REGION, progress: Progress | None = None,
                 block_network: bool = True, use_cache: bool = True,
                 extra_env: dict[str, str] | None = None):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pipeline_name = pipeline_name
        self.region = region
        self.progress = progress or Progress()
        self.block_network = block_network
        self.use_cache = use_cache
        self.extra_env = dict(extra_env or {})
        self.store = LocalStore(self.workdir)
        self.cache = StepCache(self.workdir, self.store)

    # .. public ..................................................................................
    def run(self, definition: str | dict | Path, parameters: dict[str, Any] | None = None,
            display_name: str | None = None, execution_id: str | None = None) -> dict:
        """Run the definition to its end; returns describe_execution() of the finished execution.
        `execution_id`: the id to record it under (the Studio names a run before it starts)."""
        definition = load_definition(definition)
        ordered = plan(definition)
        params = resolve_parameters(definition, parameters)
        unsupported = sorted({p.type for p in ordered} - set(SUPPORTED_TYPES))
        if unsupported:
            raise DefinitionError(f"step type(s) {', '.join(unsupported)} cannot run locally "
                                  f"(the local runner runs {', '.join(SUPPORTED_TYPES)})")
        if execution_id is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}", execution_id):
            raise DefinitionError(f"{execution_id!r} is not an execution id (letters, digits, '-')")
        execution_id = execution_id or new_execution_id()
        recorder = ExecutionRecorder(self.workdir, execution_id, pipeline_name=self.pipeline_name,
                                     region=self.region, display_name=display_name,
                                     parameters=params, definition=definition)
        recorder.declare_steps([p.step for p in ordered])
        self._recorder = recorder
        started = datetime.now(timezone.utc)
        pipeline_arn = recorder.record["PipelineArn"]
        execution = {
            "PipelineExecutionId": execution_id, "PipelineExecutionArn": recorder.arn,
            "PipelineName": self.pipeline_name, "PipelineArn": pipeline_arn,
            "StartDateTime": started.isoformat(), "CurrentDateTime": started.isoformat(),
        }
        properties: dict[str, dict] = {}
        property_files: dict[str, dict] = {}
        status: dict[str, str] = {}
        outcomes: dict[str, bool] = {}

        def step_properties(name: str) -> dict:
            if name not in properties:
                raise ExpressionError(f"step {name} has no properties: it has not run "
                                      f"(status {status.get(name, 'NotRun')})")
            return properties[name]

        def property_file(step: str, name: str) -> Any:
            files = property_files.get(step)
            if files is None:
                raise ExpressionError(f"step {step} has no property files: it has not run")
            if name not in files:
                raise ExpressionError(f"step {step} has no property file {name!r} "
                                      f"(it has {', '.join(files) or 'none'})")
            return files[name]

        def read_json(uri: str) -> Any:
            try:
                return json.loads(self.store.path_for(uri).read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as err:
                raise ExpressionError(f"cannot read JSON at {uri}: {err}") from err

        ctx = Context(parameters=params, execution=execution, step_properties=step_properties,
                      property_file=property_file, read_json=read_json)
        total = len(ordered)
        self.progress.message(f"MyFlix local run {execution_id}: {total} steps, work folder {self.workdir}")
        failure: str | None = None
        stopped: str | None = None
        self._stop_folder = recorder.dir
        for number, planned in enumerate(ordered, start=1):
            name, kind = planned.name, planned.type
            reason = None
            stop = stop_reason(recorder.dir) if not failure else None
            if stop:
                failure = stopped = stop
            if failure:
                reason = (f"not started: the execution was stopped ({stopped})" if stopped
                          else f"not started: the execution failed ({failure.split(':')[0]})")
            elif planned.branch and planned.branch[0] in outcomes \
                    and outcomes[planned.branch[0]] != planned.branch[1]:
                cond, wanted = planned.branch
                reason = f"branch not taken: condition {cond} was {outcomes[cond]}"
            else:
                missing = sorted(d for d in planned.deps if status.get(d) != "Succeeded")
                if missing:
                    reason = f"depends on {', '.join(missing)}, which did not run"
            if reason:
                status[name] = "NotRun"
                recorder.step_not_run(name, reason)
                self.progress.step_skipped(number, total, name, kind, reason)
                continue
            ctx.execution["CurrentDateTime"] = datetime.now(timezone.utc).isoformat()
            log_file = recorder.log_file(name) if kind in ("Processing", "Training") else None
            recorder.step_started(name, log_file)
            step_dir = recorder.dir / "steps" / name
            aliases = {str(step_dir / "container"): "", str(step_dir / "opt_ml"): "/opt/ml"}
            self.progress.step_started(number, total, name, kind, aliases)
            t0 = time.monotonic()
            try:
                result = self._run_step(planned, ctx, execution_id, log_file)
            except KeyboardInterrupt:
                recorder.step_finished(name, "Stopped", failure_reason="interrupted (Ctrl-C)",
                                       log_tail=tail(log_file, LOG_TAIL_LINES) or None)
                recorder.finish("Stopped", "interrupted (Ctrl-C)")
                self.progress.step_finished("Stopped", "interrupted")
                raise
            except ExecutionStopped as err:
                failure = stopped = err.reason
                tail_text = tail(log_file, LOG_TAIL_LINES) or None
                recorder.step_finished(name, "Stopped", failure_reason=f"stopped: {err.reason}",
                                       log_tail=tail_text)
                self.progress.step_finished("Stopped", err.reason, time.monotonic() - t0)
                continue
            except (StepFailure, ExpressionError, StoreError, registry.RegistryError) as err:
                reason_text = err.reason if isinstance(err, StepFailure) else str(err)
                tail_text = getattr(err, "log_tail", None) or (tail(log_file, LOG_TAIL_LINES) or None)
                result = StepResult(status="Failed", failure_reason=reason_text, log_tail=tail_text)
            except Exception as err:  # noqa: BLE001 - a runner bug must still end the record cleanly
                detail = traceback.format_exc()
                if log_file is not None:
                    with open(log_file, "a", encoding="utf-8") as log:
                        log.write("\nlocal runner error:\n" + detail)
                result = StepResult(status="Failed", log_tail=detail[-2000:],
                                    failure_reason=f"local runner error: {type(err).__name__}: {err}")
            elapsed = time.monotonic() - t0
            status[name] = result.status
            if result.status == "Succeeded":
                properties[name] = result.properties
                property_files[name] = result.property_files
                if result.outcome is not None:
                    outcomes[name] = result.outcome
            else:
                failure = f"step {name} failed: {result.failure_reason}"
            recorder.step_finished(name, result.status, failure_reason=result.failure_reason,
                                   metadata=result.metadata, cache_hit=result.cache_hit,
                                   log_tail=result.log_tail, outputs=result.outputs)
            note = result.note if result.status == "Succeeded" else (result.failure_reason or "")
            if not note and result.status == "Succeeded" and log_file is not None:
                # Shown as the container paths the step knows, not the long local folders.
                note = last_line(log_file)
                for folder, shown in aliases.items():
                    note = note.replace(folder, shown)
                note = _clip(note, 110)
            self.progress.step_finished("cached" if result.cache_hit else result.status, note, elapsed)
            if result.status == "Failed" and result.log_tail and kind != "Fail":
                self.progress.message("  last lines of the log "
                                      f"({log_file}):\n" + _indent(result.log_tail, "  | "))
        if stopped:
            return recorder.finish("Stopped", f"stopped: {stopped}")
        final = recorder.finish("Failed" if failure else "Succeeded", failure)
        return final

    # .. dispatch ................................................................................
    def _run_step(self, planned: PlannedStep, ctx: Context, execution_id: str,
                  log_file: Path | None) -> StepResult:
        step, kind = planned.step, planned.type
        if kind == "Condition":
            return self._condition(step, ctx)
        if kind == "Fail":
            message = to_text(resolve(step.get("Arguments", {}).get("ErrorMessage", ""), ctx))
            return StepResult(status="Failed", failure_reason=message or "Fail step reached",
                              metadata={"Fail": {"ErrorMessage": message}})
        if kind == "RegisterModel":
            request = resolve(step.get("Arguments", {}), ctx)
            package = registry.register(self.workdir, request, self.region)
            return StepResult(status="Succeeded", properties=package,
                              metadata={"RegisterModel": {"Arn": package["ModelPackageArn"]}},
                              outputs={"ModelPackageArn": package["ModelPackageArn"]},
                              note=f"{package['ModelPackageGroupName']} version "
                                   f"{package['ModelPackageVersion']} ({package['ModelApprovalStatus']})")
        if kind == "Model":
            request = resolve(step.get("Arguments", {}), ctx)
            model = registry.create_model(self.workdir, request, job_name(execution_id, step["Name"]),
                                          self.region)
            return StepResult(status="Succeeded", properties=model,
                              metadata={"Model": {"Arn": model["ModelArn"]}})
        name = job_name(execution_id, step["Name"])
        key_var = "ProcessingJobName" if kind == "Processing" else "TrainingJobName"
        ctx.step_execution = {key_var: name}
        try:
            args = resolve(step.get("Arguments", {}), ctx)
        finally:
            ctx.step_execution = {}
        key = self._key(step, kind, args) if self._cache_enabled(step) else None
        entry = self._cache_lookup(step, key) if key else None
        if entry is not None:
            source = entry["SourcePipelineExecutionArn"]
            return StepResult(status="Succeeded", properties=entry["Properties"],
                              property_files=entry.get("PropertyFiles", {}),
                              metadata=entry.get("Metadata", {}), cache_hit=source,
                              outputs=entry.get("Outputs", {}),
                              note=f"cache hit: reused the outputs of execution {source.rsplit('/', 1)[-1]}")
        workdir = self._recorder.dir / "steps" / step["Name"]
        if workdir.exists():
            shutil.rmtree(workdir)
        if kind == "Processing":
            result = self._processing(step, args, name, workdir, log_file)
        else:
            result = self._training(step, args, name, workdir, log_file)
        if key:
            self.cache.save(key, step_name=step["Name"], execution_arn=self._recorder.arn,
                            properties=result.properties, property_files=result.property_files,
                            outputs=result.outputs, metadata=result.metadata)
        # The container folders were copies; keep the log and the outputs (in the store) only.
        shutil.rmtree(workdir, ignore_errors=True)
        return result

    def _condition(self, step: dict, ctx: Context) -> StepResult:
        conditions = step.get("Arguments", {}).get("Conditions", [])
        results = [(evaluate_condition(c, ctx), describe_condition(c, ctx)) for c in conditions]
        outcome = all(ok for ok, _ in results)
        failed = [text for ok, text in results if not ok]
        note = f"{outcome}: " + ("; ".join(failed) if failed else "; ".join(t for _, t in results))
        return StepResult(status="Succeeded", properties={"Outcome": outcome}, outcome=outcome,
                          metadata={"Condition": {"Outcome": "True" if outcome else "False"}},
                          outputs={"Conditions": [t for _, t in results]}, note=note)

    # .. caching .................................................................................
    def _cache_enabled(self, step: dict) -> bool:
        config = step.get("CacheConfig") or {}
        return self.use_cache and bool(config.get("Enabled"))

    def _input_uris(self, kind: str, args: dict) -> list[str]:
        if kind == "Processing":
            return [i["S3Input"]["S3Uri"] for i in args.get("ProcessingInputs", []) if "S3Input" in i]
        uris = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in args.get("InputDataConfig", [])
                if "S3DataSource" in c.get("DataSource", {})]
        submit = _decode_hp((args.get("HyperParameters") or {}).get("sagemaker_submit_directory"))
        if isinstance(submit, str) and submit.startswith("s3://"):
            uris.append(submit)
        return uris

    def _key(self, step: dict, kind: str, args: dict) -> str:
        digests = {uri: self.store.digest(uri) for uri in self._input_uris(kind, args)
                   if isinstance(uri, str) and uri.startswith("s3://")}
        digests.update(self._argument_digests(args) if kind == "Processing" else {})
        return cache_key(self.pipeline_name, step["Name"], kind, args, digests)

    def _argument_digests(self, args: dict) -> dict[str, str]:
        """What every s3:// URI given as an argument points at (Ingest's basics_uri/ratings_uri):
        SageMaker keys on the argument's text; locally the key covers the data. A file is its
        digest; a prefix the files directly in it (what steps.aws_io.find_object can pick: not its
        sub-folders, where Ingest's own output may sit)."""
        out = {}
        for arg in (args.get("AppSpecification") or {}).get("ContainerArguments") or []:
            if not (isinstance(arg, str) and arg.startswith("s3://")):
                continue
            try:
                path = self.store.path_for(arg)
            except StoreError:
                continue
            if path.is_file():
                out["argument " + arg] = file_digest(path)
            elif path.is_dir():
                out["argument " + arg] = ";".join(f"{f.name}={file_digest(f)}" for f in sorted(path.iterdir())
                                                  if f.is_file())
        return out

    def _cache_lookup(self, step: dict, key: str) -> dict | None:
        try:
            expire = parse_duration((step.get("CacheConfig") or {}).get("ExpireAfter"))
        except ValueError as err:
            raise StepFailure(str(err)) from err
        return self.cache.lookup(key, expire)

    # .. processing ...............................................................................
    def _processing(self, step: dict, args: dict, name: str, workdir: Path,
                    log_file: Path | None) -> StepResult:
        container = workdir / "container"
        mapping: dict[str, Path] = {}
        for item in args.get("ProcessingInputs", []):
            label = item.get("InputName", "?")
            if "S3Input" not in item:
                raise StepFailure(f"input {label}: only S3Input inputs run locally "
                                  f"(got {', '.join(k for k in item if k != 'InputName')})")
            s3 = item["S3Input"]
            local = _container_dir(container, s3["LocalPath"], f"input {label}")
            if s3.get("S3DataType", "S3Prefix") != "S3Prefix":
                raise StepFailure(f"input {label}: S3DataType {s3.get('S3DataType')} is not supported "
                                  "locally (use S3Prefix)")
            if self.store.download(s3["S3Uri"], local) == 0:
                raise StepFailure(f"input {label}: nothing at {s3['S3Uri']} (local store: "
                                  f"{self.store.path_for(s3['S3Uri'])})")
            mapping[s3["LocalPath"].rstrip("/")] = local
        outputs: list[tuple[str, str, Path]] = []
        for item in (args.get("ProcessingOutputConfig") or {}).get("Outputs", []):
            label = item.get("OutputName", "?")
            if "S3Output" not in item:
                raise StepFailure(f"output {label}: only S3Output outputs run locally")
            s3 = item["S3Output"]
            local = _container_dir(container, s3["LocalPath"], f"output {label}")
            mapping[s3["LocalPath"].rstrip("/")] = local
            outputs.append((label, s3["S3Uri"], local))
        app = args.get("AppSpecification") or {}
        entry = app.get("ContainerEntrypoint") or []
        if not entry:
            raise StepFailure("AppSpecification has no ContainerEntrypoint: the image's own "
                              "entrypoint cannot run locally")
        if not PYTHON_NAMES.match(Path(str(entry[0])).name):
            raise StepFailure(f"entrypoint {entry[0]!r} is not python: the local runner runs Python "
                              "entrypoints only (python3 <script> <args>)")
        script = entry[1] if len(entry) > 1 else None
        if isinstance(script, str) and script.endswith(".py"):
            mapped = _map_argument(script, mapping) if script.startswith(CONTAINER_ROOT) else script
            if script.startswith(CONTAINER_ROOT) and not Path(mapped).is_file():
                code = next((i["S3Input"]["S3Uri"] for i in args.get("ProcessingInputs", [])
                             if "S3Input" in i and script.startswith(i["S3Input"]["LocalPath"].rstrip("/") + "/")), "?")
                raise StepFailure(f"the entrypoint script {script} is not in the step's input {code}: "
                                  "is the script missing from the code bundle?")
        try:
            command = [self._step_python()] + [_map_argument(to_text(a), mapping)
                                          for a in list(entry[1:]) + list(app.get("ContainerArguments") or [])]
        except ValueError as err:
            raise StepFailure(str(err)) from err
        container_env = {}
        for key, value in (args.get("Environment") or {}).items():
            text = to_text(value)
            # Environment values naming a declared container path point at its local folder too.
            try:
                container_env[key] = _map_argument(text, mapping)
            except ValueError:
                container_env[key] = text
        env = self._env(container_env, workdir, isolated=_isolated(args, "Processing"))
        self._execute(command, env, cwd=container, log_file=log_file, timeout=timeout_of(args))
        output_uris = {}
        for label, uri, local in outputs:
            self.store.upload_dir(local, uri)
            output_uris[label] = uri
            self._draw_reports(uri, log_file)
        files = {}
        for spec in step.get("PropertyFiles") or []:
            out = {label: local for label, _, local in outputs}.get(spec.get("OutputName"))
            if out is None:
                raise StepFailure(f"property file {spec.get('PropertyFileName')}: the step has no "
                                  f"output named {spec.get('OutputName')!r}")
            path = out / spec.get("FilePath", "")
            try:
                files[spec["PropertyFileName"]] = json.loads(path.read_text(encoding="utf-8"))
            except FileNotFoundError:
                raise StepFailure(f"property file {spec['PropertyFileName']}: the step did not write "
                                  f"{spec.get('FilePath')} to its output {spec.get('OutputName')}",
                                  tail(log_file, LOG_TAIL_LINES)) from None
            except json.JSONDecodeError as err:
                raise StepFailure(f"property file {spec['PropertyFileName']} "
                                  f"({spec.get('FilePath')}) is not valid JSON: {err}") from err
        arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:processing-job/{name.lower()}"
        properties = dict(args)
        properties.update(ProcessingJobName=name, ProcessingJobArn=arn,
                          ProcessingJobStatus="Completed", ExitMessage="")
        return StepResult(status="Succeeded", properties=properties, property_files=files,
                          metadata={"ProcessingJob": {"Arn": arn}}, outputs=output_uris)

    # .. training .................................................................................
    def _training(self, step: dict, args: dict, name: str, workdir: Path,
                  log_file: Path | None) -> StepResult:
        hps = {k: _decode_hp(v) for k, v in (args.get("HyperParameters") or {}).items()}
        program = hps.get("sagemaker_program")
        submit = hps.get("sagemaker_submit_directory")
        if not program or not submit:
            raise StepFailure("training runs locally in SageMaker script mode only: the step needs the "
                              "sagemaker_program and sagemaker_submit_directory hyperparameters")
        isolated = _isolated(args, "Training")
        root = workdir / "opt_ml"
        channels = list(args.get("InputDataConfig") or [])
        instance_type = (args.get("ResourceConfig") or {}).get("InstanceType", "ml.m5.large")
        submit_here = self._submit_directory(str(submit), str(program), root, isolated)
        folders = training.write_job_config(root, args.get("HyperParameters") or {},
                                            channels, to_text(instance_type), submit_here)
        for channel in channels:
            cname = channel["ChannelName"]
            source = channel.get("DataSource", {}).get("S3DataSource")
            if not source:
                raise StepFailure(f"channel {cname}: only S3DataSource channels run locally")
            if self.store.download(source["S3Uri"], folders["data"] / cname) == 0:
                raise StepFailure(f"channel {cname}: nothing at {source['S3Uri']}")
        if str(submit).startswith(CONTAINER_ROOT):       # a channel must have put the archive there
            self._check_archive(Path(submit_here), str(submit), str(program),
                                [c["ChannelName"] for c in channels])
        env = self._env(args.get("Environment") or {}, workdir, isolated=isolated)
        env.update(training.toolkit_env(root, name))
        try:
            self._execute(training.toolkit_command(self._step_python()), env, cwd=root,
                          log_file=log_file, timeout=timeout_of(args))
        except StepFailure as err:
            reported = training.failure_reason(root)   # what the toolkit wrote to /opt/ml/output/failure
            cause = training.script_error(log_file.read_text(encoding="utf-8", errors="replace")) \
                if log_file is not None and log_file.is_file() else None
            if reported and cause and cause not in reported:
                # SageMaker's FailureReason is the toolkit's text; the script's own error line,
                # which SageMaker leaves in the log, is named too so that it is in view.
                raise StepFailure(f"AlgorithmError: {_clip(reported, 300)}; the script's error: "
                                  f"{_clip(cause, 300)} (log {log_file})", err.log_tail) from None
            if reported:
                raise StepFailure(f"AlgorithmError: {_clip(reported, 400)}", err.log_tail) from None
            raise
        model_dir, output_data = folders["model"], folders["output_data"]
        output_path = (args.get("OutputDataConfig") or {}).get("S3OutputPath")
        if not output_path:
            raise StepFailure("OutputDataConfig.S3OutputPath is missing: nowhere to put model.tar.gz")
        model_uri = f"{output_path.rstrip('/')}/{name}/output/model.tar.gz"
        self.store.put_bytes(model_uri, pack_tarball(model_dir))
        outputs = {"model": model_uri}
        if any(output_data.iterdir()):
            data_uri = f"{output_path.rstrip('/')}/{name}/output/output.tar.gz"
            self.store.put_bytes(data_uri, pack_tarball(output_data))
            outputs["output"] = data_uri
        arn = f"arn:aws:sagemaker:{self.region}:{ACCOUNT}:training-job/{name.lower()}"
        properties = dict(args)
        properties.update(TrainingJobName=name, TrainingJobArn=arn, TrainingJobStatus="Completed",
                          SecondaryStatus="Completed", ModelArtifacts={"S3ModelArtifacts": model_uri},
                          FinalMetricDataList=[])
        return StepResult(status="Succeeded", properties=properties,
                          metadata={"TrainingJob": {"Arn": arn}}, outputs=outputs)

    def _draw_reports(self, uri: str, log_file: Path | None) -> None:
        """The PNGs of a step's JSON reports, drawn here because no job can (reports/)."""
        folder = self.store.path_for(uri)
        if not folder.is_dir():
            return
        notes: list[str] = []
        reports.render(folder, log=notes.append)
        for note in notes:       # a plot that cannot be drawn is news, but never fails the step
            self.progress.message(f"  local runner: {note}")

    def _submit_directory(self, submit: str, program: str, root: Path, isolated: bool) -> str:
        """What `sagemaker_submit_directory` names for the toolkit inside this job.

        A container path (the `code` channel's `/opt/ml/input/data/code/sourcedir.tar.gz`) is the
        same path under the job's local /opt/ml. An s3:// URI is what the toolkit downloads with
        boto3 inside the job: with network, the job's role may, so the local store's file stands
        for the download; with network isolation the job has no network and no credentials, so
        the URI is left as it is and the toolkit's download fails here as it does in SageMaker.
        """
        if not submit.endswith(".tar.gz"):
            raise StepFailure(f"sagemaker_submit_directory {submit} is not a .tar.gz: the training "
                              "toolkit unpacks a sourcedir.tar.gz")
        if submit.startswith(CONTAINER_ROOT):
            try:
                return str(training.container_path(root, submit))
            except ValueError as err:
                raise StepFailure(f"sagemaker_submit_directory: {err}") from err
        if isolated:
            return submit
        try:
            found = self.store.objects(submit)
        except StoreError as err:
            raise StepFailure(f"sagemaker_submit_directory: {err}") from err
        if len(found) != 1:
            raise StepFailure(f"sagemaker_submit_directory: nothing at {submit} (local store "
                              f"{self.store.path_for(submit)}): was the code bundle uploaded?")
        archive = Path(next(iter(found.values())))
        self._check_archive(archive, submit, program)
        return str(archive)

    @staticmethod
    def _check_archive(archive: Path, submit: str, program: str, channels: list[str] | None = None) -> None:
        """The code archive is there (a channel put it there) and holds `sagemaker_program`."""
        if not archive.is_file():
            raise StepFailure(f"sagemaker_submit_directory {submit}: no input channel put a file there "
                              f"(channels: {', '.join(channels or []) or 'none'}); give the code as "
                              f"the channel `code` (sourcedir.tar.gz)")
        try:
            with tarfile.open(archive, "r:gz") as tar:
                names = {m.name.lstrip("./") for m in tar.getmembers()}
        except (tarfile.TarError, OSError) as err:
            raise StepFailure(f"sagemaker_submit_directory {submit} is not a readable tar.gz: {err}") from err
        if program.lstrip("./") not in names:
            raise StepFailure(f"sagemaker_program {program!r} is not in {submit}")

    def _step_python(self) -> str:
        try:
            return step_env.step_python()
        except step_env.StepEnvError as err:
            raise StepFailure(str(err)) from err

    # .. subprocesses .............................................................................
    def _env(self, step_env: dict, job_dir: Path, isolated: bool = False) -> dict[str, str]:
        """The job's environment: its request's `Environment`, nothing of this machine's AWS setup.

        Added by the runner, none of them a way to AWS: a HOME of the job's own (so no ~/.aws),
        PIP_NO_INDEX (a job never installs; should a step try, it fails here too), no metadata
        service, no bytecode files, and the network guard. A job with network also gets
        MYFLIX_LOCAL_ROOT, its route to the local stand-ins of S3, Glue and SageMaker; an isolated
        job gets no route at all, as in SageMaker (no network, no credentials).
        """
        env = {k: os.environ[k] for k in HOST_ENV if k in os.environ}
        home = job_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        env["HOME"] = str(home)
        env.update({k: to_text(v) for k, v in step_env.items()})
        env.update(self.extra_env)
        env.update(AWS_EC2_METADATA_DISABLED="true", PIP_NO_INDEX="1", PYTHONDONTWRITEBYTECODE="1")
        if isolated:
            env["MYFLIX_NETWORK_ISOLATED"] = "1"
            env.pop("MYFLIX_LOCAL_ROOT", None)
        else:
            env["MYFLIX_LOCAL_ROOT"] = str(self.workdir)
        if self.block_network:
            guard = nonet.install(self.workdir / ".runner" / "nonet")
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(guard), env.get("PYTHONPATH")]))
            # Belt and braces for HTTP clients that honour proxies: a port where nothing listens.
            for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                env[var] = "http://127.0.0.1:9"
            env["NO_PROXY"] = env["no_proxy"] = ""
        return env

    def _execute(self, command: list[str], env: dict[str, str], *, cwd: Path,
                 log_file: Path | None, timeout: Any) -> None:
        cwd.mkdir(parents=True, exist_ok=True)
        assert log_file is not None
        limit = float(timeout) if timeout else None
        with open(log_file, "ab") as log:
            log.write(("$ " + " ".join(command) + "\n").encode("utf-8"))
            log.flush()
            # its own process group: stopping the step stops whatever it started too
            process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, start_new_session=True,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            t0 = time.monotonic()
            try:
                while True:
                    try:
                        code = process.wait(timeout=0.5)
                        break
                    except subprocess.TimeoutExpired:
                        self.progress.step_tick(log_file)
                        stop = stop_reason(self._stop_folder) if getattr(self, "_stop_folder", None) else None
                        if stop:
                            process.kill()
                            process.wait()
                            raise ExecutionStopped(stop)
                        if limit and time.monotonic() - t0 > limit:
                            stop_process_group(process)
                            raise StepFailure(f"stopped after MaxRuntimeInSeconds={int(limit)}",
                                              tail(log_file, LOG_TAIL_LINES))
            except KeyboardInterrupt:        # Ctrl-C, or SIGTERM to `myflix run` (cmd_run turns it into this)
                stop_process_group(process)
                raise
        if code != 0:
            last = _last_error_line(log_file)
            raise StepFailure(f"AlgorithmError: {last} (exit code {code}; log {log_file})",
                              tail(log_file, LOG_TAIL_LINES))


# --- helpers ----------------------------------------------------------------------------------
def stop_process_group(process: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the step's whole process group (as SageMaker stops a job), then SIGKILL to
    whatever of it is left after `grace` seconds (the leader, or what it started)."""
    def signal_group(sig: int) -> None:
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
    signal_group(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass
    signal_group(signal.SIGKILL)
    process.wait()


def _container_dir(container: Path, local_path: str, what: str) -> Path:
    if not isinstance(local_path, str) or not local_path.startswith("/"):
        raise StepFailure(f"{what}: LocalPath {local_path!r} is not an absolute container path")
    parts = [p for p in local_path.strip("/").split("/") if p]
    if any(p == ".." for p in parts):
        raise StepFailure(f"{what}: LocalPath {local_path!r} contains '..'")
    folder = container.joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _map_argument(arg: str, mapping: dict[str, Path]) -> str:
    """A container path (equal to or under a declared LocalPath) -> its local folder."""
    for container_path in sorted(mapping, key=len, reverse=True):
        if arg == container_path or arg.startswith(container_path + "/"):
            return str(mapping[container_path]) + arg[len(container_path):]
    if arg.startswith("--") and "=" in arg:
        flag, _, value = arg.partition("=")
        return f"{flag}={_map_argument(value, mapping)}"
    if arg.startswith(CONTAINER_ROOT):
        declared = ", ".join(sorted(mapping)) or "none"
        raise ValueError(f"argument {arg!r} is a container path that no input or output of the "
                         f"step declares (declared: {declared}): declare it as a ProcessingInput "
                         "or ProcessingOutput so the runner can map it")
    return arg


def _isolated(args: dict, kind: str) -> bool:
    """Whether the resolved job request asks for network isolation."""
    value = ((args.get("NetworkConfig") or {}).get("EnableNetworkIsolation") if kind == "Processing"
             else args.get("EnableNetworkIsolation"))
    return value is True or (isinstance(value, str) and value.lower() == "true")


def timeout_of(args: dict) -> Any:
    return (args.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")


def _decode_hp(value: Any) -> Any:
    """Hyperparameters reach the container JSON-encoded when the SDK wrote them so ("\\"x\\"")."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value)
        except (json.JSONDecodeError, ValueError):
            return value
        if isinstance(decoded, (str, int, float, bool)):
            return decoded
    return value


def pack_tarball(folder: Path) -> bytes:
    """model.tar.gz as SageMaker packs SM_MODEL_DIR: the folder's files at the archive root.

    Sorted names, zero times and no gzip timestamp, so the same files give the same bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(Path(folder).rglob("*")):
            rel = path.relative_to(folder).as_posix()
            info = tar.gettarinfo(str(path), arcname=rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if path.is_file():
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def _last_error_line(log_file: Path) -> str:
    lines = [l.strip() for l in tail(log_file, 60).splitlines() if l.strip()]
    for line in reversed(lines):
        if not line.startswith(("File ", "^", "Traceback", "$ ")):
            return line[:500]
    return "the step failed without output"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def run_definition(definition: str | dict | Path, workdir: Path,
                   parameters: dict[str, Any] | None = None, **options: Any) -> dict:
    """One-call form: `LocalRunner(workdir, **options).run(definition, parameters)`."""
    return LocalRunner(workdir, **options).run(definition, parameters)
