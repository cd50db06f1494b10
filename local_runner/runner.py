"""The local runner: executes a SageMaker pipeline definition's JSON on this machine, step by step.

It reads the very JSON that `pipeline.definition.definition_json()` gives SageMaker (no second
description of the DAG); plan.py orders the steps and resolves the parameters; this module runs
them one at a time and records the execution:
- Processing and Training: jobs.py runs them as SageMaker's containers would, with the step
  environment's Python (step_env.py: the SKLearn image's packages), never the project's.
- Condition (If/Else; the other branch is reported NotRun), Fail (execution Failed with its
  message), RegisterModel (local model registry), Model (local model record): here.
After each stored output of a job the caller's `after_output(folder, note)` hook runs: `myflix run`
draws the PNGs of the steps' JSON reports there (reports/; the image has no matplotlib). The runner
itself imports neither steps nor plots. Records go to `<workdir>/executions/<id>/` (see
executions.py); enabled CacheConfigs are honoured (cache.py).
"""
from __future__ import annotations

import json
import re
import shutil
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from local_aws import registry
from local_aws.constants import LOCAL_REGION
from local_aws.store import LocalStore, StoreError, file_digest
from local_runner.cache import StepCache, cache_key, parse_duration
from local_runner.executions import ExecutionRecorder, stop_reason
from local_runner.expressions import Context, ExpressionError, describe_condition, evaluate_condition, resolve, to_text
from local_runner.jobs import (
    LOG_TAIL_LINES,
    AfterOutput,
    ExecutionStopped,
    JobExecutor,
    StepFailure,
    StepResult,
    _clip,
    _decode_hp,
    _indent,
)
from local_runner.plan import (
    DefinitionError,
    PlannedStep,
    job_name,
    load_definition,
    new_execution_id,
    plan,
    resolve_parameters,
)
from local_runner.progress import Progress, last_line, tail

SUPPORTED_TYPES = ("Processing", "Training", "Condition", "Fail", "RegisterModel", "Model")


# --- the runner --------------------------------------------------------------------------------
class LocalRunner(JobExecutor):
    """Runs definitions in `workdir` (the object store, registry, records and cache live there)."""

    def __init__(self, workdir: Path, *, pipeline_name: str = "myflix-movie-clusters",
                 region: str = LOCAL_REGION, progress: Progress | None = None,
                 block_network: bool = True, use_cache: bool = True,
                 extra_env: dict[str, str] | None = None, after_output: AfterOutput | None = None):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pipeline_name = pipeline_name
        self.region = region
        self.progress = progress or Progress()
        self.block_network = block_network
        self.use_cache = use_cache
        self.extra_env = dict(extra_env or {})
        self.after_output = after_output      # (output folder, note) after each stored output
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


def run_definition(definition: str | dict | Path, workdir: Path,
                   parameters: dict[str, Any] | None = None, **options: Any) -> dict:
    """One-call form: `LocalRunner(workdir, **options).run(definition, parameters)`."""
    return LocalRunner(workdir, **options).run(definition, parameters)
