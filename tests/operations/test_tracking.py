"""MLflow tracking (operations/tracking.py) against the work folder's local store, over a REAL local run.

The run has the pipeline's params, Evaluate's metrics, the inertia per k as a history over k,
the reports as artefacts and the tags; logging again finds the same run and adds nothing. A cloud
execution (its downloaded reports and SageMaker's describe shapes) goes through the same path.
Sockets are blocked in this process: MLflow must not reach the network.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_studio import build_studio_workdir

from operations import tracking

# slow: one real pipeline run; MLflow's import and its sqlite schema. MLflow and the run reach nothing
# beyond 127.0.0.1 (tests/conftest.py's loopback_only guards the whole module).
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("loopback_only")]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    work = tmp_path_factory.mktemp("tracking")
    ids = build_studio_workdir(work)
    from local_aws import registry
    package = registry.list_packages(work)[0]
    first = tracking.log_local(work, ids["passed"])
    return work, ids, package, first


def _client(work: Path):
    from mlflow.tracking import MlflowClient
    return MlflowClient(tracking_uri=tracking.local_store(work)[0])


def test_the_run_has_params_metrics_inertia_per_k_artefacts_and_tags(logged):
    work, ids, package, first = logged
    assert first.created and (work / "mlflow" / "mlflow.db").is_file()
    client = _client(work)
    run = client.get_run(first.run_id)
    assert run.info.status == "FINISHED" and run.info.run_name == ids["passed"]
    assert run.data.params["k_max"] == "6" and run.data.params["min_silhouette"] == "-1.0"
    assert len(run.data.params) == len(json.loads(
        (work / "executions" / ids["passed"] / "definition.json").read_text())["Parameters"])
    evaluation = json.loads(
        next((work / "s3").rglob(f"runs/*/{ids['passed']}/Evaluate/evaluation/evaluation.json")).read_text())
    elbow = json.loads(next((work / "s3").rglob(f"runs/*/{ids['passed']}/TuneKMeans/elbow/elbow.json")).read_text())
    assert run.data.metrics["silhouette"] == pytest.approx(evaluation["silhouette"])
    assert run.data.metrics["k"] == evaluation["k"] == elbow["chosen_k"] == run.data.metrics["chosen_k"]
    assert f"recall_at_{evaluation['recall_k']}" in run.data.metrics
    history = sorted((m.step, m.value) for m in client.get_metric_history(first.run_id, "inertia_by_k"))
    assert history == [(k, pytest.approx(v)) for k, v in zip(elbow["k"], elbow["inertia"])]
    # the runs table's `inertia` is the chosen k's, not the last k swept
    assert run.data.metrics["inertia"] == pytest.approx(dict(zip(elbow["k"], elbow["inertia"]))[elbow["chosen_k"]])
    # a model-training experiment (MLflow's UI opens it on its runs, not in GenAI mode)
    experiment = client.get_experiment(first.experiment_id)
    assert experiment.tags[tracking.EXPERIMENT_KIND_TAG] == "custom_model_development"
    # the model, logged with its signature: the 26 features in order in, the cluster out
    import mlflow
    from mlflow.models import get_model_info
    models = mlflow.search_logged_models(experiment_ids=[first.experiment_id],
                                         filter_string=f"source_run_id = '{first.run_id}'", output_format="list")
    assert len(models) == 1 and run.data.tags[tracking.MODEL_TAG] == "true"
    info = get_model_info(models[0].model_uri)
    features = json.loads(
        next((work / "s3").rglob(f"runs/*/{ids['passed']}/Preprocess/features/features.json")).read_text())
    assert [c["name"] for c in info.signature.inputs.to_dict()] == features["features"]
    assert info.signature.outputs is not None
    loaded = mlflow.sklearn.load_model(models[0].model_uri)
    import pandas as pd
    rows = pd.read_parquet(next((work / "s3").rglob(f"runs/*/{ids['passed']}/Preprocess/features/features.parquet")))
    assert set(loaded.predict(rows[features["features"]].to_numpy()[:50])) <= set(range(evaluation["k"]))
    assert run.data.tags[tracking.EXECUTION_TAG] == ids["passed"]
    assert run.data.tags[tracking.PACKAGE_TAG] == package["ModelPackageArn"]
    assert run.data.tags[tracking.STATUS_TAG] == "Succeeded" and run.data.tags[tracking.SOURCE_TAG] == "local"
    artefacts = {a.path for folder in ("reports/Preprocess", "reports/TuneKMeans", "reports/Evaluate")
                 for a in client.list_artifacts(first.run_id, folder)}
    assert {"reports/Preprocess/quality.json", "reports/Preprocess/year_boxplot.png",
            "reports/Preprocess/runtime_bins.png", "reports/TuneKMeans/elbow.json", "reports/TuneKMeans/elbow.png",
            "reports/Evaluate/evaluation.json", "reports/Evaluate/cluster_sizes.png"} <= artefacts
    local = Path(client.download_artifacts(first.run_id, "reports/TuneKMeans/elbow.json", str(work / "dl")))
    assert json.loads(local.read_text()) == elbow


def test_relogging_finds_the_same_run_and_adds_nothing(logged):
    work, ids, _, first = logged
    again = tracking.log_local(work, ids["passed"])
    assert again.run_id == first.run_id and not again.created
    client = _client(work)
    runs = client.search_runs([first.experiment_id], f"tags.`{tracking.EXECUTION_TAG}` = '{ids['passed']}'")
    assert len(runs) == 1
    assert len(client.get_metric_history(first.run_id, "inertia_by_k")) == 5   # k = 2..6, once each
    assert len(client.get_metric_history(first.run_id, "inertia")) == 1
    import mlflow
    assert len(mlflow.search_logged_models(experiment_ids=[first.experiment_id], output_format="list",
                                           filter_string=f"source_run_id = '{first.run_id}'")) == 1
    assert len(client.get_metric_history(first.run_id, "silhouette")) == 1


def test_the_failed_execution_is_a_failed_run_of_its_own(logged):
    work, ids, _, first = logged
    failed = tracking.log_local(work, ids["failed"])
    assert failed.created and failed.run_id != first.run_id
    run = _client(work).get_run(failed.run_id)
    assert run.info.status == "FAILED" and tracking.PACKAGE_TAG not in run.data.tags
    assert run.data.params["min_silhouette"] == "2.0"


def test_a_cloud_execution_from_its_downloaded_reports(logged, tmp_path):
    """What `myflix mlflow log --cloud` logs: SageMaker's describe shapes + `pipeline report`'s files."""
    work, ids, _, _ = logged
    out = tmp_path / "myflix-report-abc123cloud"
    for step, folder in (("Preprocess", "report"), ("TuneKMeans", "elbow"), ("Evaluate", "evaluation")):
        source = next((work / "s3").rglob(f"runs/*/{ids['passed']}/{step}/{folder}"))
        (out / step).mkdir(parents=True)
        for file in source.iterdir():
            shutil.copy(file, out / step / file.name)
    arn = "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/myflix-movie-clusters/execution/abc123cloud"
    execution = {"PipelineExecutionArn": arn, "PipelineExecutionStatus": "Succeeded",
                 "CreationTime": datetime(2026, 1, 2, tzinfo=timezone.utc),
                 "LastModifiedTime": datetime(2026, 1, 2, 0, 30, tzinfo=timezone.utc)}
    package = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/myflix-movie-clusters/7"
    outputs = tracking.cloud_outputs(execution, [{"Name": "k_max", "Value": "6"}],
                                     sorted(p for p in out.rglob("*") if p.is_file()), package)
    uri, artefacts = tracking.local_store(work)
    result = tracking.log_execution(outputs, uri, artefacts)
    run = _client(work).get_run(result.run_id)
    assert run.data.tags[tracking.SOURCE_TAG] == "cloud" and run.data.tags[tracking.PACKAGE_TAG] == package
    assert run.data.tags["myflix.execution_arn"] == arn and run.data.params == {"k_max": "6"}
    assert run.info.end_time - run.info.start_time == 30 * 60 * 1000
    assert "silhouette" in run.data.metrics
    assert tracking.log_execution(outputs, uri, artefacts).run_id == result.run_id


def test_the_mlflow_commands(logged, capsys, monkeypatch, tmp_path):
    from cli.main import main
    from operations import settings
    work, ids, _, first = logged
    assert main(["mlflow", "log", ids["passed"], "--workdir", str(work)]) == 0
    assert f"updated run {first.run_id}" in capsys.readouterr().out
    assert main(["mlflow", "log", "nosuchexecution", "--workdir", str(work)]) == 2
    assert "no local execution" in capsys.readouterr().err
    assert main(["mlflow", "ui", "--workdir", str(tmp_path / "empty")]) == 2
    assert "no MLflow store" in capsys.readouterr().err
    monkeypatch.setenv("MYFLIX_CONFIG", str(tmp_path / "config.json"))
    monkeypatch.delenv(settings.MLFLOW_TRACKING_ENV, raising=False)
    assert settings.mlflow_tracking_uri() is None
    settings.save_config({"mlflow_tracking_arn": "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/t"})
    assert settings.mlflow_tracking_uri().endswith(":mlflow-tracking-server/t")
    monkeypatch.setenv(settings.MLFLOW_TRACKING_ENV,
                       "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/e")
    assert settings.mlflow_tracking_uri().endswith("/e")


def test_mlflow_ui_stops_everything_it_started_on_sigterm(logged, tmp_path):
    """`myflix mlflow ui` runs the MLflow server in a process group of its own; SIGTERM to the
    command stops the server and all its workers (none left in the group)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    work = logged[0]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "mlflow", "ui", "--workdir", str(work),
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, up = time.monotonic() + 120, False
        while time.monotonic() < deadline and not up and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=3) as r:
                    up = r.status == 200
            except OSError:
                time.sleep(0.5)
        assert up, "the MLflow UI did not come up"
        children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        assert children, "mlflow ui runs as a child process"
        group = os.getpgid(int(children[0]))
        assert group != os.getpgid(proc.pid)          # a group of its own
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "workflowType=machine_learning" in output
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True).stdout.split()
    assert left == [], f"processes of the MLflow server's group still running: {left}"


@pytest.mark.parametrize("viewers, prefix", [("simulated", "simulated_"), ("real", "")])
def test_ranking_metrics_are_named_for_who_they_are_about(tmp_path, viewers, prefix):
    """A figure measured on simulated viewers never lands under the name of a quality metric."""
    report = tmp_path / "evaluation.json"
    report.write_text(json.dumps({"clustering_metrics": {"silhouette": {"value": 0.2}},
                                  "ranking": {"viewers": viewers, "methods": {
                                      "hybrid": {"hr": 0.5, "ndcg": 0.25, "mrr": 0.3, "coverage": 0.1,
                                                 "popular_share": 0.2, "viewers": 40, "k": 10}}}}))
    outputs = tracking.ExecutionOutputs(execution_id="e1", status="Succeeded", parameters={},
                                        reports={"Evaluate/evaluation.json": report})
    metrics, _ = tracking.metrics_of(outputs)
    assert metrics[f"{prefix}hybrid_ndcg"] == 0.25 and metrics[f"{prefix}hybrid_popular_share"] == 0.2
    assert not {"hybrid_viewers", "hybrid_k", f"{prefix}hybrid_viewers"} & set(metrics)
    if prefix:
        assert "hybrid_ndcg" not in metrics
