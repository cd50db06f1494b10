"""What `myflix run` does (cli/cmd_run.py parses and serves): the whole pipeline on this machine.

It checks the parameters (the one parser of pipeline/parameters.py), writes the bundled demo data
into the local object store, builds the very definition that goes to SageMaker (the local stand-ins'
bucket, region and role), uploads the code bundle to the local store, runs the definition with the
local runner, releases what the run registered as AWS would (operations/approval.py), logs the
execution to MLflow and prints the summary: the rules, the gate, where every result went.
"""
from __future__ import annotations

import contextlib
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

import reports  # the PNGs of each stored report, drawn as the runner stores it (no job can)
from local_aws import layout, registry
from local_aws.constants import LOCAL_BUCKET, LOCAL_REGION
from local_aws.store import LocalStore, file_digest
from local_runner.plan import DefinitionError, parse_assignments
from local_runner.runner import LocalRunner
from operations import approval, definitions
from operations.demo_data import demo_uris, write_demo_imdb
from operations.deploy import went_ahead
from operations.errors import UserError
from operations.tracking import log_local_quietly
from pipeline.code_bundle import build_bundle
from pipeline.parameters import ParameterError, parse_overrides
from steps import schema
from studio import views

APPROVAL_PARAMETER = "model_approval_status"
DATA_PARAMETERS = ("basics_uri", "ratings_uri")
INTERACTIONS_PARAMETER = "interactions_uri"
SIMULATED_PARAMETER = "simulated_viewers"
# The demo's viewers before any real one exists (docs/steps.md "Simulated viewers"): PrepareInteractions
# uses them only when the local store holds no collected event and no interactions_uri is given.
DEMO_SIMULATED_VIEWERS = 1000


def check_overrides(pairs: list[str], definition_file: bool = False) -> dict[str, Any]:
    """`-p NAME=VALUE` checked before anything is built or run: against the one parameter model
    (unknown names with "did you mean", types, allowed values), or, for a definition file, against
    that file's own parameters (the runner checks those when it reads it)."""
    try:
        return parse_assignments(pairs) if definition_file else parse_overrides(pairs)
    except (DefinitionError, ParameterError) as err:
        raise UserError(str(err)) from None


def run(workdir: Path, overrides: dict, *, definition_file: Path | None, approve: bool,
        display_name: str | None, execution_id: str | None, use_cache: bool, live_url: str | None,
        folder_option: str, started: float) -> tuple[int | None, bool]:
    """Prepare, run, release and report. Returns (exit code, or None to go on serving; whether a
    SIGTERM came during the release and the command should end rather than serve)."""
    try:
        basics_uri, ratings_uri = prepare_demo_data(workdir)
    except RuntimeError as err:  # demo_data.DemoDataError: the bundled source package is missing
        raise UserError(f"cannot write the demo data: {err}") from None
    if definition_file:
        try:
            definition = definition_file.read_text(encoding="utf-8")
        except OSError as err:
            raise UserError(f"cannot read the definition {definition_file}: {err}") from None
    else:
        bundle = build_bundle()
        uploaded = upload_bundle(workdir, bundle)
        print(f"code bundle {bundle.sha256[:12]} ({len(bundle.files)} files, {uploaded} new objects) "
              f"in the local store", flush=True)
        print("building the pipeline definition (the same JSON SageMaker receives)...", flush=True)
        definition = definitions.build_local(bundle)
    declared = {p["Name"] for p in json.loads(definition).get("Parameters") or []}
    for name, uri in zip(DATA_PARAMETERS, (basics_uri, ratings_uri)):
        if name in overrides:
            overrides[name] = import_local_file(workdir, overrides[name], name)
        elif name in declared:
            overrides[name] = uri
    if overrides.get(INTERACTIONS_PARAMETER):
        overrides[INTERACTIONS_PARAMETER] = import_local_file(
            workdir, overrides[INTERACTIONS_PARAMETER], INTERACTIONS_PARAMETER,
            kind="CSV, .csv.gz or parquet in the interactions format")
    if SIMULATED_PARAMETER in declared and SIMULATED_PARAMETER not in overrides:
        overrides[SIMULATED_PARAMETER] = DEMO_SIMULATED_VIEWERS
    runner = LocalRunner(workdir, pipeline_name=schema.PIPELINE_NAME, region=LOCAL_REGION,
                         use_cache=use_cache, after_output=reports.render)
    had_production = production_package(workdir) is not None
    try:
        with sigterm_as_interrupt():       # a step running: SIGTERM stops its process group
            result = runner.run(definition, overrides, display_name=display_name, execution_id=execution_id)
    except DefinitionError as err:
        raise UserError(str(err)) from None
    with sigterm_deferred() as stop:       # the release, the summary and the MLflow record end first
        code = _release_and_report(workdir, result, overrides, started, approve=approve, live_url=live_url,
                                   folder_option=folder_option, had_production=had_production)
    return code, stop["requested"]


def _release_and_report(workdir: Path, result: dict, overrides: dict, started: float, *, approve: bool,
                        live_url: str | None, folder_option: str, had_production: bool) -> int | None:
    """Release what the run registered, print the summary; the exit code, or None to go on serving."""
    deployed = 0
    if result["PipelineExecutionStatus"] == "Succeeded":
        deployed = release_after_run(workdir, result, overrides.get(APPROVAL_PARAMETER),
                                     approve=approve, had_production=had_production)
    print()
    print(summarize(workdir, result))
    log_local_quietly(workdir, result["PipelineExecutionId"])          # one line: where the MLflow run is
    page = f"/studio/#/executions/{result['PipelineExecutionId']}"
    if live_url is not None:
        print(f"Studio (DAG, steps, reports, registry): {live_url}{page}")
    else:   # whatever port serves this folder: not ours to guess
        print(f"Studio (DAG, steps, reports, registry): `myflix serve{folder_option}`, then {page} on its address")
    print(f"\ntotal {time.monotonic() - started:.1f}s; step by step: myflix pipeline status --local{folder_option}")
    hint = command_hint()
    if hint:
        print(hint)
    if result["PipelineExecutionStatus"] != "Succeeded":
        reason = gate_failure_line(workdir, result) or result.get("FailureReason")
        print(f"\nthe run failed: {reason}\nfix the cause and run again: steps "
              "that already succeeded are reused from the cache, so it resumes at the failed step "
              "(`myflix serve`, then /studio, shows the failed step and its log).",
              file=sys.stderr)
        return 1
    if deployed != 0:
        print("\nthe model was registered but not released (see the deploy lines above); "
              "myflix deploy status --local says why", file=sys.stderr)
        return 1
    return None


def prepare_demo_data(workdir: Path, bucket: str = LOCAL_BUCKET) -> tuple[str, str]:
    """The demo IMDb files at s3://<bucket>/raw/ in the local store (written once); their URIs."""
    store = LocalStore(workdir)
    raw = store.path_for(f"s3://{bucket}/{schema.RAW_PREFIX}/")
    uris = demo_uris(bucket)
    basics, ratings = store.path_for(uris["basics_uri"]), store.path_for(uris["ratings_uri"])
    if not (basics.is_file() and ratings.is_file()):
        print(f"writing the demo data (IMDb format) to {raw}", flush=True)
        basics, ratings = (Path(p) for p in write_demo_imdb(raw))
    return store.uri_for(basics), store.uri_for(ratings)


def import_local_file(workdir: Path, value: str, parameter: str, bucket: str = LOCAL_BUCKET,
                      kind: str = ".tsv or .tsv.gz") -> str:
    """A data parameter given as a local file (e.g. IMDb's own title.basics.tsv.gz): copied into
    the local store under raw/local/ (once per content) and replaced by its s3:// URI."""
    if value.startswith("s3://"):
        return value
    source = Path(value).expanduser()
    if not source.is_file():
        raise UserError(f"-p {parameter}={value}: neither an s3:// URI nor a file on this machine "
                        f"(give the path of a {parameter.replace('_uri', '')} file, {kind})")
    store = LocalStore(workdir)
    uri = f"s3://{bucket}/{schema.RAW_PREFIX}/local/{source.name}"
    target = store.path_for(uri)
    if not (target.is_file() and target.stat().st_size == source.stat().st_size
            and file_digest(target) == file_digest(source)):
        print(f"copying {source} into the local store as {uri}", flush=True)
        store.upload_file(source, uri)
    return uri


def upload_bundle(workdir: Path, bundle: Any, bucket: str = LOCAL_BUCKET) -> int:
    """Put the code bundle's objects in the local store (unchanged objects are left alone)."""
    store = LocalStore(workdir)
    written = 0
    for key, data in bundle.uploads().items():
        uri = f"s3://{bucket}/{key}"
        path = store.path_for(uri)
        if path.is_file() and path.read_bytes() == data:
            continue
        store.put_bytes(uri, data)
        written += 1
    return written


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM (a `kill`, a service manager, a CI timeout) ends `myflix run` as Ctrl-C does: the
    running step's process group is stopped and the execution recorded Stopped, not orphaned."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:          # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def sigterm_deferred():
    """SIGTERM while a release is under way waits for the release to end (a release is all or
    nothing: the prod endpoint, the table and the record move together). Yields {"requested"}."""
    flag = {"requested": False}

    def note(signum, frame):
        flag["requested"] = True
        print("myflix run: SIGTERM: stopping once the release under way has ended", file=sys.stderr, flush=True)
    try:
        previous = signal.signal(signal.SIGTERM, note)
    except ValueError:          # not the main thread
        yield flag
        return
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)


def command_hint() -> str | None:
    """How to type `myflix` in this shell when it is not on PATH (`make run` calls .venv/bin/myflix)."""
    found = shutil.which("myflix")
    started_as = Path(sys.argv[0])
    mine = started_as.resolve() if started_as.name == "myflix" else Path(sys.executable).with_name("myflix")
    if found and Path(found).resolve() == mine.resolve():
        return None
    try:
        shown = mine.relative_to(Path.cwd())
    except ValueError:
        shown = mine
    return (f"`myflix` here is {shown}: run `source {shown.parent}/activate` once per shell so that the "
            f"commands above work as written (or type {shown})")


def production_package(workdir: Path) -> str | None:
    """The package the prod endpoint serves (None: no production model in this work folder)."""
    record = _load_json(layout.endpoint_path(workdir, schema.ENDPOINT_NAME))
    return record.get("ModelPackageArn") if isinstance(record, dict) else None


def release_after_run(workdir: Path, result: dict, approval_status: str | None, *, approve: bool,
                      had_production: bool) -> int:
    """What follows the registration, as on AWS: the package waits for a reviewer unless it was
    registered Approved (-p model_approval_status=Approved), `--approve` was given, or this work
    folder has no production model yet (a newcomer's first run approves itself, and says so)."""
    mine = [p for p in registry.list_packages(workdir, schema.MODEL_PACKAGE_GROUP)
            if (p.get("CustomerMetadataProperties") or {}).get("myflix_execution_id") == result["PipelineExecutionId"]]
    if not mine:
        return 0                             # the quality gate stopped it, or another group
    package = mine[0]
    arn, status = package["ModelPackageArn"], package["ModelApprovalStatus"]
    version = package["ModelPackageVersion"]
    if status == "Rejected":
        print(f"\n{arn} was registered Rejected (-p {APPROVAL_PARAMETER}={approval_status}): nothing is released",
              flush=True)
        return 0
    if status == "Approved":
        why = f"registered Approved (-p {APPROVAL_PARAMETER}=Approved): the registry's event deploys it"
    elif approve:
        why = "approved by myflix run --approve"
    elif not had_production:
        why = ("approved by myflix run: the first model of this work folder (no production model yet), "
               "so that the page has something to serve; later runs wait for a reviewer")
    else:
        serving = production_package(workdir) or "the production model"
        print(f"\nregistered version {version} as PendingManualApproval: production keeps serving "
              f"{serving}, the page is unchanged.\nreview it and release it: the Studio's registry page, "
              f"`myflix registry approve {version}`, or next time `myflix run --approve`", flush=True)
        return 0
    print(f"\n{arn}: {why}\nreleasing it: staging -> smoke test -> prod", flush=True)
    if status == "Approved":
        outcome = approval.release(workdir, package, promote=True)
    else:
        package, outcome = approval.decide(workdir, arn, "Approved", description=why,
                                           actor=registry.local_actor(), promote=True)
    return 0 if went_ahead(outcome) else 1


# --- the summary ------------------------------------------------------------------------------
def _outputs_with(workdir: Path, result: dict) -> dict[str, Path]:
    """Every file the run's steps wrote to their processing outputs: name -> local path."""
    store = LocalStore(workdir)
    files: dict[str, Path] = {}
    for step in result.get("Steps", []):
        for uri in (step.get("Outputs") or {}).values():
            if isinstance(uri, str) and uri.startswith("s3://"):
                for rel, path in store.objects(uri).items():
                    files.setdefault(Path(rel).name, path)
                    files.setdefault(f"{step['StepName']}/{Path(rel).name}", path)
    return files


def _load_json(path: Path | None) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path else None
    except (OSError, json.JSONDecodeError):
        return None


def gate_rows(workdir: Path, result: dict) -> list[dict]:
    """The quality gate's conditions of this execution, each with its value, threshold and
    whether it passed (the Studio's reading of the definition that ran)."""
    try:
        gate = views.gate(views.Execution(workdir, result["PipelineExecutionId"]))
    except views.NotFound:
        return []
    return gate["conditions"] if gate else []


def _gate_row_text(row: dict) -> str:
    mark = {True: "ok", False: "FAILED", None: "not evaluated"}[row.get("passed")]
    return f"{row['metric']} {_num(row.get('value'))} (needs {row['op']} {_num(row.get('threshold'))}) {mark}"


def gate_failure_line(workdir: Path, result: dict) -> str | None:
    """`the quality gate failed on <metric> <value> (needs ...)`, rounded, the failing ones only
    (the Studio's line); None when the execution did not fail at its gate."""
    try:
        execution = views.Execution(workdir, result["PipelineExecutionId"])
    except views.NotFound:
        return None
    return views.gate_failure(execution, views.gate(execution))


def summarize(workdir: Path, result: dict) -> str:
    """What a newcomer wants after a run: the status, k, the rules, the gate, where everything is."""
    files = _outputs_with(workdir, result)
    name = result.get("PipelineExecutionDisplayName")
    lines = [f"execution {result['PipelineExecutionId']}: {result['PipelineExecutionStatus']}"
             + (f" ({name})" if name and name != f"local-{result['PipelineExecutionId']}" else "")]
    if result.get("FailureReason"):
        lines.append(f"  reason: {gate_failure_line(workdir, result) or result['FailureReason']}")
    quality = _load_json(files.get(schema.QUALITY_JSON))
    if isinstance(quality, dict) and isinstance(quality.get("rules"), list):
        lines.append("rows kept by each cleaning rule:")
        for rule in quality["rules"]:
            stage = " (training set)" if rule.get("stage") == "training" else ""
            lines.append(f"  {rule.get('rule', '?'):<20} {rule.get('rows_in', 0):>10,} -> "
                         f"{rule.get('rows_out', 0):>10,}{stage}")
        training = quality.get("training")
        if isinstance(training, dict):   # the fences shape the training set, never the catalogue
            by_rule = ", ".join(f"{n:,} by {r}"
                                for r, n in (training.get("outside_by_rule") or {}).items() if n)
            lines.append(f"  catalogue {training.get('catalogue', 0):,} films published; "
                         f"{training.get('outside', 0):,} outside the training fences ({by_rule or 'none'})")
    elbow = _load_json(files.get(schema.ELBOW_JSON))
    if isinstance(elbow, dict):
        lines.append(f"chosen k: {elbow.get('chosen_k')} (method {elbow.get('method')}, knee "
                     f"{elbow.get('knee_k')}, swept k={elbow.get('k_min')}..{elbow.get('k_max')})")
    evaluation = _load_json(files.get(schema.EVALUATION_JSON))
    if isinstance(evaluation, dict):
        sizes = evaluation.get("cluster_sizes") or {}
        lines.append(f"quality gate metrics: silhouette {_num(evaluation.get('silhouette'))}, "
                     f"recall@{evaluation.get('recall_k')} {_num(evaluation.get('recall_at_k'))}, "
                     f"largest cluster share {_num(sizes.get('max_share'))}")
        for row in gate_rows(workdir, result):        # each condition, the failing ones marked
            lines.append(f"  {_gate_row_text(row)}")
        from reports.drift import summary_lines  # function-local: it loads matplotlib (seconds)
        lines += summary_lines(evaluation)
    lines += interaction_lines(_load_json(files.get(schema.INTERACTIONS_JSON)),
                               evaluation if isinstance(evaluation, dict) else {})
    for step in result.get("Steps", []):
        if step.get("StepType") == "Condition" and step.get("StepStatus") == "Succeeded":
            outcome = (step.get("Metadata") or {}).get("Condition", {}).get("Outcome")
            lines.append(f"  {step['StepName']}: {outcome}")
    lines.append("where the results are:")
    table = layout.catalog_path(workdir, schema.GLUE_DATABASE, schema.GLUE_TABLE)
    table_doc = _load_json(table)
    if isinstance(table_doc, dict):
        location = (table_doc.get("StorageDescriptor") or {}).get("Location")
        lines.append(f"  table      {schema.GLUE_DATABASE}.{schema.GLUE_TABLE} -> {location}  ({_rel(table)})")
    packages = registry.list_packages(workdir, schema.MODEL_PACKAGE_GROUP)
    if packages:
        latest = packages[0]
        lines.append(f"  registry   {latest['ModelPackageArn']} ({latest['ModelApprovalStatus']}), "
                     f"model {latest['InferenceSpecification']['Containers'][0]['ModelDataUrl']}")
    for name in (schema.STAGING_ENDPOINT_NAME, schema.ENDPOINT_NAME):
        endpoint = _load_json(layout.endpoint_path(workdir, name))
        if isinstance(endpoint, dict):
            smoke = (endpoint.get("Tags") or {}).get("myflix:smoke", "not-run")
            lines.append(f"  endpoint   {endpoint.get('EndpointName')} {endpoint.get('EndpointStatus')} "
                         f"(package {endpoint.get('ModelPackageArn')}, smoke test {smoke})")
    reports = sorted({_rel(p) for name, p in files.items() if "/" in name
                      and p.suffix in (".png", ".json") and p.name != "features.json"})
    if reports:
        lines.append("  reports    " + "\n             ".join(reports))
    lines.append(f"  records    {_rel(result.get('ExecutionDir'))}")
    return "\n".join(lines)


def interaction_lines(report: Any, evaluation: dict) -> list[str]:
    """The viewers the run learnt from and the ranking figures, labelled simulated when they are."""
    if not isinstance(report, dict):
        return []
    simulated = bool(report.get("simulated"))
    label = ("SIMULATED viewers (no real event yet; docs/steps.md)" if simulated
             else f"source {report.get('source')}")
    count = {key: f"{report.get(key, 0):,}" for key in ("interactions", "viewers", "films", "rows_read",
                                                        "malformed_total", "unknown_films", "forgotten")}
    lines = [f"viewers: {label}: {count['interactions']} interactions, {count['viewers']} viewers, "
             f"{count['films']} films ({count['rows_read']} rows read, {count['malformed_total']} malformed, "
             f"{count['unknown_films']} unknown films, {count['forgotten']} forgotten); collaborative "
             f"{report.get('collaborative')}"]
    ranking = evaluation.get("ranking") or {}
    methods = ranking.get("methods") or {}
    if methods:
        k = ranking.get("k", 10)
        lines.append(f"ranking on {ranking.get('held_out_viewers', 0):,} held-out "
                     f"{'SIMULATED' if simulated else ranking.get('viewers', '')} viewers"
                     + (" (shows the loop runs; NOT the model's quality)" if simulated else "") + ":")
        for name, figures in methods.items():
            lines.append(f"  {name:<13} HR@{k} {_num(figures.get('hr'))}  NDCG@{k} "
                         f"{_num(figures.get('ndcg'))}  MRR {_num(figures.get('mrr'))}  coverage "
                         f"{_num(figures.get('coverage'))}  popular share "
                         f"{_num(figures.get('popular_share'))}")
    gate = evaluation.get("ranking_gate") or {}
    if gate:
        lines.append(f"  ranking gate: {gate.get('status')}")
    return lines


def _rel(path: Any) -> str:
    """A path relative to the current folder when it is under it (.myflix/...): shorter to read."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else str(value)
