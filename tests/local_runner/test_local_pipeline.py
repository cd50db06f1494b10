"""The REAL MyFlix pipeline definition, executed end to end by the local runner on real data.

The definition is the JSON `pipeline.definition.definition_json()` gives SageMaker; the data is
the vega movies fixture (3,201 real films in IMDb's format, tests/imdb_fixtures.py); the k range
and the evaluation samples are made small through pipeline parameters to keep it quick. Sockets
are blocked in this process and, by the runner, in every step subprocess.
"""
from __future__ import annotations

import json
import re
import socket
import tarfile
from pathlib import Path

import pytest

import reports
from local_aws import registry
from local_aws.store import LocalStore
from local_runner import executions
from local_runner.plan import plan
from local_runner.progress import Progress
from local_runner.runner import LocalRunner
from steps import schema

BUCKET = "myflix-local"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/myflix-local"
REPO = Path(__file__).resolve().parents[2]
# slow: about half a minute, the whole pipeline, each step a subprocess; the pipeline reaches nothing
# beyond 127.0.0.1 (tests/conftest.py's loopback_only guards the whole module)
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("loopback_only")]

SMALL = {"k_min": "2", "k_max": "6", "silhouette_sample": "800", "recall_queries": "60",
         # Ingest verifies the vega files the fixture put under raw/ (a local run never downloads)
         "basics_uri": f"s3://{BUCKET}/raw/", "ratings_uri": f"s3://{BUCKET}/raw/",
         "model_approval_status": "Approved",     # as a reviewer would; the deployer does the rest
         # the gate is tested on its own below; here it must pass on this small sample
         "min_silhouette": "-1", "min_recall_at_k": "0", "max_cluster_share": "1"}


@pytest.fixture(scope="module")
def real_definition(definition_json_once) -> str:
    from pipeline.code_bundle import build_bundle
    bundle = build_bundle()
    text = definition_json_once(REGION, ROLE, BUCKET, bundle=bundle)
    scripts = {a.split("/opt/ml/processing/input/code/", 1)[1]
               for step in plan(json.loads(text)) if step.type == "Processing"
               for a in step.step["Arguments"]["AppSpecification"].get("ContainerEntrypoint", [])
               if "/opt/ml/processing/input/code/" in a}
    missing = sorted(s for s in scripts if s not in bundle.files)
    assert not missing, f"the definition runs step scripts the code bundle lacks: {missing}"
    return text


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, real_definition) -> Path:
    from imdb_fixtures import write_vega_imdb  # tests/ is on sys.path under pytest
    from operations.local_run import upload_bundle
    from pipeline.code_bundle import build_bundle
    work = tmp_path_factory.mktemp("local-pipeline")
    write_vega_imdb(LocalStore(work).path_for(f"s3://{BUCKET}/raw/"))
    upload_bundle(work, build_bundle())
    return work


@pytest.fixture(scope="module")
def first_run(workdir: Path, real_definition: str) -> dict:
    runner = LocalRunner(workdir, pipeline_name=schema.PIPELINE_NAME, progress=Progress(quiet=True),
                         after_output=reports.render)
    return runner.run(real_definition, SMALL)


def _steps(result: dict) -> dict[str, dict]:
    return {s["StepName"]: s for s in result["Steps"]}


def _store_json(workdir: Path, uri: str, name: str) -> dict:
    return json.loads((LocalStore(workdir).path_for(uri) / name).read_text())


def test_real_definition_runs_end_to_end(workdir: Path, first_run: dict):
    assert first_run["PipelineExecutionStatus"] == "Succeeded", first_run["FailureReason"]
    steps = _steps(first_run)
    not_run = {n for n, s in steps.items() if s["StepStatus"] == "NotRun"}
    assert all(s["StepStatus"] in ("Succeeded", "NotRun") for s in steps.values())
    # Only the Fail step of the quality gate's else branch is left out.
    assert {steps[n]["StepType"] for n in not_run} == {"Fail"}
    execution_id = first_run["PipelineExecutionId"]

    # Parameter overrides reached the steps: the sweep ran over k = 2..6 only.
    tune = next(s for s in steps.values() if schema.ELBOW_JSON in json.dumps(s.get("Outputs", {}))
                or "elbow" in s.get("Outputs", {}))
    elbow = _store_json(workdir, tune["Outputs"]["elbow"], schema.ELBOW_JSON)
    assert elbow["k"] == [2, 3, 4, 5, 6] and 2 <= elbow["chosen_k"] <= 6

    # JsonGet(chosen_k) became TrainKMeans' k: the model artefact says so.
    model_uri = next(s["Outputs"]["model"] for s in steps.values()
                     if s["StepType"] == "Training" and s["StepName"] == "TrainKMeans")
    with tarfile.open(LocalStore(workdir).path_for(model_uri)) as tar:
        model_json = json.loads(tar.extractfile(schema.MODEL_JSON).read())
        assert "code/inference.py" in tar.getnames()
    assert model_json["k"] == elbow["chosen_k"]

    # Registered (Approved) and staged under this execution's prefix; the pipeline deploys nothing.
    (package,) = registry.list_packages(workdir, schema.MODEL_PACKAGE_GROUP)
    assert package["ModelApprovalStatus"] == "Approved"
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == model_uri
    assert package["CustomerMetadataProperties"]["myflix_table_uri"] == \
        f"s3://{BUCKET}/{schema.TABLE_PREFIX}/{execution_id}/"
    assert not (workdir / "catalog").exists() and not (workdir / "endpoints").exists()
    # The registry's decision goes to the deployer: staging, smoke test, prod, then the table.
    from operations import approval, deploy
    assert deploy.went_ahead(approval.release(workdir, package))
    staging = json.loads((workdir / "endpoints" / f"{schema.STAGING_ENDPOINT_NAME}.json").read_text())
    assert staging["Tags"]["myflix:smoke"] == "passed" and staging["ModelPackageArn"] == package["ModelPackageArn"]
    table = json.loads((workdir / "catalog" / schema.GLUE_DATABASE / f"{schema.GLUE_TABLE}.json").read_text())
    assert table["StorageDescriptor"]["Location"].rstrip("/").endswith(f"{schema.TABLE_PREFIX}/{execution_id}")
    assert table["Parameters"]["myflix_model_package_arn"] == package["ModelPackageArn"]
    endpoint = json.loads((workdir / "endpoints" / f"{schema.ENDPOINT_NAME}.json").read_text())
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["ModelPackageArn"] == package["ModelPackageArn"]

    # No viewer at all (no event, no interactions_uri, simulated_viewers 0): collaborative skipped,
    # and every report says so; the release still carries the (empty) recommender, content only.
    prepared_uri = steps["PrepareInteractions"]["Outputs"]["interactions"]
    prepared = _store_json(workdir, prepared_uri, schema.INTERACTIONS_JSON)
    assert prepared["source"] == "none" and prepared["simulated"] is False and prepared["interactions"] == 0
    assert prepared["collaborative"].startswith("skipped: 0 interactions")
    evaluation = _store_json(workdir, steps["Evaluate"]["Outputs"]["evaluation"], schema.EVALUATION_JSON)
    assert evaluation["ranking"]["viewers"] == "none"
    assert evaluation["ranking_gate"]["status"].startswith("skipped")
    recommender_uri = steps["TrainRecommender"]["Outputs"]["model"]
    assert package["CustomerMetadataProperties"]["myflix_recommender_uri"] == recommender_uri
    with tarfile.open(LocalStore(workdir).path_for(recommender_uri)) as tar:
        assert json.loads(tar.extractfile(schema.RECOMMENDER_JSON).read())["kind"] == "none"
    assert table["Parameters"][schema.TABLE_RECOMMENDER_PARAMETER] == schema.TABLE_RECOMMENDER_NPZ
    prefix = LocalStore(workdir).path_for(table["StorageDescriptor"]["Location"])
    assert json.loads((prefix / schema.TABLE_RECOMMENDER_JSON).read_text())["kind"] == "none"

    # `myflix pipeline status --local` reads the same record.
    described = executions.describe_execution(workdir)
    assert described["PipelineExecutionArn"] == first_run["PipelineExecutionArn"]
    assert all(Path(s["LogFile"]).is_file() for s in described["Steps"]
               if s["StepType"] in ("Processing", "Training"))


def test_impossible_gate_fails_with_the_metrics_and_reuses_the_cache(workdir: Path, first_run: dict,
                                                                    real_definition: str):
    runner = LocalRunner(workdir, pipeline_name=schema.PIPELINE_NAME, progress=Progress(quiet=True),
                         after_output=reports.render)
    result = runner.run(real_definition, dict(SMALL, min_silhouette="2"))
    assert result["PipelineExecutionStatus"] == "Failed"
    steps = _steps(result)
    fail = next(s for s in steps.values() if s["StepType"] == "Fail")
    assert fail["StepStatus"] == "Failed" and "silhouette" in fail["FailureReason"]
    assert fail["FailureReason"] in result["FailureReason"]
    assert all(s["StepStatus"] == "NotRun" for s in steps.values() if s["StepType"] == "RegisterModel")
    # Every cached step before the gate came from the first run: nothing was recomputed.
    # (Evaluate is never cached: it looks the production model up at run time; PrepareInteractions
    # neither: new events arrive between runs, so TrainRecommender, reading its new output, reruns.)
    rerun = {"Evaluate", "PrepareInteractions", "TrainRecommender"}
    cached = [s for s in steps.values() if s["StepType"] in ("Processing", "Training")
              and s["StepStatus"] == "Succeeded" and s["StepName"] not in rerun]
    assert cached and all(s.get("CacheHitResult", {}).get("SourcePipelineExecutionArn")
                          == first_run["PipelineExecutionArn"] for s in cached)
    assert all(steps[name]["StepStatus"] == "Succeeded" and not steps[name].get("CacheHitResult")
               for name in rerun)
    assert len(registry.list_packages(workdir, schema.MODEL_PACKAGE_GROUP)) == 1


def test_myflix_run_command_reuses_the_cache_and_summarises(workdir: Path, first_run: dict, capsys):
    """`myflix run --no-serve` on the same work folder: the data files are there already (kept),
    every cacheable step is a hit, and the summary says where everything went."""
    from cli.main import main
    args = ["run", "--no-serve", "--workdir", str(workdir)]
    for name, value in SMALL.items():
        args += ["-p", f"{name}={value}"]
    assert main(args) == 0
    out = capsys.readouterr().out
    result = executions.describe_execution(workdir)
    assert result["PipelineExecutionStatus"] == "Succeeded"
    assert "writing the demo data" not in out          # the vega files at raw/ were kept
    steps = _steps(result)
    assert steps["Preprocess"]["CacheHitResult"]["SourcePipelineExecutionArn"] == first_run["PipelineExecutionArn"]
    for expected in ("chosen k:", "quality gate metrics:", "rows kept by each cleaning rule",
                     f"{schema.GLUE_DATABASE}.{schema.GLUE_TABLE} -> s3://{BUCKET}/{schema.TABLE_PREFIX}/"
                     f"{result['PipelineExecutionId']}", "model-package/myflix-movie-clusters/",
                     f"{schema.ENDPOINT_NAME} InService", "elbow.json", "quality.json"):
        assert expected in out, expected
    # the fences shape the training set only: the summary says how many films they kept out, and by which
    assert re.search(r"catalogue [\d,]+ films published; [\d,]+ outside the training fences \([\d,]+ by "
                     r"(year_fence|runtime_cap|dropped_genres)", out), out
    assert "(training set)" in out
    # `myflix run` on the demo with no viewer yet: simulated ones, labelled wherever they show
    assert "viewers: SIMULATED viewers" in out and "NOT the model's quality" in out
    assert "ranking gate: skipped: the viewers are simulated" in out
    prepared_uri = steps["PrepareInteractions"]["Outputs"]["interactions"]
    prepared = _store_json(workdir, prepared_uri, schema.INTERACTIONS_JSON)
    assert prepared["simulated"] is True and prepared["source"] == "simulated"
    assert prepared["interactions"] > 0
    newest = registry.list_packages(workdir, schema.MODEL_PACKAGE_GROUP)[0]
    assert newest["CustomerMetadataProperties"]["myflix_viewers"] == "simulated"
    # Approved by `myflix run` (the newest version); `registry list` shows both versions.
    assert main(["registry", "list", "--workdir", str(workdir)]) == 0
    assert capsys.readouterr().out.count("Approved") == 2


def test_a_later_run_waits_for_a_reviewer_and_approve_releases_it(workdir: Path, first_run: dict, capsys):
    """As in the cloud: a plain run registers PendingManualApproval and production does not move (the
    page keeps its table); `myflix run --approve` releases its model."""
    from cli.main import main
    pending = {k: v for k, v in SMALL.items() if k != "model_approval_status"}
    args = (["run", "--no-serve", "--workdir", str(workdir)]
            + [a for k, v in pending.items() for a in ("-p", f"{k}={v}")])
    prod_before = json.loads((workdir / "endpoints" / f"{schema.ENDPOINT_NAME}.json").read_text())["ModelPackageArn"]
    table_before = (workdir / "catalog" / schema.GLUE_DATABASE / f"{schema.GLUE_TABLE}.json").read_text()
    assert main(args) == 0
    out = capsys.readouterr().out
    newest = registry.list_packages(workdir, schema.MODEL_PACKAGE_GROUP)[0]
    assert newest["ModelApprovalStatus"] == "PendingManualApproval"
    assert f"registered version {newest['ModelPackageVersion']} as PendingManualApproval" in out
    assert "the page is unchanged" in out and f"myflix registry approve {newest['ModelPackageVersion']}" in out
    served = json.loads((workdir / "endpoints" / f"{schema.ENDPOINT_NAME}.json").read_text())
    assert served["ModelPackageArn"] == prod_before
    assert (workdir / "catalog" / schema.GLUE_DATABASE / f"{schema.GLUE_TABLE}.json").read_text() == table_before
    assert main(args + ["--approve"]) == 0
    out = capsys.readouterr().out
    newest = registry.list_packages(workdir, schema.MODEL_PACKAGE_GROUP)[0]
    assert newest["ModelApprovalStatus"] == "Approved" and "approved by myflix run --approve" in out
    assert newest["ApprovalHistory"][-1]["Description"] == "approved by myflix run --approve"
    prod = json.loads((workdir / "endpoints" / f"{schema.ENDPOINT_NAME}.json").read_text())
    assert prod["ModelPackageArn"] == newest["ModelPackageArn"] != prod_before


def test_the_first_run_of_an_empty_work_folder_approves_itself_and_says_so(workdir: Path, first_run: dict,
                                                                          tmp_path: Path, capsys):
    """No production model yet (a newcomer's `make run`): the run approves its own model, so the page
    has a table, and says why. (The store and cache are copied: the steps are cache hits.)"""
    import shutil

    from cli.main import main
    fresh = tmp_path / "fresh"
    shutil.copytree(workdir, fresh, ignore=shutil.ignore_patterns("registry", "endpoints", "catalog", "models",
                                                                   "executions", "mlflow"))
    pending = {k: v for k, v in SMALL.items() if k != "model_approval_status"}
    args = ["run", "--no-serve", "--workdir", str(fresh)] + [a for k, v in pending.items() for a in ("-p", f"{k}={v}")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "the first model of this work folder (no production model yet)" in out
    (package,) = registry.list_packages(fresh, schema.MODEL_PACKAGE_GROUP)
    assert package["ModelApprovalStatus"] == "Approved"
    assert json.loads((fresh / "endpoints" / f"{schema.ENDPOINT_NAME}.json").read_text())["ModelPackageArn"] \
        == package["ModelPackageArn"]
    assert (fresh / "catalog" / schema.GLUE_DATABASE / f"{schema.GLUE_TABLE}.json").is_file()


def test_every_step_ran_as_in_its_sagemaker_job(workdir: Path, first_run: dict):
    """The image's packages, the real training toolkit, hyperparameters as it passes them, no plots in jobs."""
    from local_runner import step_env
    steps = _steps(first_run)
    python = step_env.step_python()
    for step in steps.values():
        if step["StepType"] not in ("Processing", "Training") or step["StepStatus"] != "Succeeded":
            continue
        log = Path(step["LogFile"]).read_text()
        assert log.startswith(f"$ {python} "), step["StepName"]       # the step environment's Python
        if step["StepType"] == "Training":
            assert "-m sagemaker_training.cli.train" in log.splitlines()[0]
            assert "sagemaker-training-toolkit INFO     Reporting training SUCCESS" in log
    kmeans_log = Path(steps["TrainKMeans"]["LogFile"]).read_text()
    model = LocalStore(workdir).path_for(steps["TrainKMeans"]["Outputs"]["model"])
    with tarfile.open(model) as tar:
        k = json.loads(tar.extractfile(schema.MODEL_JSON).read())["k"]
    assert f"steps/train_kmeans.py -k {k} --seed" in kmeans_log        # one dash for a one-letter name
    # The PNGs were drawn beside the JSON reports after the jobs, not inside them.
    for step_name, output, png in (("Preprocess", "report", "year_boxplot.png"),
                                   ("TuneKMeans", "elbow", "elbow.png"),
                                   ("Evaluate", "evaluation", "cluster_sizes.png")):
        folder = LocalStore(workdir).path_for(steps[step_name]["Outputs"][output])
        assert (folder / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", (step_name, png)


def test_the_old_s3_submit_directory_fails_in_an_isolated_job_as_in_sagemaker(workdir: Path, first_run: dict,
                                                                              real_definition: str):
    """The definition as it was (training code an s3:// submit directory the toolkit downloads
    inside the job, no `code` channel) with network isolation on, its default: SageMaker fails
    TrainScaler with an AlgorithmError before the script runs, and so must the runner."""
    spec = json.loads(real_definition)
    for step in spec["Steps"]:
        if step["Type"] == "Training":
            args = step["Arguments"]
            code = next(c for c in args["InputDataConfig"] if c["ChannelName"] == "code")
            args["InputDataConfig"].remove(code)
            submit = code["DataSource"]["S3DataSource"]["S3Uri"]
            args["HyperParameters"]["sagemaker_submit_directory"] = submit
    runner = LocalRunner(workdir, pipeline_name=schema.PIPELINE_NAME, progress=Progress(quiet=True),
                         after_output=reports.render)
    result = runner.run(spec, SMALL)
    steps = _steps(result)
    assert result["PipelineExecutionStatus"] == "Failed"
    assert steps["Preprocess"]["StepStatus"] == "Succeeded"
    assert steps["TrainScaler"]["StepStatus"] == "Failed"
    assert steps["TrainScaler"]["FailureReason"].startswith("AlgorithmError")
    ran = Path(_steps(first_run)["TrainScaler"]["LogFile"]).read_text()
    assert "Invoking user script" in ran                        # the toolkit says so when it does
    assert "Invoking user script" not in Path(steps["TrainScaler"]["LogFile"]).read_text()
    assert steps["TrainKMeans"]["StepStatus"] == "NotRun"


def test_myflix_run_serves_the_studio_while_it_runs(workdir: Path, first_run: dict):
    """`myflix run` (serving) starts the page, the API and the Studio before the pipeline: the Studio
    shows the execution while it is Executing, then the same server serves the results until SIGTERM."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # --no-cache: every step runs, so the run lasts long enough to be seen Executing (with the
    # executions of the tests above, each poll of the list takes a while on a loaded machine)
    args = [sys.executable, "-m", "cli.main", "run", "--workdir", str(workdir), "--port", str(port), "--no-cache"]
    for name, value in SMALL.items():
        args += ["-p", f"{name}={value}"]
    earlier = {e["PipelineExecutionId"] for e in executions.list_executions(workdir)}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    import threading
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/studio/api/executions", timeout=5) as r:
                    newest = json.loads(r.read())["executions"][0]
            except OSError:
                time.sleep(0.2)
                continue
            if newest["id"] not in earlier:
                seen.add(newest["status"])
            if "Succeeded" in seen:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                    health = json.loads(r.read())
                # the new table, read by the same server; then the run's summary, and it serves on
                if health.get("execution_id") == newest["id"] and any("MyFlix is on" in line for line in lines):
                    break
            time.sleep(0.2)
        assert "Executing" in seen and "Succeeded" in seen, seen
        assert health["status"] == "ok" and health["pair"]["in_step"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
            reader.join(10)
            output = "".join(lines)
        except subprocess.TimeoutExpired:
            proc.kill()
            reader.join(10)
            pytest.fail(f"myflix run did not stop on SIGTERM:\n{''.join(lines)}")
    assert proc.returncode == 0, output
    assert f"follow the run live in the Studio: http://127.0.0.1:{port}/studio/" in output
    assert output.index("follow the run live") < output.index("MyFlix local run")   # before the pipeline


def test_the_next_run_learns_from_the_newcomers_clicks_alone(workdir: Path, first_run: dict,
                                                             real_definition: str):
    """Events stored the way the API stores them (its local sink, under the store's events/) are what
    the next run learns from, alone: simulated viewers are asked for and not used; a forgotten
    viewer's events are dropped."""
    import pandas as pd

    from chalicelib.events import LocalSink  # the API's own writer (tests/ puts api/ on the path)
    from steps import interactions, simulated_viewers
    catalog_uri = _steps(first_run)["Preprocess"]["Outputs"]["catalog"]
    catalog = pd.read_parquet(LocalStore(workdir).path_for(catalog_uri) / schema.CATALOG_PARQUET)
    clicks = simulated_viewers.simulate(catalog, 40, seed=9)
    prefix = schema.SIMULATED_VIEWER_PREFIX
    clicks["viewer_id"] = clicks["viewer_id"].str.replace(prefix, "newcomer-", regex=False)
    clicks["event_id"] = clicks["event_id"].str.replace(prefix, "click-", regex=False)
    sink = LocalSink(LocalStore(workdir).path_for(f"s3://{BUCKET}/"))
    records = [{**row, "value": None if pd.isna(row["value"]) else float(row["value"]),
                "timestamp": int(row["timestamp"])} for row in clicks.to_dict("records")]
    for start in range(0, len(records), 100):
        assert sink.put(records[start:start + 100])["accepted"] == len(records[start:start + 100])
    sink.forget("newcomer-00001")
    runner = LocalRunner(workdir, pipeline_name=schema.PIPELINE_NAME, progress=Progress(quiet=True),
                         after_output=reports.render)
    # the gate itself is tested in test_train_recommender.py: here the run must go through
    result = runner.run(real_definition, dict(SMALL, simulated_viewers="500", min_interactions="50",
                                              min_ndcg_lift_over_popularity="-1"))
    assert result["PipelineExecutionStatus"] == "Succeeded", result.get("FailureReason")
    steps = _steps(result)
    prepared_uri = steps["PrepareInteractions"]["Outputs"]["interactions"]
    report = _store_json(workdir, prepared_uri, schema.INTERACTIONS_JSON)
    assert report["source"] == "events" and report["simulated"] is False and report["forget_records"] == 1
    frame = pd.read_parquet(LocalStore(workdir).path_for(prepared_uri) / schema.INTERACTIONS_PARQUET)
    assert frame["viewer_id"].str.startswith("newcomer-").all()                # never mixed with simulated
    assert "newcomer-00001" not in set(frame["viewer_id"])                     # forgotten
    assert report["viewers"] == frame["viewer_id"].nunique() > 0
    evaluation = _store_json(workdir, steps["Evaluate"]["Outputs"]["evaluation"], schema.EVALUATION_JSON)
    assert evaluation["ranking"]["viewers"] == "real" and evaluation["ranking"]["collaborative"] == "trained"
    assert set(evaluation["ranking"]["methods"]) == {"content", "popularity", "collaborative", "hybrid"}
    assert evaluation["ranking_gate"]["status"] in ("checked",)
    records_dir = LocalStore(workdir).path_for(f"s3://{BUCKET}/{schema.FORGOTTEN_PREFIX}/")
    assert interactions.viewer_sha256("newcomer-00001") in {p.stem for p in records_dir.glob("*.json")}
