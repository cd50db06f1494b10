"""MLflow tracking of pipeline executions, from the outside: one execution = one MLflow run.

Logged by the CLI from what the steps wrote (no job imports MLflow; the SKLearn image has none):
the pipeline parameters as params; Evaluate's `clustering_metrics` (silhouette, recall@k, cluster
shares, drift), `k` and `n_movies` as metrics; `inertia` is the chosen k's (what the runs table
shows), the elbow's curve is `inertia_by_k` with step = k; every report JSON and PNG as artefacts
under `reports/<step>/`; the trained model (a local execution's model.tar.gz) as an MLflow
scikit-learn model with its signature (the 26 features in, the cluster out); tags with the
execution id, status, source (local|cloud) and the model package ARN. The experiment is tagged a
model-training one (`mlflow.experimentKind`), so MLflow's UI opens it on its runs, not in GenAI
mode. Logging is idempotent: the run is found again by its `myflix.execution_id` tag, only metric
points it lacks are added, and the model is logged once.

Where: locally `sqlite:///<workdir>/mlflow/mlflow.db` with artefacts in `<workdir>/mlflow/artifacts`
(what `myflix mlflow ui` opens; MLflow 3 refuses its old file store by default); on AWS the
SageMaker managed MLflow tracking server whose ARN is the tracking URI (the sagemaker-mlflow
plugin signs the requests), set as `mlflow_tracking_arn` in the config file or
$MYFLIX_MLFLOW_TRACKING_ARN. MLflow is imported only when something is logged (it costs seconds).
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from local_aws.store import LocalStore
from local_runner import executions as local_executions
from operations import aws, executions
from operations import reports as step_reports
from operations import settings as settings_mod
from steps import schema

EXPERIMENT = "myflix-movie-clusters"
EXECUTION_TAG = "myflix.execution_id"
PACKAGE_TAG = "myflix.model_package_arn"
STATUS_TAG = "myflix.status"
SOURCE_TAG = "myflix.source"
_EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,63}$")
VIEWERS_TAG = "myflix.viewers"       # real | simulated | none: who the ranking metrics are about
MLFLOW_ENV = {  # offline and quiet: no telemetry, no progress bars in a CLI's output
    "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
# MLflow 3's UI: an experiment of this kind opens on its runs (model training), not on traces (GenAI)
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
MODEL_TAG = "myflix.model_logged"
MODEL_NAME = "model"
_STATUS = {"Succeeded": "FINISHED", "Failed": "FAILED", "Stopped": "KILLED", "Executing": "RUNNING"}


class TrackingError(RuntimeError):
    """Logging to MLflow failed (the message says where and why)."""


@dataclass
class ExecutionOutputs:
    """What one execution left that MLflow records: pure data, local or downloaded from S3."""

    execution_id: str
    status: str
    parameters: dict[str, str]
    reports: dict[str, Path]                       # "<step>/<file>" -> local file (JSON and PNG)
    start: datetime | None = None
    end: datetime | None = None
    model_package_arn: str | None = None
    source: str = "local"
    extra_tags: dict[str, str] = field(default_factory=dict)
    model_file: Path | None = None                 # TrainKMeans' model.tar.gz
    features_file: Path | None = None              # Preprocess's features.parquet (the signature's rows)

    def report(self, name: str) -> Any:
        for key, path in self.reports.items():
            if key.rsplit("/", 1)[-1] == name:
                try:
                    return json.loads(Path(path).read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    return None
        return None


# --- where -----------------------------------------------------------------------------------------
def local_store(workdir: Path) -> tuple[str, str]:
    """(tracking URI, artefact root URI) of the work folder's MLflow store."""
    root = Path(workdir).resolve() / "mlflow"
    return f"sqlite:///{root / 'mlflow.db'}", (root / "artifacts").as_uri()


def _client(tracking_uri: str):
    for key, value in MLFLOW_ENV.items():
        os.environ.setdefault(key, value)
    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    import logging
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)   # "Creating initial tables..."
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=tracking_uri)


# --- what ------------------------------------------------------------------------------------------
def metrics_of(outputs: ExecutionOutputs) -> tuple[dict[str, float], list[tuple[int, float]]]:
    """(single-valued metrics, inertia per k) from evaluation.json and elbow.json (pure)."""
    metrics: dict[str, float] = {}
    evaluation = outputs.report("evaluation.json")
    if isinstance(evaluation, dict):
        for name, item in (evaluation.get("clustering_metrics") or {}).items():
            value = item.get("value") if isinstance(item, dict) else item
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[name] = float(value)
        for name in ("k", "n_movies", "silhouette", "recall_at_k"):
            value = evaluation.get(name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics.setdefault(name, float(value))
        # ranking figures, named for who they are about: simulated viewers' never pass for quality
        ranking = evaluation.get("ranking") or {}
        prefix = "simulated_" if ranking.get("viewers") == "simulated" else ""
        for method, figures in (ranking.get("methods") or {}).items():
            for name, value in (figures or {}).items():
                number = isinstance(value, (int, float)) and not isinstance(value, bool)
                if number and name not in ("viewers", "k"):
                    metrics[f"{prefix}{method}_{name}"] = float(value)
    elbow = outputs.report("elbow.json")
    inertia: list[tuple[int, float]] = []
    if isinstance(elbow, dict):
        inertia = [(int(k), float(v)) for k, v in zip(elbow.get("k") or [], elbow.get("inertia") or [])
                   if isinstance(k, int) and isinstance(v, (int, float))]
        if isinstance(elbow.get("chosen_k"), int):
            metrics["chosen_k"] = float(elbow["chosen_k"])
            # the chosen k's inertia is the run's figure; the curve is kept as inertia_by_k
            chosen = dict(inertia).get(elbow["chosen_k"])
            if chosen is not None:
                metrics["inertia"] = chosen
    return metrics, inertia


def _millis(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if isinstance(value, datetime) else None


# --- logging ---------------------------------------------------------------------------------------
@dataclass
class Logged:
    run_id: str
    experiment_id: str
    tracking_uri: str
    created: bool

    def describe(self) -> str:
        what = "logged as" if self.created else "updated"
        return f"MLflow: {what} run {self.run_id} in experiment {EXPERIMENT} ({self.tracking_uri})"


def log_execution(outputs: ExecutionOutputs, tracking_uri: str, artifact_root: str | None = None,
                  experiment: str = EXPERIMENT) -> Logged:
    """Log (or update) the MLflow run of one execution; returns where it went."""
    if not _EXECUTION_ID.match(outputs.execution_id or ""):
        raise TrackingError(f"{outputs.execution_id!r} is not an execution id")
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException

    client = _client(tracking_uri)
    try:
        found = client.get_experiment_by_name(experiment)
        experiment_id = found.experiment_id if found else client.create_experiment(
            experiment, artifact_location=artifact_root,
            tags={"myflix.pipeline": EXPERIMENT, EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        if found and found.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        runs = client.search_runs([experiment_id], f"tags.`{EXECUTION_TAG}` = '{outputs.execution_id}'",
                                  max_results=2)
        created = not runs
        if created:
            run = client.create_run(experiment_id, start_time=_millis(outputs.start),
                                    tags={EXECUTION_TAG: outputs.execution_id}, run_name=outputs.execution_id)
        else:
            run = runs[0]
        run_id = run.info.run_id
        existing_params = run.data.params
        tags = {STATUS_TAG: outputs.status, SOURCE_TAG: outputs.source, **outputs.extra_tags}
        evaluation = outputs.report("evaluation.json")
        if isinstance(evaluation, dict) and (evaluation.get("ranking") or {}).get("viewers"):
            tags[VIEWERS_TAG] = str(evaluation["ranking"]["viewers"])
        if outputs.model_package_arn:
            tags[PACKAGE_TAG] = outputs.model_package_arn
        # A param cannot change once logged: keep the first value, as the execution had it.
        params = [Param(k, str(v)[:6000]) for k, v in sorted(outputs.parameters.items()) if k not in existing_params]
        metrics, inertia = metrics_of(outputs)
        stamp = _millis(outputs.end) or _millis(outputs.start) or 0
        points = [Metric(name, value, stamp, 0) for name, value in sorted(metrics.items())]
        points += [Metric("inertia_by_k", value, stamp, k) for k, value in inertia]
        points = [m for m in points if not _has_point(client, run_id, run.data.metrics, m)]
        for start in range(0, max(len(params), len(points), 1), 100):   # log_batch's limits
            client.log_batch(run_id, metrics=points[start:start + 100], params=params[start:start + 100],
                             tags=[RunTag(k, v) for k, v in tags.items()] if start == 0 else [])
        for key, path in sorted(outputs.reports.items()):
            step = key.rsplit("/", 1)[0] if "/" in key else ""
            client.log_artifact(run_id, str(path), artifact_path="reports/" + step if step else "reports")
        if outputs.model_file is not None and run.data.tags.get(MODEL_TAG) != "true":
            log_model(client, tracking_uri, run_id, outputs.model_file, outputs.features_file)
        status = _STATUS.get(outputs.status, "FINISHED")
        if status != "RUNNING":
            client.set_terminated(run_id, status=status, end_time=_millis(outputs.end))
    except MlflowException as err:
        raise TrackingError(f"logging execution {outputs.execution_id} to MLflow at {tracking_uri}: {err}") from err
    return Logged(run_id=run_id, experiment_id=experiment_id, tracking_uri=tracking_uri, created=created)


def log_model(client: Any, tracking_uri: str, run_id: str, model_tar: Path, features: Path | None) -> None:
    """The model artefact (model.joblib, a scaler + k-means Pipeline) as an MLflow scikit-learn model
    with its signature: the features in their order (float64) in, the cluster (int) out."""
    import tarfile
    import tempfile

    import joblib
    import mlflow
    import pandas as pd
    import sklearn
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(model_tar) as tar:
            tar.extract(schema.MODEL_JOBLIB, tmp, filter="data")
            meta = json.loads(tar.extractfile(schema.MODEL_JSON).read())
        model = joblib.load(Path(tmp) / schema.MODEL_JOBLIB)
    names = list(meta["features"])
    if features is not None and Path(features).is_file():
        sample = pd.read_parquet(features, columns=names).head(5)
    else:                                   # no rows at hand: one row of zeros has the same schema
        sample = pd.DataFrame([[0.0] * len(names)], columns=names)
    sample = sample.astype("float64")
    signature = infer_signature(sample, model.predict(sample.to_numpy()))
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(run_id=run_id):
        # requirements given, not inferred: inference would import the model in a subprocess
        mlflow.sklearn.log_model(model, name=MODEL_NAME, signature=signature, input_example=sample.head(2),
                                 pip_requirements=[f"scikit-learn=={sklearn.__version__}"])
    client.set_tag(run_id, MODEL_TAG, "true")


def _has_point(client: Any, run_id: str, latest: dict[str, float], metric: Any) -> bool:
    if metric.key not in latest:
        return False
    history = client.get_metric_history(run_id, metric.key)
    return any(h.step == metric.step and h.value == metric.value for h in history)


# --- from the local runner's records -----------------------------------------------------------------
def local_outputs(workdir: Path, execution_id: str | None = None) -> ExecutionOutputs:
    """The outputs of a local execution (the latest when None); LookupError when there is none."""
    record = local_executions.describe_execution(Path(workdir), execution_id)
    store = LocalStore(Path(workdir))
    reports: dict[str, Path] = {}
    package = None
    model_file = features_file = None
    for step in record.get("Steps", []):
        outputs = step.get("Outputs") or {}
        model_uri = outputs.get("model")
        if step.get("StepType") == "Training" and step.get("StepStatus") == "Succeeded" \
                and isinstance(model_uri, str) and _holds(store.path_for(model_uri), schema.MODEL_JOBLIB):
            model_file = store.path_for(model_uri)   # TrainKMeans' model (TrainScaler's has no model.joblib)
        features_uri = outputs.get("features")
        if step.get("StepType") == "Processing" and str(features_uri).startswith("s3://"):
            candidate = store.path_for(features_uri) / schema.FEATURES_PARQUET
            features_file = candidate if candidate.is_file() else features_file
        if step.get("StepType") == "RegisterModel" and step.get("StepStatus") == "Succeeded":
            package = (outputs.get("ModelPackageArn")
                       or ((step.get("Metadata") or {}).get("RegisterModel") or {}).get("Arn"))
        for uri in outputs.values():
            if not (isinstance(uri, str) and uri.startswith("s3://")):
                continue
            folder = store.path_for(uri)
            if not folder.is_dir():
                continue
            for path in sorted(folder.iterdir()):
                if path.is_file() and not path.is_symlink() and (
                        path.name in step_reports.REPORT_NAMES or path.suffix == ".png"):
                    reports.setdefault(f"{step['StepName']}/{path.name}", path)
    return ExecutionOutputs(
        execution_id=record["PipelineExecutionId"], status=record.get("PipelineExecutionStatus", "Unknown"),
        parameters={p["Name"]: p.get("Value", "") for p in record.get("PipelineParameters") or []},
        reports=reports, start=record.get("StartTime"), end=record.get("EndTime"), model_package_arn=package,
        extra_tags={"myflix.pipeline": record.get("PipelineName") or EXPERIMENT},
        model_file=model_file, features_file=features_file)


def _holds(tar_path: Path, name: str) -> bool:
    import tarfile
    try:
        with tarfile.open(tar_path) as tar:
            return name in tar.getnames()
    except (OSError, tarfile.TarError):
        return False


def cloud_outputs(execution: dict, parameters: list[dict], report_files: list[Path],
                  model_package_arn: str | None = None) -> ExecutionOutputs:
    """A cloud execution: DescribePipelineExecution, its ListPipelineParametersForExecution items, and
    the report files `myflix pipeline report` downloaded (out/<step>/<file>, PNGs drawn beside)."""
    arn = execution["PipelineExecutionArn"]
    return ExecutionOutputs(
        execution_id=arn.rsplit("/", 1)[-1], status=execution.get("PipelineExecutionStatus", "Unknown"),
        parameters={p["Name"]: p.get("Value", "") for p in parameters},
        reports={f"{Path(p).parent.name}/{Path(p).name}": Path(p) for p in report_files},
        start=execution.get("CreationTime"), end=execution.get("LastModifiedTime")
        if execution.get("PipelineExecutionStatus") in ("Succeeded", "Failed", "Stopped") else None,
        model_package_arn=model_package_arn, source="cloud",
        extra_tags={"myflix.pipeline": arn.split(":pipeline/", 1)[-1].split("/", 1)[0],
                    "myflix.execution_arn": arn})


def log_local(workdir: Path, execution_id: str | None = None) -> Logged:
    uri, artifacts = local_store(workdir)
    return log_execution(local_outputs(workdir, execution_id), uri, artifacts)


def log_local_quietly(workdir: Path, execution_id: str, note: Callable[[str], None] = print) -> Logged | None:
    """What `myflix run` calls at its end: one line saying where; a failure is a note, never an error."""
    try:
        logged = log_local(workdir, execution_id)
    except ImportError:
        note("MLflow is not installed: the execution was not logged (pip install mlflow)")
        return None
    except (TrackingError, LookupError, OSError) as err:
        note(f"MLflow: not logged ({err})")
        return None
    note(f"{logged.describe()}; see it with: myflix mlflow ui")
    return logged


# --- a SageMaker execution's outputs ----------------------------------------------------------
def cloud_execution_outputs(resolved: settings_mod.Settings, given: str | None,
                            out: Path) -> ExecutionOutputs:
    """A SageMaker execution's parameters, steps and reports (downloaded into `out` and drawn)."""
    client = executions.sagemaker(resolved)
    with aws.user_errors("reading the execution"):
        arn = executions.execution_arn(client, resolved, given)
        execution = client.describe_pipeline_execution(PipelineExecutionArn=arn)
        parameters = _all(client.list_pipeline_parameters_for_execution, "PipelineParameters",
                          PipelineExecutionArn=arn)
        steps = _all(client.list_pipeline_execution_steps, "PipelineExecutionSteps", PipelineExecutionArn=arn)
        fetched = step_reports.download(aws.client(resolved.region, "s3"), resolved.bucket,
                                        resolved.pipeline_name, arn.rsplit("/", 1)[-1], out)
    drawn = step_reports.draw(sorted({p.parent for p in fetched}))
    package = next((((s.get("Metadata") or {}).get("RegisterModel") or {}).get("Arn") for s in steps
                    if ((s.get("Metadata") or {}).get("RegisterModel") or {}).get("Arn")), None)
    return cloud_outputs(execution, parameters, fetched + drawn, package)


def _all(call: Any, key: str, **kwargs: Any) -> list[dict]:
    items, token = [], None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items += page.get(key, [])
        token = page.get("NextToken")
        if not token:
            return items
