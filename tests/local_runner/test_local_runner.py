"""The local runner on hand-written definitions in SageMaker's pipeline definition format.

Tiny step scripts of our own (written to a tmp folder and uploaded to the local store as a code
bundle) exercise each step type, data references, property files, conditions, caching, failures
and the network guard. The real MyFlix definition is run in test_local_pipeline.py.
"""
from __future__ import annotations

import io
import json
import socket
import tarfile
from pathlib import Path

import pytest

from local_aws import registry
from local_aws.store import LocalStore
from local_runner import executions
from local_runner.expressions import Context, ExpressionError, evaluate_condition, lookup, parse_path, resolve
from local_runner.plan import DefinitionError, plan, resolve_parameters
from local_runner.progress import Progress
from local_runner.runner import LocalRunner

BUCKET = "test-bucket"
CODE_URI = f"s3://{BUCKET}/code/src/"
SOURCEDIR_URI = f"s3://{BUCKET}/code/sourcedir.tar.gz"
DATA_URI = f"s3://{BUCKET}/raw/numbers.txt"

PREP = '''\
import argparse, json, os, pathlib, sys
p = argparse.ArgumentParser()
p.add_argument("--input"); p.add_argument("--output"); p.add_argument("--factor", type=int)
p.add_argument("--fail", default="no"); p.add_argument("--connect", default="")
p.add_argument("--sleep", type=float, default=0); p.add_argument("--port", type=int, default=443)
a = p.parse_args()
print("local root", os.environ.get("MYFLIX_LOCAL_ROOT"), "step env", os.environ.get("STEP_ENV"))
print("aws key", os.environ.get("AWS_ACCESS_KEY_ID", "none"), flush=True)
print("aws region", os.environ.get("AWS_REGION", "none"), os.environ.get("AWS_DEFAULT_REGION", "none"),
      "home", os.environ.get("HOME"), "host var", os.environ.get("MYFLIX_HOST_ONLY", "none"), flush=True)
if a.sleep:
    import time
    print("sleeping now", flush=True)
    time.sleep(a.sleep)
if a.connect:
    import socket
    socket.create_connection((a.connect, a.port), timeout=2)
if a.fail == "yes":
    print("about to fail: the input is not what prep expects")
    sys.exit("prep: failing on purpose")
nums = [int(x) for x in (pathlib.Path(a.input) / "numbers.txt").read_text().split()]
out = pathlib.Path(a.output)
(out / "scaled.txt").write_text(" ".join(str(n * a.factor) for n in nums))
(out / "stats.json").write_text(json.dumps({"total": sum(nums) * a.factor, "nested": {"count": len(nums)}}))
print("prep done", sum(nums) * a.factor)
'''

TRAIN = '''\
import argparse, json, os, pathlib
p = argparse.ArgumentParser()
p.add_argument("-k", type=int); p.add_argument("--label")   # the toolkit's way: one dash for one letter
a = p.parse_args()
nums = [int(x) for x in (pathlib.Path(os.environ["SM_CHANNEL_DATA"]) / "scaled.txt").read_text().split()]
model = pathlib.Path(os.environ["SM_MODEL_DIR"])
(model / "model.json").write_text(json.dumps({"k": a.k, "sum": sum(nums), "label": a.label,
                                               "hps": json.loads(os.environ["SM_HPS"])}))
print("trained k", a.k)
'''


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Nothing in this process may open a network connection (the steps are guarded separately)."""
    def refuse(self, address, *args, **kwargs):
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise AssertionError(f"a test tried to reach the network: {address}")
    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", refuse)


def _bundle(files: dict[str, str]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    store = LocalStore(work)
    scripts = {"steps/prep.py": PREP, "steps/train.py": TRAIN}
    for name, text in scripts.items():
        store.put_bytes(CODE_URI + name, text.encode())
    store.put_bytes(SOURCEDIR_URI, _bundle(scripts))
    store.put_bytes(DATA_URI, b"1 2 3\n")
    return work


def out_uri(step: str, name: str) -> dict:
    return {"Std:Join": {"On": "/", "Values": ["s3:/", BUCKET, "runs", {"Get": "Execution.PipelineExecutionId"},
                                               step, name]}}


def prep_step(extra_args: list | None = None) -> dict:
    return {
        "Name": "Prep", "Type": "Processing", "DisplayName": "Prepare",
        "Arguments": {
            "AppSpecification": {
                "ImageUri": "example/sklearn:1",
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/steps/prep.py"],
                "ContainerArguments": ["--input", "/opt/ml/processing/input/data",
                                       "--output", "/opt/ml/processing/output/scaled",
                                       "--factor", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.Factor"}]}},
                                       "--fail", {"Get": "Parameters.FailPrep"}] + (extra_args or [])},
            "ProcessingInputs": [
                {"InputName": "code", "S3Input": {"S3Uri": CODE_URI, "LocalPath": "/opt/ml/processing/input/code",
                                                  "S3DataType": "S3Prefix", "S3InputMode": "File"}},
                {"InputName": "data", "S3Input": {"S3Uri": {"Get": "Parameters.DataUri"},
                                                  "LocalPath": "/opt/ml/processing/input/data",
                                                  "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
            "ProcessingOutputConfig": {"Outputs": [
                {"OutputName": "scaled", "S3Output": {"S3Uri": out_uri("Prep", "scaled"),
                                                      "LocalPath": "/opt/ml/processing/output/scaled",
                                                      "S3UploadMode": "EndOfJob"}}]},
            "Environment": {"STEP_ENV": "from-definition"},
            "RoleArn": "arn:aws:iam::000000000000:role/x"},
        "PropertyFiles": [{"PropertyFileName": "Stats", "OutputName": "scaled", "FilePath": "stats.json"}],
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
    }


def train_step() -> dict:
    return {
        "Name": "Train", "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "example/sklearn:1", "TrainingInputMode": "File"},
            "HyperParameters": {
                "sagemaker_program": json.dumps("steps/train.py"),
                "sagemaker_submit_directory": SOURCEDIR_URI,
                "k": {"Std:Join": {"On": "", "Values": [{"Std:JsonGet": {
                    "PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Stats"}, "Path": "nested.count"}}]}},
                "label": {"Get": "Parameters.Label"}},
            "InputDataConfig": [{"ChannelName": "data", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": {"Get": "Steps.Prep.ProcessingOutputConfig.Outputs['scaled'].S3Output.S3Uri"}}}}],
            "OutputDataConfig": {"S3OutputPath": out_uri("Train", "model")},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
            "RoleArn": "arn:aws:iam::000000000000:role/x"},
        "CacheConfig": {"Enabled": True, "ExpireAfter": "P30D"},
    }


def definition(prep: dict | None = None) -> dict:
    total = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Prep.PropertyFiles.Stats"}, "Path": "total"}}
    register = {
        "Name": "Register", "Type": "RegisterModel",
        "Arguments": {
            "ModelPackageGroupName": "test-group",
            "InferenceSpecification": {"Containers": [{
                "Image": "example/sklearn:1", "Environment": {"SAGEMAKER_PROGRAM": "inference.py"},
                "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}],
                "SupportedContentTypes": ["application/json"]},
            "ModelApprovalStatus": {"Get": "Parameters.Approval"},
            "CustomerMetadataProperties": {"execution": {"Get": "Execution.PipelineExecutionId"}}},
    }
    model = {"Name": "Model", "Type": "Model", "Arguments": {
        "ExecutionRoleArn": "arn:aws:iam::000000000000:role/x",
        "PrimaryContainer": {"Image": "example/sklearn:1",
                             "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}}}
    fail = {"Name": "TooSmall", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
        "On": "", "Values": ["total ", total, " is below ", {"Get": "Parameters.MinTotal"}]}}}}
    gate = {"Name": "Gate", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": total,
                        "RightValue": {"Get": "Parameters.MinTotal"}}],
        "IfSteps": [register, model], "ElseSteps": [fail]}}
    return {
        "Version": "2020-12-01", "Metadata": {},
        "Parameters": [
            {"Name": "DataUri", "Type": "String", "DefaultValue": DATA_URI},
            {"Name": "Factor", "Type": "Integer", "DefaultValue": 2},
            {"Name": "FailPrep", "Type": "String", "DefaultValue": "no"},
            {"Name": "Label", "Type": "String", "DefaultValue": "first"},
            {"Name": "MinTotal", "Type": "Float", "DefaultValue": 1.0},
            {"Name": "Approval", "Type": "String", "DefaultValue": "PendingManualApproval"}],
        # Train is listed first: the order must come from its data references, not the list.
        "Steps": [train_step(), prep or prep_step(), gate],
    }


def runner(workdir: Path, **kw) -> LocalRunner:
    return LocalRunner(workdir, pipeline_name="test-pipeline", progress=Progress(io.StringIO()), **kw)


def steps_by_name(result: dict) -> dict[str, dict]:
    return {s["StepName"]: s for s in result["Steps"]}


def read_model(workdir: Path, uri: str) -> dict:
    with tarfile.open(LocalStore(workdir).path_for(uri), "r:gz") as tar:
        return json.loads(tar.extractfile("model.json").read())


def test_full_run_processing_training_condition_register(workdir: Path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-should-never-reach-a-step")
    result = runner(workdir).run(definition(), {"Factor": "10", "Approval": "Approved"})
    assert result["PipelineExecutionStatus"] == "Succeeded", result["FailureReason"]
    steps = steps_by_name(result)
    assert [s["StepName"] for s in result["Steps"]] == ["Prep", "Train", "Gate", "Register", "Model",
                                                         "TooSmall"]
    assert {n: s["StepStatus"] for n, s in steps.items()} == {
        "Prep": "Succeeded", "Train": "Succeeded", "Gate": "Succeeded", "Register": "Succeeded",
        "Model": "Succeeded", "TooSmall": "NotRun"}
    assert "branch not taken" in steps["TooSmall"]["FailureReason"]
    assert steps["Gate"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    # The override reached the step (factor 10), the output landed under the execution's prefix.
    scaled = LocalStore(workdir).path_for(steps["Prep"]["Outputs"]["scaled"] + "/scaled.txt")
    assert scaled.read_text() == "10 20 30"
    assert result["PipelineExecutionId"] in str(scaled)
    log = Path(steps["Prep"]["LogFile"]).read_text()
    assert f"local root {workdir.resolve()}" in log and "step env from-definition" in log
    assert "aws key none" in log                      # credentials are never handed to a step
    # JsonGet fed the hyperparameter; the channel carried Prep's output; SM_HPS has no sagemaker_*.
    model = read_model(workdir, steps["Train"]["Outputs"]["model"])
    assert model == {"k": 3, "sum": 60, "label": "first", "hps": {"k": 3, "label": "first"}}
    assert steps["Train"]["Outputs"]["model"].endswith("/output/model.tar.gz")
    # The registry got version 1, in DescribeModelPackage's shape, with the resolved request.
    (package,) = registry.list_packages(workdir, "test-group")
    assert package["ModelPackageVersion"] == 1 and package["ModelApprovalStatus"] == "Approved"
    assert package["ModelPackageArn"] == ("arn:aws:sagemaker:us-east-1:000000000000:"
                                          "model-package/test-group/1")
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == steps["Train"]["Outputs"]["model"]
    assert package["CustomerMetadataProperties"] == {"execution": result["PipelineExecutionId"]}
    assert steps["Register"]["Metadata"] == {"RegisterModel": {"Arn": package["ModelPackageArn"]}}
    # The Model step (CreateModel) left a DescribeModel-like record pointing at the same artefact.
    (model_file,) = (workdir / "models").glob("*.json")
    model_record = json.loads(model_file.read_text())
    assert model_record["PrimaryContainer"]["ModelDataUrl"] == steps["Train"]["Outputs"]["model"]
    assert steps["Model"]["Metadata"] == {"Model": {"Arn": model_record["ModelArn"]}}


def test_the_runner_draws_nothing_itself_and_calls_its_after_output_hook(workdir: Path):
    """The runner imports no plots: what happens to a stored output is its caller's hook (`myflix
    run` passes reports.render), called once per output folder, its notes shown as progress."""
    seen: list[Path] = []

    def hook(folder: Path, note) -> None:
        seen.append(folder)
        note(f"looked at {folder.name} ({sorted(p.name for p in folder.iterdir())})")

    shown = io.StringIO()
    result = LocalRunner(workdir, pipeline_name="test-pipeline", progress=Progress(shown),
                         after_output=hook).run(definition(), {"Factor": "10"})
    assert result["PipelineExecutionStatus"] == "Succeeded", result["FailureReason"]
    store = LocalStore(workdir)
    assert seen == [store.path_for(steps_by_name(result)["Prep"]["Outputs"]["scaled"])]   # processing outputs
    assert "local runner: looked at scaled (['scaled.txt', 'stats.json'])" in shown.getvalue()


def test_false_condition_runs_the_fail_step(workdir: Path):
    result = runner(workdir).run(definition(), {"MinTotal": "1000"})
    assert result["PipelineExecutionStatus"] == "Failed"
    steps = steps_by_name(result)
    assert steps["Gate"]["Metadata"] == {"Condition": {"Outcome": "False"}}
    assert steps["TooSmall"]["StepStatus"] == "Failed"
    assert steps["TooSmall"]["FailureReason"] == "total 12 is below 1000.0"
    assert steps["Register"]["StepStatus"] == "NotRun"
    assert "total 12 is below 1000.0" in result["FailureReason"]
    assert registry.list_packages(workdir) == []


def test_failing_step_records_reason_and_log_tail_and_stops(workdir: Path):
    result = runner(workdir).run(definition(), {"FailPrep": "yes"})
    assert result["PipelineExecutionStatus"] == "Failed"
    steps = steps_by_name(result)
    prep = steps["Prep"]
    assert prep["StepStatus"] == "Failed"
    assert "prep: failing on purpose" in prep["FailureReason"] and "exit code 1" in prep["FailureReason"]
    assert "about to fail" in prep["LogTail"]
    assert all(steps[n]["StepStatus"] == "NotRun" for n in ("Train", "Gate", "Register", "Model", "TooSmall"))
    assert "Prep" in result["FailureReason"]
    # The summary and the full record agree, and the record is on disk for `status`.
    (summary,) = executions.list_executions(workdir)
    assert summary["PipelineExecutionStatus"] == "Failed"
    assert executions.describe_execution(workdir)["PipelineExecutionArn"] == result["PipelineExecutionArn"]


def test_rerun_resumes_from_the_cache(workdir: Path):
    first = runner(workdir).run(definition(), {"Label": "boom"})
    assert first["PipelineExecutionStatus"] == "Succeeded"
    # Same Prep arguments and inputs, a Train hyperparameter changed: Prep is reused, Train runs.
    second = runner(workdir).run(definition(), {"Label": "second"})
    steps = steps_by_name(second)
    assert steps["Prep"]["CacheHitResult"] == {"SourcePipelineExecutionArn": first["PipelineExecutionArn"]}
    assert "CacheHitResult" not in steps["Train"]
    assert steps["Prep"]["Outputs"] == steps_by_name(first)["Prep"]["Outputs"]
    assert read_model(workdir, steps["Train"]["Outputs"]["model"])["label"] == "second"
    # New input data under the same URI: Prep runs again (the key covers contents locally).
    LocalStore(workdir).put_bytes(DATA_URI, b"4 5 6\n")
    third = steps_by_name(runner(workdir).run(definition(), {"Label": "second"}))
    assert "CacheHitResult" not in third["Prep"] and "CacheHitResult" not in third["Train"]
    assert read_model(workdir, third["Train"]["Outputs"]["model"])["sum"] == 30
    # --no-cache runs everything.
    fourth = steps_by_name(runner(workdir, use_cache=False).run(definition(), {"Label": "second"}))
    assert "CacheHitResult" not in fourth["Prep"]


def test_failed_run_then_fixed_run_resumes_at_the_failed_step(workdir: Path):
    # Train fails first (its script is broken in the store); Prep succeeded and is cached.
    store = LocalStore(workdir)
    good = store.path_for(SOURCEDIR_URI).read_bytes()
    store.put_bytes(SOURCEDIR_URI, _bundle({"steps/train.py": "raise SystemExit('train: broken')\n"}))
    first = runner(workdir).run(definition())
    assert steps_by_name(first)["Train"]["StepStatus"] == "Failed"
    store.put_bytes(SOURCEDIR_URI, good)
    second = steps_by_name(runner(workdir).run(definition()))
    assert second["Prep"]["CacheHitResult"]["SourcePipelineExecutionArn"] == first["PipelineExecutionArn"]
    assert second["Train"]["StepStatus"] == "Succeeded" and "CacheHitResult" not in second["Train"]


def test_training_gets_its_hyperparameters_as_the_toolkit_passes_them(workdir: Path):
    # A script that knows only `--k` fails as it would in a SageMaker job: the real toolkit runs
    # it as `train.py -k 3 --label first` (sagemaker_training.mapping.to_cmd_args).
    store = LocalStore(workdir)
    store.put_bytes(SOURCEDIR_URI, _bundle({"steps/train.py": TRAIN.replace('"-k"', '"--k"')}))
    result = runner(workdir).run(definition())
    train = steps_by_name(result)["Train"]
    assert train["StepStatus"] == "Failed"
    log = Path(train["LogFile"]).read_text()
    assert "steps/train.py -k 3 --label first" in log and "unrecognized arguments: -k 3" in log
    assert "sagemaker-training-toolkit" in log              # the real toolkit launched it


def test_steps_run_with_the_images_packages_not_the_projects(workdir: Path):
    # matplotlib is in the project's environment but not in the SKLearn image: a step that
    # imports it fails locally exactly as it would in the job.
    prep = prep_step()
    result = runner(workdir).run(definition(prep))
    assert steps_by_name(result)["Prep"]["StepStatus"] == "Succeeded"
    store = LocalStore(workdir)
    code = store.path_for(CODE_URI + "steps/prep.py")
    code.write_text("import matplotlib\n" + code.read_text())
    failed = steps_by_name(runner(workdir, use_cache=False).run(definition(prep)))["Prep"]
    assert failed["StepStatus"] == "Failed"
    assert "No module named 'matplotlib'" in failed["FailureReason"]


def test_network_isolation_blocks_even_loopback(workdir: Path):
    # A listening loopback port: reachable from a step without isolation (the local stand-ins),
    # refused to one whose job asks for EnableNetworkIsolation, as SageMaker refuses everything.
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    try:
        port = server.getsockname()[1]
        connect = ["--connect", "127.0.0.1", "--port", str(port)]
        open_prep = prep_step(connect)
        assert steps_by_name(runner(workdir).run(definition(open_prep)))["Prep"]["StepStatus"] == "Succeeded"
        isolated = prep_step(connect)
        isolated["Arguments"]["NetworkConfig"] = {"EnableNetworkIsolation": {"Get": "Parameters.Isolate"}}
        isolated_def = definition(isolated)
        isolated_def["Parameters"].append({"Name": "Isolate", "Type": "Boolean", "DefaultValue": True})
        failed = steps_by_name(runner(workdir, use_cache=False).run(isolated_def))["Prep"]
        assert failed["StepStatus"] == "Failed"
        assert "network isolation" in Path(failed["LogFile"]).read_text()
    finally:
        server.close()


def test_a_step_gets_only_its_requests_environment(workdir: Path, monkeypatch):
    # Nothing of this machine reaches a job that SageMaker would not give it: no region, no
    # credentials, not the developer's home (~/.aws), no stray variable; the request's do.
    for name, value in (("AWS_REGION", "eu-west-1"), ("AWS_DEFAULT_REGION", "eu-west-1"),
                        ("AWS_ACCESS_KEY_ID", "AKIA-host"), ("MYFLIX_HOST_ONLY", "leaked")):
        monkeypatch.setenv(name, value)
    prep = steps_by_name(runner(workdir).run(definition()))["Prep"]
    log = Path(prep["LogFile"]).read_text()
    assert "aws region none none" in log and "aws key none" in log and "host var none" in log
    assert "step env from-definition" in log
    home = log.split(" home ", 1)[1].split()[0]
    assert home != str(Path.home()) and str(workdir.resolve()) in home


def test_an_isolated_job_has_no_route_to_the_local_stand_ins(workdir: Path):
    # With network, a job reaches the local S3/Glue/SageMaker stand-ins (MYFLIX_LOCAL_ROOT); with
    # EnableNetworkIsolation it has none, as an isolated SageMaker job has no S3 of its own.
    isolated = prep_step()
    isolated["Arguments"]["NetworkConfig"] = {"EnableNetworkIsolation": True}
    prep = steps_by_name(runner(workdir).run(definition(isolated)))["Prep"]
    assert prep["StepStatus"] == "Succeeded", prep.get("FailureReason")
    assert "local root None" in Path(prep["LogFile"]).read_text()


def _isolated_training(train: dict) -> dict:
    train["Arguments"]["EnableNetworkIsolation"] = True
    spec = definition()
    spec["Steps"][0] = train
    return spec


def test_an_isolated_training_job_cannot_download_an_s3_submit_directory(workdir: Path):
    # The old MyFlix definition: sagemaker_submit_directory an s3:// URI, network isolation on.
    # In SageMaker the toolkit downloads it with boto3 inside the job, which has no network and
    # no credentials: the job fails before the script runs. The runner must fail it the same way.
    result = runner(workdir).run(_isolated_training(train_step()))
    train = steps_by_name(result)["Train"]
    assert result["PipelineExecutionStatus"] == "Failed"
    assert train["StepStatus"] == "Failed"
    assert train["FailureReason"].startswith("AlgorithmError")
    log = Path(train["LogFile"]).read_text()
    # The toolkit's own s3_download fails: no region, no credentials, no route (which of these it
    # meets first depends on what the platform sets; each is an AlgorithmError before the script).
    assert any(sign in train["FailureReason"] for sign in ("amazonaws.com", "credentials", "network"))
    assert "s3_download" in log or "amazonaws.com" in log
    assert "trained k" not in log                       # the script never ran


def test_an_isolated_training_job_takes_its_code_from_the_code_channel(workdir: Path):
    # The fix, as SDK v2/v3 ship it: the archive is the `code` channel and the submit directory
    # its path inside the job; isolation on, no download, the script runs.
    train = train_step()
    train["Arguments"]["HyperParameters"]["sagemaker_submit_directory"] = \
        "/opt/ml/input/data/code/sourcedir.tar.gz"
    train["Arguments"]["InputDataConfig"].append({"ChannelName": "code", "DataSource": {"S3DataSource": {
        "S3DataType": "S3Prefix", "S3Uri": SOURCEDIR_URI}}})
    result = runner(workdir).run(_isolated_training(train))
    assert result["PipelineExecutionStatus"] == "Succeeded", result["FailureReason"]
    model = read_model(workdir, steps_by_name(result)["Train"]["Outputs"]["model"])
    assert model["k"] == 3 and model["sum"] == 12
    # Without the channel the archive is nowhere: the runner says which channel to give.
    train["Arguments"]["InputDataConfig"].pop()
    failed = steps_by_name(runner(workdir, use_cache=False).run(_isolated_training(train)))["Train"]
    assert failed["StepStatus"] == "Failed" and "channel `code`" in failed["FailureReason"]


def test_undeclared_container_path_is_refused(workdir: Path):
    prep = prep_step(["--extra", "/opt/ml/processing/secret"])
    result = runner(workdir).run(definition(prep))
    reason = steps_by_name(result)["Prep"]["FailureReason"]
    assert "/opt/ml/processing/secret" in reason and "declare" in reason


def test_steps_cannot_reach_the_network(workdir: Path):
    # what a step forgetting the stand-ins would call
    prep = prep_step(["--connect", "api.sagemaker.us-east-1.amazonaws.com"])
    result = runner(workdir).run(definition(prep))
    prep_record = steps_by_name(result)["Prep"]
    assert prep_record["StepStatus"] == "Failed"
    assert "network access is blocked" in prep_record["LogTail"]


def test_missing_input_and_bad_parameters_give_clear_errors(workdir: Path):
    result = runner(workdir).run(definition(), {"DataUri": f"s3://{BUCKET}/raw/absent.txt"})
    assert "nothing at s3://test-bucket/raw/absent.txt" in steps_by_name(result)["Prep"]["FailureReason"]
    with pytest.raises(DefinitionError, match="unknown parameter"):
        runner(workdir).run(definition(), {"Nope": "1"})
    with pytest.raises(DefinitionError, match="Factor is Integer"):
        resolve_parameters(definition(), {"Factor": "ten"})


def test_plan_orders_by_references_and_rejects_cycles():
    names = [p.name for p in plan(definition())]
    assert names == ["Prep", "Train", "Gate", "Register", "Model", "TooSmall"]
    cyclic = {"Steps": [{"Name": "A", "Type": "Fail", "DependsOn": ["B"], "Arguments": {}},
                        {"Name": "B", "Type": "Fail", "DependsOn": ["A"], "Arguments": {}}]}
    with pytest.raises(DefinitionError, match="cycle"):
        plan(cyclic)
    with pytest.raises(DefinitionError, match="not a step"):
        plan({"Steps": [{"Name": "A", "Type": "Fail", "DependsOn": ["Z"], "Arguments": {}}]})


def test_expressions():
    props = {"ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "a", "S3Output": {"S3Uri": "s3://b/a"}},
        {"OutputName": "x.y", "S3Output": {"S3Uri": "s3://b/xy"}}]}}
    ctx = Context(parameters={"P": 3, "S": "Approved"}, execution={"PipelineExecutionId": "e1"},
                  step_properties=lambda name: props,
                  property_file=lambda step, name: {"m": {"v": [0.5, 0.7]}})
    assert parse_path("Outputs['x.y'].S3Output[0]") == ["Outputs", "x.y", "S3Output", 0]
    assert resolve({"Get": "Steps.S.ProcessingOutputConfig.Outputs['x.y'].S3Output.S3Uri"}, ctx) == "s3://b/xy"
    assert resolve({"Std:Join": {"On": "/", "Values": ["s3:/", {"Get": "Parameters.P"},
                                                       {"Get": "Execution.PipelineExecutionId"}]}},
                   ctx) == "s3://3/e1"
    get = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.S.PropertyFiles.F"}, "Path": "m.v[1]"}}
    assert resolve(get, ctx) == 0.7
    assert evaluate_condition({"Type": "In", "QueryValue": {"Get": "Parameters.S"},
                               "Values": ["Rejected", "Approved"]}, ctx)
    assert evaluate_condition({"Type": "Not", "Condition": {"Type": "LessThan", "LeftValue": get,
                                                            "RightValue": 0.5}}, ctx)
    assert evaluate_condition({"Type": "Or", "Conditions": [
        {"Type": "Equals", "LeftValue": {"Get": "Parameters.P"}, "RightValue": 4},
        {"Type": "LessThanOrEqualTo", "LeftValue": {"Get": "Parameters.P"}, "RightValue": 3}]}, ctx)
    with pytest.raises(ExpressionError, match="no element named 'zz'"):
        lookup(props, parse_path("ProcessingOutputConfig.Outputs['zz']"), "S")
    with pytest.raises(ExpressionError, match="no parameter"):
        resolve({"Get": "Parameters.Missing"}, ctx)


def test_registry_commands(workdir: Path, capsys):
    from cli.main import main
    runner(workdir).run(definition())
    assert main(["registry", "list", "--workdir", str(workdir), "--group", "test-group"]) == 0
    assert "PendingManualApproval" in capsys.readouterr().out
    assert main(["registry", "approve", "1", "--workdir", str(workdir), "--group", "test-group"]) == 0
    assert registry.describe(workdir, "test-group/1")["ModelApprovalStatus"] == "Approved"
    assert main(["registry", "approve", "7", "--workdir", str(workdir), "--group", "test-group"]) == 2
    assert "no model package" in capsys.readouterr().err



def test_myflix_run_helpers_write_demo_data_once_and_upload_the_bundle(tmp_path: Path):
    from operations.local_run import LOCAL_BUCKET, prepare_demo_data, upload_bundle
    from pipeline.code_bundle import build_bundle
    basics, ratings = prepare_demo_data(tmp_path)
    assert basics == f"s3://{LOCAL_BUCKET}/raw/title.basics.tsv.gz"
    assert ratings == f"s3://{LOCAL_BUCKET}/raw/title.ratings.tsv.gz"
    path = LocalStore(tmp_path).path_for(basics)
    stamp = path.stat().st_mtime_ns
    assert prepare_demo_data(tmp_path) == (basics, ratings) and path.stat().st_mtime_ns == stamp
    bundle = build_bundle()
    assert upload_bundle(tmp_path, bundle) == len(bundle.uploads())
    assert upload_bundle(tmp_path, bundle) == 0
    code = LocalStore(tmp_path).objects(bundle.src_uri(LOCAL_BUCKET))
    assert "steps/preprocess.py" in code


def test_store_prefix_semantics(tmp_path: Path):
    store = LocalStore(tmp_path)
    store.put_bytes("s3://bkt/a/title.basics.tsv.gz", b"1")
    store.put_bytes("s3://bkt/a/sub/x.txt", b"2")
    assert set(store.objects("s3://bkt/a/title.basics.tsv.gz")) == {"title.basics.tsv.gz"}
    assert set(store.objects("s3://bkt/a/")) == {"title.basics.tsv.gz", "sub/x.txt"}
    assert set(store.objects("s3://bkt/a")) == {"title.basics.tsv.gz", "sub/x.txt"}
    assert set(store.objects("s3://bkt/a/title.")) == {"title.basics.tsv.gz"}
    assert store.objects("s3://bkt/none/") == {}
    with pytest.raises(ValueError, match="not an s3:// URI"):
        store.path_for("/etc/passwd")
    with pytest.raises(ValueError, match=r"'\.\.'"):
        store.path_for("s3://bkt/../../etc/passwd")


def test_data_parameter_given_as_a_local_file_is_imported(tmp_path: Path):
    from cli.main import UserError
    from operations.local_run import import_local_file
    source = tmp_path / "title.basics.tsv"
    source.write_text("tconst\tprimaryTitle\n")
    work = tmp_path / "work"
    uri = import_local_file(work, str(source), "basics_uri")
    assert uri == "s3://myflix-local/raw/local/title.basics.tsv"
    assert LocalStore(work).path_for(uri).read_text() == "tconst\tprimaryTitle\n"
    assert import_local_file(work, "s3://b/raw/x.tsv", "basics_uri") == "s3://b/raw/x.tsv"
    with pytest.raises(UserError, match="neither an s3:// URI nor a file"):
        import_local_file(work, str(tmp_path / "absent.tsv"), "basics_uri")


def test_step_over_its_max_runtime_is_stopped_and_progress_shows_its_last_line(workdir: Path):
    prep = prep_step(["--sleep", "30"])
    prep["Arguments"]["StoppingCondition"] = {"MaxRuntimeInSeconds": 2}
    out = io.StringIO()
    result = LocalRunner(workdir, pipeline_name="test-pipeline",
                         progress=Progress(out, live=False, heartbeat=0.5, announce_after=0.5)).run(definition(prep))
    record = steps_by_name(result)["Prep"]
    assert record["StepStatus"] == "Failed"
    assert "MaxRuntimeInSeconds=2" in record["FailureReason"]
    text = out.getvalue()
    assert "Prep" in text and "running" in text and "| sleeping now" in text
    assert "Failed" in text and "NotRun" in text


def test_myflix_run_with_a_definition_file(workdir: Path, tmp_path: Path, capsys):
    from cli.main import main
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition()))
    base = ["run", "--no-serve", "--workdir", str(workdir), "--definition", str(path)]
    assert main(base + ["-p", "Factor=5"]) == 0
    out = capsys.readouterr().out
    assert "Succeeded" in out and "Gate: True" in out
    assert "model-package" not in out          # the summary names MyFlix's own group only
    assert main(base + ["-p", "FailPrep=yes"]) == 1
    captured = capsys.readouterr()
    assert "prep: failing on purpose" in captured.out
    assert "resumes at the failed step" in captured.err
    assert main(base + ["-p", "Factor"]) == 2
    assert "NAME=VALUE" in capsys.readouterr().err


def test_an_execution_whose_runner_died_reads_as_stopped(tmp_path: Path):
    recorder = executions.ExecutionRecorder(tmp_path, "dead-run", pipeline_name="p", region="us-east-1",
                                            display_name=None, parameters={}, definition={"Steps": []})
    recorder.declare_steps([{"Name": "A", "Type": "Processing"}])
    recorder.step_started("A", None)
    assert executions.describe_execution(tmp_path)["PipelineExecutionStatus"] == "Executing"
    recorder.record["RunnerPid"] = 2 ** 22 + 12345          # beyond pid_max: no such process
    recorder._save()
    described = executions.describe_execution(tmp_path, "dead-run")
    assert described["PipelineExecutionStatus"] == "Stopped"
    assert described["Steps"][0]["StepStatus"] == "Stopped"
    with pytest.raises(LookupError, match="no local execution 'other'"):
        executions.describe_execution(tmp_path, "other")


def test_a_requested_stop_kills_the_running_step_and_records_stopped(workdir: Path):
    """StopPipelineExecution locally (the Studio's Stop button): a file in the execution's folder,
    seen by the runner within a second whatever process asks; the step is killed, the rest not run."""
    import threading
    import time
    prep = prep_step(["--sleep", "60"])
    execution_id = "stop-me-" + str(int(time.time()))

    def stop_soon():
        folder = executions.execution_dir(workdir, execution_id)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (folder / "logs" / "Prep.log").is_file():
            time.sleep(0.1)
        executions.request_stop(workdir, execution_id, "by the test")

    thread = threading.Thread(target=stop_soon)
    thread.start()
    t0 = time.monotonic()
    result = LocalRunner(workdir, pipeline_name="test-pipeline", progress=Progress(quiet=True),
                         use_cache=False).run(definition(prep), execution_id=execution_id)
    thread.join()
    assert time.monotonic() - t0 < 40                                  # not the step's 60 s
    assert result["PipelineExecutionId"] == execution_id
    assert result["PipelineExecutionStatus"] == "Stopped" and "by the test" in result["FailureReason"]
    steps = steps_by_name(result)
    assert steps["Prep"]["StepStatus"] == "Stopped"
    assert all(s["StepStatus"] == "NotRun" and "stopped" in s["FailureReason"]
               for name, s in steps.items() if name != "Prep")
    with pytest.raises(Exception, match="not an execution id"):
        LocalRunner(workdir, pipeline_name="test-pipeline", progress=Progress(quiet=True)).run(
            definition(prep), execution_id="../escape")
