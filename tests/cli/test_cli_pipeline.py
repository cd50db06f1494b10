"""`myflix pipeline ...` against moto (S3 + SageMaker in-process) and against local executions.

moto 5.2 reports an execution Succeeded as soon as it starts and does not implement
ListPipelineExecutionSteps: status/wait must still answer (without steps).
"""
from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from cli.main import UserError, main
from operations import executions, settings
from pipeline import definition as definition_mod
from pipeline.code_bundle import build_bundle

# The same settings as tests/pipeline/test_definition.py and tests/studio/test_dag.py: one generation serves all.
REGION = "eu-west-1"
ROLE = "arn:aws:iam::111122223333:role/myflix-pipeline"
BUCKET = "myflix-test-bucket"
NAME = "myflix-movie-clusters"
GROUP = "myflix-movie-clusters"



@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path, aws_credentials, definition_json_once):
    for var in ("MYFLIX_PIPELINE_NAME", "AWS_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MYFLIX_CONFIG", str(tmp_path / "myflix.json"))
    monkeypatch.setenv("MYFLIX_REGION", REGION)
    monkeypatch.setenv("MYFLIX_ROLE_ARN", ROLE)
    monkeypatch.setenv("MYFLIX_BUCKET", BUCKET)
    # the real definition_json, computed once per (settings, code hash) to keep the file fast
    monkeypatch.setattr(definition_mod, "definition_json", definition_json_once)
    # `pipeline start` asks IMDb's server for its files' ETags (operations/inputs.py): not from tests
    monkeypatch.setattr("operations.inputs.head_fingerprint", lambda url, opener=None: "")
    yield


@pytest.fixture
def aws():
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield boto3.client("sagemaker", region_name=REGION)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- settings ----------------------------------------------------------------------------------
def test_settings_come_from_options_then_environment_then_config(tmp_path):
    config = {"region": "eu-central-1", "role_arn": "arn:aws:iam::1:role/cfg", "bucket": "cfg-bucket"}
    env = {"AWS_DEFAULT_REGION": "eu-west-2", "MYFLIX_BUCKET": "env-bucket"}
    resolved = settings.resolve({"bucket": "cli-bucket"}, env=env, config=config)
    assert (resolved.region, resolved.role, resolved.bucket) == ("eu-west-2", "arn:aws:iam::1:role/cfg", "cli-bucket")
    assert resolved.pipeline_name == NAME and resolved.origin["region"] == "$AWS_DEFAULT_REGION"
    resolved = settings.resolve({}, env={"MYFLIX_REGION": "ap-south-1", "AWS_REGION": "x"}, config={})
    assert resolved.region == "ap-south-1" and resolved.bucket is None
    with pytest.raises(UserError, match=r"no S3 bucket: set --bucket, or the environment variable MYFLIX_BUCKET"):
        resolved.require("region", "bucket")


def test_a_vpc_for_the_jobs_comes_from_the_environment_or_the_config_file():
    from operations import settings as settings_mod
    resolved = settings_mod.resolve({}, env={"MYFLIX_SUBNETS": "subnet-1, subnet-2,"},
                                    config={"security_group_ids": ["sg-1"]})
    assert resolved.subnets == ("subnet-1", "subnet-2") and resolved.security_group_ids == ("sg-1",)
    assert settings_mod.resolve({}, env={}, config={}).subnets == ()


def test_config_file_round_trip_and_bad_file(tmp_path):
    path = tmp_path / "sub" / "config.json"
    settings.save_config({"bucket": "b1", "region": "eu-west-1"}, path)
    settings.save_config({"region": None, "role_arn": "arn:aws:iam::1:role/r"}, path)
    assert settings.load_config(path) == {"bucket": "b1", "role_arn": "arn:aws:iam::1:role/r"}
    path.write_text("{not json")
    with pytest.raises(UserError, match="cannot read the config file"):
        settings.load_config(path)


def test_config_file_is_read_by_the_commands(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MYFLIX_BUCKET")
    monkeypatch.delenv("MYFLIX_ROLE_ARN")
    code, _, err = run(capsys, "pipeline", "definition")
    assert code == 2 and err.count("\n") == 1
    assert "no S3 bucket" in err and "MYFLIX_BUCKET" in err and "from-stack" in err
    assert "no SageMaker execution role ARN" in err and "--role" in err
    settings.save_config({"bucket": BUCKET, "role_arn": ROLE})
    code, out, _ = run(capsys, "pipeline", "definition", "--compact")
    assert code == 0 and f"s3://{BUCKET}/code/" in out and ROLE in out


# --- offline commands --------------------------------------------------------------------------
def test_definition_to_a_file_and_dag_from_it(capsys, tmp_path):
    target = tmp_path / "definition.json"
    code, _, err = run(capsys, "pipeline", "definition", "-o", str(target))
    assert code == 0 and "wrote" in err
    data = json.loads(target.read_text())
    assert json.dumps(data, indent=2, sort_keys=True) + "\n" == target.read_text()
    png, mmd = tmp_path / "dag.png", tmp_path / "dag.mmd"
    code, _, _ = run(capsys, "pipeline", "dag", "--definition-file", str(target), "--png", str(png),
                     "--mermaid", str(mmd))
    assert code == 0 and png.read_bytes()[:4] == b"\x89PNG"
    assert "QualityGate -- else --> QualityGateFailed" in mmd.read_text()


def test_local_definition_needs_no_settings(monkeypatch, capsys, tmp_path):
    for var in ("MYFLIX_REGION", "MYFLIX_ROLE_ARN", "MYFLIX_BUCKET"):
        monkeypatch.delenv(var)
    from local_aws import constants as local
    code, out, _ = run(capsys, "pipeline", "definition", "--local", "--compact")
    assert code == 0 and f"s3://{local.LOCAL_BUCKET}/code/" in out and local.LOCAL_ROLE in out


def test_bad_role_is_one_clear_line(capsys):
    code, _, err = run(capsys, "pipeline", "definition", "--role", "myflix")
    assert code == 2 and err.count("\n") == 1 and "IAM role ARN" in err


# --- against moto ------------------------------------------------------------------------------
def test_upsert_uploads_the_bundle_then_creates_and_updates(aws, capsys, definition_json_once):
    code, out, _ = run(capsys, "pipeline", "upsert")
    assert code == 0 and f"pipeline {NAME} created" in out
    assert f"model package group {GROUP} created" in out
    assert aws.describe_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupName"] == GROUP
    bundle = build_bundle()
    s3 = boto3.client("s3", region_name=REGION)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="code/")["Contents"]}
    assert keys == set(bundle.uploads())
    tarball = s3.get_object(Bucket=BUCKET, Key=f"code/{bundle.sha256}/sourcedir.tar.gz")["Body"].read()
    assert tarball == bundle.sourcedir_tarball()
    deployed = aws.describe_pipeline(PipelineName=NAME)
    assert deployed["RoleArn"] == ROLE
    assert json.loads(deployed["PipelineDefinition"]) == json.loads(
        definition_json_once(REGION, ROLE, BUCKET, NAME, bundle=bundle))
    code, out, _ = run(capsys, "pipeline", "upsert")
    assert code == 0 and f"pipeline {NAME} updated" in out and "0 uploaded" in out
    assert "group" not in out                                   # already there: left alone


def test_diff_shows_real_changes_only(aws, capsys):
    code, _, err = run(capsys, "pipeline", "diff")
    assert code == 2 and "upsert" in err                      # nothing deployed yet
    run(capsys, "pipeline", "upsert")
    code, out, _ = run(capsys, "pipeline", "diff")
    assert code == 0 and "no differences" in out
    deployed = json.loads(aws.describe_pipeline(PipelineName=NAME)["PipelineDefinition"])
    for param in deployed["Parameters"]:
        if param["Name"] == "k_max":
            param["DefaultValue"] = 40
    aws.update_pipeline(PipelineName=NAME, PipelineDefinition=json.dumps(deployed), RoleArn=ROLE)
    code, out, _ = run(capsys, "pipeline", "diff")
    changed = [line for line in out.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    assert code == 1
    assert changed == ['-      "DefaultValue": 40,', '+      "DefaultValue": 50,']


def test_start_status_list_wait(aws, capsys):
    run(capsys, "pipeline", "upsert")
    code, out, _ = run(capsys, "pipeline", "start", "-p", "k_override=20", "-p", "min_rating=6.5",
                       "--display-name", "first")
    assert code == 0 and "started arn:aws:sagemaker" in out and "k_override = 20" in out
    arn = out.split("started ", 1)[1].split()[0]
    params = aws.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
    assert {p["Name"]: p["Value"] for p in params} == {"k_override": "20", "min_rating": "6.5"}
    code, out, _ = run(capsys, "pipeline", "status")
    assert code == 0 and arn in out and "Succeeded" in out
    assert "Parameters k_override=20, min_rating=6.5" in out
    assert "does not list this execution's steps" in out      # moto: no ListPipelineExecutionSteps
    code, out, _ = run(capsys, "pipeline", "status", arn.rsplit("/", 1)[1])
    assert code == 0 and arn in out
    code, out, _ = run(capsys, "pipeline", "list")
    assert code == 0 and arn in out and "Succeeded" in out and "reason" not in out
    code, out, _ = run(capsys, "pipeline", "wait", "--poll", "0")
    assert code == 0 and "execution Succeeded" in out


def test_start_checks_parameters(aws, capsys):
    code, _, err = run(capsys, "pipeline", "start", "-p", "k_overide=3")
    assert code == 2 and "did you mean k_override" in err
    code, _, err = run(capsys, "pipeline", "start", "-p", "k_max=many")
    assert code == 2 and "k_max takes an integer" in err
    code, _, err = run(capsys, "pipeline", "start", "-p", "model_approval_status=yes")
    assert code == 2 and "Approved" in err
    code, _, err = run(capsys, "pipeline", "start", "-p", "nonsense")
    assert code == 2 and "NAME=VALUE" in err
    # StartPipelineExecution refuses an empty value: one whose default is empty is simply not sent
    # (the same value), another is refused here with what to do
    from pipeline.parameters import parse_overrides
    assert parse_overrides(["basics_uri=", "k_max=9"]) == {"k_max": "9"}
    code, _, err = run(capsys, "pipeline", "start", "-p", "title_type=")
    assert code == 2 and "refuses empty parameter values" in err
    code, _, err = run(capsys, "pipeline", "start")             # valid, but nothing deployed
    assert code == 2 and "upsert" in err


def test_approve_latest_package_in_the_group(aws, capsys):
    code, _, err = run(capsys, "pipeline", "approve")
    assert code == 2 and GROUP in err
    aws.create_model_package_group(ModelPackageGroupName=GROUP)
    code, _, err = run(capsys, "pipeline", "approve")
    assert code == 2 and "no model package" in err
    spec = {"Containers": [{"Image": f"1.dkr.ecr.{REGION}.amazonaws.com/sklearn:1",
                            "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"],
            "SupportedResponseMIMETypes": ["application/json"]}
    arns = [aws.create_model_package(ModelPackageGroupName=GROUP, InferenceSpecification=spec,
                                     ModelApprovalStatus="PendingManualApproval")["ModelPackageArn"]
            for _ in range(2)]
    code, out, _ = run(capsys, "pipeline", "approve")
    assert code == 0 and f"{arns[1]}: PendingManualApproval -> Approved" in out
    status = {arn: aws.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] for arn in arns}
    assert status == {arns[0]: "PendingManualApproval", arns[1]: "Approved"}
    code, out, _ = run(capsys, "pipeline", "approve", "--status", "Rejected", "--reason", "drift on runtime")
    assert code == 0
    described = aws.describe_model_package(ModelPackageName=arns[1])
    assert (described["ApprovalDescription"].startswith("drift on runtime (")
            and "UTC" in described["ApprovalDescription"])


def test_approve_shows_the_quality_metrics_studio_cannot_chart(aws, capsys):
    # Studio's Model quality tab charts Model Monitor's classification/regression statistics only:
    # the reviewer reads the clustering metrics here, from the package's own registered file.
    import boto3
    aws.create_model_package_group(ModelPackageGroupName=GROUP)
    key = "runs/p/e1/Evaluate/evaluation/evaluation.json"
    boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=key, Body=json.dumps(
        {"clustering_metrics": {"silhouette": {"value": 0.3125}, "recall_at_10": {"value": 0.9},
                                "k": {"value": 12}}}))
    spec = {"Containers": [{"Image": f"1.dkr.ecr.{REGION}.amazonaws.com/sklearn:1",
                            "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"]}
    arn = aws.create_model_package(
        ModelPackageGroupName=GROUP, InferenceSpecification=spec, ModelApprovalStatus="PendingManualApproval",
        ModelMetrics={"ModelQuality": {"Statistics": {"ContentType": "application/json",
                                                       "S3Uri": f"s3://{BUCKET}/{key}"}}})["ModelPackageArn"]
    code, out, _ = run(capsys, "pipeline", "approve", "--show")
    assert code == 0 and "silhouette 0.3125, recall_at_10 0.9, k 12" in out and "unchanged" in out
    assert aws.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"
    code, out, _ = run(capsys, "pipeline", "approve")
    assert code == 0 and "silhouette 0.3125" in out and "-> Approved" in out


def test_missing_credentials_is_one_clear_line(monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    code, _, err = run(capsys, "pipeline", "list")
    assert code == 2 and "no AWS credentials" in err and "AWS_PROFILE" in err


# --- wait's exit code and progress, on any describe source --------------------------------------
def test_wait_reports_progress_and_fails_with_the_execution(capsys):
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    states = iter([
        ({"PipelineExecutionStatus": "Executing"},
         [{"StepName": "Preprocess", "StepStatus": "Executing", "StartTime": t0}]),
        ({"PipelineExecutionStatus": "Executing"},
         [{"StepName": "Preprocess", "StepStatus": "Succeeded", "StartTime": t0, "EndTime": t0 + timedelta(seconds=65)},
          {"StepName": "TrainScaler", "StepStatus": "Executing", "StartTime": t0}]),
        ({"PipelineExecutionStatus": "Failed", "FailureReason": "Step failure: TrainScaler"},
         [{"StepName": "Preprocess", "StepStatus": "Succeeded", "StartTime": t0, "EndTime": t0 + timedelta(seconds=65)},
          {"StepName": "TrainScaler", "StepStatus": "Failed", "StartTime": t0, "EndTime": t0,
           "FailureReason": "ClientError: bad input",
           "Metadata": {"TrainingJob": {
               "Arn": f"arn:aws:sagemaker:{REGION}:1:training-job/pipelines-abc-TrainScaler"}}}]),
    ])
    code = executions.wait(lambda: (*next(states), ""), region=REGION, poll=0)
    out = capsys.readouterr().out
    assert code == 1
    assert "Preprocess: Executing" in out and "Preprocess: Succeeded" in out and "TrainScaler: Failed" in out
    assert "reason: ClientError: bad input" in out and "1m05s" in out
    assert "#/jobs/pipelines-abc-TrainScaler" in out            # console link from the metadata


def test_wait_gives_up_after_its_timeout(capsys):
    code = executions.wait(lambda: ({"PipelineExecutionStatus": "Executing"}, [], ""), poll=0.01, timeout=0.02)
    assert code == 3 and "stopped waiting" in capsys.readouterr().err


# --- local executions (the local runner's records) ----------------------------------------------
def _record_local_execution(workdir: Path, execution_id: str, fail: bool) -> None:
    from local_runner import executions
    recorder = executions.ExecutionRecorder(workdir, execution_id, pipeline_name=NAME, region=REGION,
                                            display_name=None, parameters={"k_override": 0},
                                            definition={"Steps": []})
    recorder.declare_steps([{"Name": "Preprocess", "Type": "Processing", "DisplayName": "Preprocess IMDb titles"},
                            {"Name": "TrainScaler", "Type": "Training"}])
    recorder.step_started("Preprocess", None)
    recorder.step_finished("Preprocess", "Succeeded")
    if fail:
        recorder.step_started("TrainScaler", workdir / "TrainScaler.log")
        recorder.step_finished("TrainScaler", "Failed", failure_reason="ValueError: no rows left",
                               log_tail="reading features\nTraceback (most recent call last):\n"
                                        "ValueError: no rows left\n")
        recorder.finish("Failed", "Step failure: TrainScaler")
    else:
        recorder.step_started("TrainScaler", None)
        recorder.step_finished("TrainScaler", "Succeeded")
        recorder.finish("Succeeded")


def test_local_status_list_wait(capsys, tmp_path):
    workdir = tmp_path / ".myflix"
    code, _, err = run(capsys, "pipeline", "status", "--local", "--workdir", str(workdir))
    assert code == 2 and "no local pipeline executions" in err
    _record_local_execution(workdir, "run-1", fail=False)
    _record_local_execution(workdir, "run-2", fail=True)
    code, out, _ = run(capsys, "pipeline", "status", "--local", "--workdir", str(workdir))
    assert code == 0 and "execution/run-2" in out and "Failed" in out
    assert "reason: ValueError: no rows left" in out and "Preprocess IMDb titles" in out
    assert "| Traceback (most recent call last):" in out          # the failed step's log tail
    code, out, _ = run(capsys, "pipeline", "status", "--local", "--workdir", str(workdir), "run-1")
    assert code == 0 and "execution/run-1" in out and "Failed" not in out
    code, out, _ = run(capsys, "pipeline", "list", "--local", "--workdir", str(workdir))
    lines = out.splitlines()
    assert code == 0 and "run-2" in lines[1] and "run-1" in lines[-1]
    code, _, _ = run(capsys, "pipeline", "wait", "--local", "--workdir", str(workdir))
    assert code == 1                                            # the latest one failed
    code, _, _ = run(capsys, "pipeline", "wait", "--local", "--workdir", str(workdir), "run-1")
    assert code == 0


def test_myflix_run_checks_parameters_before_building_anything(tmp_path, capsys):
    """A mistyped name answers with "did you mean", a bad type names the parameter; nothing is
    written to the work folder (no demo data, no bundle, no definition) and no port is taken."""
    import time
    work = tmp_path / "w"
    t0 = time.monotonic()
    code, _, err = run(capsys, "run", "--no-serve", "--workdir", str(work), "-p", "k_overide=12")
    assert code == 2 and "did you mean k_override?" in err and "imdb_base_url" not in err   # not the whole list
    code, _, err = run(capsys, "run", "--no-serve", "--workdir", str(work), "-p", "k_max=many")
    assert code == 2 and "k_max" in err and "integer" in err
    code, _, err = run(capsys, "run", "--no-serve", "--workdir", str(work), "--approve",
                       "-p", "model_approval_status=Rejected")
    assert code == 2 and "contradict" in err
    assert not work.exists()
    assert time.monotonic() - t0 < 30          # no bundle, no definition (a loose bound: shared CPUs)


def test_run_help_says_what_a_run_releases_and_every_subcommand_has_a_description(capsys):
    from cli.main import build_parser
    parser = build_parser()
    text = parser._subparsers._group_actions[0].choices["run"].format_help()
    assert "PendingManualApproval" in text and "--approve" in text and "first run" in text

    def walk(p, path):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    assert sub.description, " ".join(path + [name])
                    walk(sub, path + [name])
    walk(parser, ["myflix"])


def test_the_gate_and_the_branch_not_taken_read_the_same_everywhere():
    from local_runner.executions import shown_status
    assert shown_status("NotRun", "branch not taken: condition QualityGate was True") == "NotTaken"
    assert shown_status("NotRun", "not started: the execution failed") == "NotRun"
    assert shown_status(None) == "NotRun" and shown_status("Failed", "x") == "Failed"
    from operations.local_run import _gate_row_text
    assert _gate_row_text({"metric": "max_feature_psi", "op": "<=", "value": 0.312345678, "threshold": 0.25,
                           "passed": False}) == "max_feature_psi 0.312 (needs <= 0.250) FAILED"


def test_the_training_toolkits_failure_names_the_scripts_own_error(tmp_path):
    from local_runner import training
    (tmp_path / "output").mkdir()
    (tmp_path / "output" / "failure").write_text('ExecuteUserScriptError:\nExitCode 2\nErrorMessage ""\n'
                                                 'Command "/venv/bin/python steps/train_scaler.py --scaler foo"')
    assert training.failure_reason(tmp_path) == "ExecuteUserScriptError"          # not the bare Command line
    log = ("usage: train_scaler.py [-h]\ntrain_scaler.py: error: argument --scaler: invalid choice: 'foo'\n"
           "2026-12-03 10:04:00,947 sagemaker-training-toolkit ERROR    Reporting training FAILURE\n"
           "2026-12-03 10:04:00,947 sagemaker-training-toolkit ERROR    Encountered exit_code 1\n")
    assert training.script_error(log) == "train_scaler.py: error: argument --scaler: invalid choice: 'foo'"


def test_a_taken_port_fails_myflix_run_before_anything_is_built(tmp_path, capsys):
    import socket
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code, _, err = run(capsys, "run", "--workdir", str(tmp_path / "w"), "--port", str(port))
    assert code == 2 and f"cannot listen on 127.0.0.1:{port}" in err and "--port" in err
    assert not (tmp_path / "w" / "s3").exists()          # no demo data, no code bundle, no definition


def test_start_passes_what_the_given_inputs_are_so_the_cache_key_follows_the_data(aws, capsys):
    # issue 21 item 2: new files under the same basics_uri must not reuse the cached Ingest
    s3 = boto3.client("s3", region_name=REGION)
    s3.put_object(Bucket=BUCKET, Key="imports/title.basics.tsv.gz", Body=b"first")
    s3.put_object(Bucket=BUCKET, Key="imports/title.ratings.tsv.gz", Body=b"ratings")
    run(capsys, "pipeline", "upsert")

    def started_version() -> str:
        code, out, _ = run(capsys, "pipeline", "start", "-p", f"basics_uri=s3://{BUCKET}/imports/title.basics.tsv.gz",
                           "-p", f"ratings_uri=s3://{BUCKET}/imports/")
        assert code == 0, out
        arn = out.split("started ", 1)[1].split()[0]
        params = aws.list_pipeline_parameters_for_execution(PipelineExecutionArn=arn)["PipelineParameters"]
        return {p["Name"]: p["Value"] for p in params}["input_version"]

    first = started_version()
    assert first.startswith("sha256:") and started_version() == first
    s3.put_object(Bucket=BUCKET, Key="imports/title.basics.tsv.gz", Body=b"second")
    assert started_version() != first
