"""The pipeline definition JSON: steps, types, data flow, parameters, contract, determinism, offline.

The definition is generated once per session with every socket blocked and no AWS credentials;
every test reads that JSON (what SageMaker and the local runner both receive).
"""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from pipeline import definition as definition_mod
from pipeline.code_bundle import build_bundle
from pipeline.definition import definition_json
from pipeline.parameters import parameter_specs
from steps import schema

REGION = "eu-west-1"
ROLE = "arn:aws:iam::111122223333:role/myflix-pipeline"
BUCKET = "myflix-test-bucket"
REPO = Path(__file__).resolve().parents[2]
CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                   "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                   "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE")


def generate_offline(bundle, region=REGION, bucket=BUCKET, vpc=None) -> tuple[str, list]:
    """definition_json with the network cut off and no credentials; returns (json, attempts)."""
    attempts: list = []

    def refuse(*args, **kwargs):
        attempts.append(args[:2])
        raise OSError("network access is blocked in this test")

    with pytest.MonkeyPatch.context() as mp:
        for target, name in ((socket.socket, "connect"), (socket.socket, "connect_ex"),
                             (socket, "create_connection"), (socket, "getaddrinfo")):
            mp.setattr(target, name, refuse)
        for var in CREDENTIAL_VARS:
            mp.delenv(var, raising=False)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        mp.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
        text = definition_json(region, ROLE, bucket, bundle=bundle, vpc=vpc)
    return text, attempts


@pytest.fixture(scope="session")
def generated(request, definition_texts):
    """(bundle, json text, socket attempts): one offline generation shared by the session."""
    cached = getattr(request.config, "_myflix_offline_definition", None)
    if cached is None:
        bundle = build_bundle()
        cached = (bundle, *generate_offline(bundle))
        request.config._myflix_offline_definition = cached
        # Other test files reuse the text (never the offline verdict, which only this file checks).
        definition_texts[(REGION, ROLE, BUCKET, definition_mod.PIPELINE_NAME, bundle.sha256)] = cached[1]
    return cached


@pytest.fixture(scope="session")
def definition(generated) -> dict:
    return json.loads(generated[1])


def all_steps(steps: list[dict]) -> dict[str, dict]:
    out = {}
    for step in steps:
        out[step["Name"]] = step
        if step["Type"] == "Condition":
            out.update(all_steps(step["Arguments"]["IfSteps"]))
            out.update(all_steps(step["Arguments"]["ElseSteps"]))
    return out


@pytest.fixture(scope="session")
def steps(definition) -> dict[str, dict]:
    return all_steps(definition["Steps"])


def args_of(step: dict) -> dict[str, object]:
    """ContainerArguments as {"--name": value}."""
    values = step["Arguments"]["AppSpecification"]["ContainerArguments"]
    assert len(values) % 2 == 0, values
    return dict(zip(values[::2], values[1::2]))


def refs(value) -> set[str]:
    """Every {"Get": ...} path inside value."""
    found = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "Get" and isinstance(item, str):
                found.add(item)
            else:
                found |= refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= refs(item)
    return found


def json_gets(value) -> list[dict]:
    found = []
    if isinstance(value, dict):
        if "Std:JsonGet" in value:
            found.append(value["Std:JsonGet"])
        for item in value.values():
            found += json_gets(item)
    elif isinstance(value, list):
        for item in value:
            found += json_gets(item)
    return found


EXPECTED_TYPES = {
    "Ingest": "Processing", "Preprocess": "Processing", "TrainScaler": "Training", "TuneKMeans": "Processing",
    "TrainKMeans": "Training", "PrepareInteractions": "Processing", "TrainRecommender": "Training",
    "Evaluate": "Processing", "QualityGate": "Condition",
    "QualityGateFailed": "Fail", "Register": "RegisterModel", "Publish": "Processing",
}
SCRIPTS = {"Ingest": "ingest.py", "Preprocess": "preprocess.py", "TuneKMeans": "tune_kmeans.py",
           "Evaluate": "evaluate.py", "Publish": "publish.py", "TrainScaler": "train_scaler.py",
           "TrainKMeans": "train_kmeans.py", "PrepareInteractions": "prepare_interactions.py",
           "TrainRecommender": "train_recommender.py"}
# docs/CONTRACTS.md "Step scripts": the arguments each processing script receives.
EXPECTED_ARGS = {
    "Ingest": ["--output", "--imdb-base-url", "--basics-uri", "--ratings-uri", "--input-version",
               "--max-input-mb", "--region"],
    "Preprocess": ["--basics", "--ratings", "--features-out", "--catalog-out", "--report-out",
                   "--title-type", "--year-iqr-multiplier", "--min-year", "--runtime-cap",
                   "--runtime-bin-width", "--min-rating", "--min-votes", "--dropped-genres",
                   "--max-bad-fraction", "--max-line-bytes", "--max-field-chars", "--max-rows",
                   "--max-input-mb", "--max-memory-mb"],
    "TuneKMeans": ["--features", "--scaler", "--output", "--k-min", "--k-max", "--k-override", "--seed"],
    "PrepareInteractions": ["--catalog", "--output", "--events-uri", "--interactions-uri",
                            "--simulated-viewers", "--seed", "--weight-play", "--weight-like",
                            "--weight-list-add", "--weight-view", "--rating-neutral",
                            "--min-viewer-interactions", "--min-film-interactions", "--test-fraction",
                            "--validation-fraction", "--min-interactions", "--max-bad-fraction",
                            "--max-interaction-rows", "--max-interaction-mb", "--region"],
    "Evaluate": ["--features", "--model", "--interactions", "--recommender", "--output",
                 "--silhouette-sample", "--recall-queries", "--recall-k", "--seed",
                 "--model-package-group", "--baseline-package", "--ranking-k",
                 "--min-ndcg-lift-over-popularity", "--region"],
    "Publish": ["--catalog", "--features", "--model", "--recommender", "--table-location", "--database",
                "--table", "--execution-id", "--model-package-arn", "--region"],
}


def test_generated_offline_without_touching_the_network(generated):
    _bundle, text, attempts = generated
    assert attempts == [], f"definition generation tried to open connections: {attempts}"
    assert json.loads(text)["Version"] == "2020-12-01"


def test_every_step_with_its_type_in_order(definition, steps):
    assert {name: step["Type"] for name, step in steps.items()} == EXPECTED_TYPES
    assert [s["Name"] for s in definition["Steps"]] == [
        "Ingest", "Preprocess", "TrainScaler", "TuneKMeans", "TrainKMeans", "PrepareInteractions",
        "TrainRecommender", "Evaluate", "QualityGate"]
    gate = steps["QualityGate"]["Arguments"]
    # the pipeline stops at Register + Publish: approving the package deploys it (deployer/)
    assert [s["Name"] for s in gate["IfSteps"]] == ["Register", "Publish"]
    assert [s["Name"] for s in gate["ElseSteps"]] == ["QualityGateFailed"]


def test_every_step_has_a_display_name_and_description(steps):
    for name, step in steps.items():
        assert step.get("DisplayName"), name
        assert len(step.get("Description", "")) > 20, name


def test_processing_steps_follow_the_container_contract(steps, generated):
    bundle = generated[0]
    sklearn = re.compile(r"^\d+\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/sagemaker-scikit-learn:1\.9-0-cpu-py3$")
    for name, expected in EXPECTED_ARGS.items():
        spec = steps[name]["Arguments"]
        app = spec["AppSpecification"]
        assert sklearn.match(app["ImageUri"]), app["ImageUri"]
        assert app["ContainerEntrypoint"] == [
            "python3", f"/opt/ml/processing/input/code/steps/{SCRIPTS[name]}"]
        inputs = {i["InputName"]: i["S3Input"] for i in spec["ProcessingInputs"]}
        assert inputs["code"]["S3Uri"] == f"s3://{BUCKET}/code/{bundle.sha256}/src/"
        assert inputs["code"]["LocalPath"] == "/opt/ml/processing/input/code"
        args = args_of(steps[name])
        assert list(args) == expected, name
        # Every mounted input and every output is passed explicitly as its container path.
        local_paths = {i["LocalPath"] for n, i in inputs.items() if n != "code"}
        local_paths |= {o["S3Output"]["LocalPath"]
                        for o in spec.get("ProcessingOutputConfig", {}).get("Outputs", [])}
        path_args = {v for v in args.values() if isinstance(v, str) and v.startswith("/opt/ml/")}
        assert path_args == local_paths, name


def test_training_steps_use_script_mode_from_the_bundle(steps, generated):
    bundle = generated[0]
    for name, channels in (("TrainScaler", ["features"]), ("TrainKMeans", ["features", "scaler"]),
                           ("TrainRecommender", ["interactions"])):
        spec = steps[name]["Arguments"]
        hyper = spec["HyperParameters"]
        assert hyper["sagemaker_program"] == f"steps/{SCRIPTS[name]}"
        # The code is an input channel and the submit directory its path inside the job (as SDK
        # v2/v3 ship it): an isolated job has no network or credentials to download an s3:// URI.
        assert hyper["sagemaker_submit_directory"] == "/opt/ml/input/data/code/sourcedir.tar.gz"
        assert [c["ChannelName"] for c in spec["InputDataConfig"]] == channels + ["code"]
        code = spec["InputDataConfig"][-1]["DataSource"]["S3DataSource"]
        assert code["S3Uri"] == f"s3://{BUCKET}/code/{bundle.sha256}/sourcedir.tar.gz"
        assert code["S3DataType"] == "S3Prefix"
        assert "sagemaker-scikit-learn:1.9-0" in spec["AlgorithmSpecification"]["TrainingImage"]
        # No SDK-uploaded driver channels, no entrypoint override: the container's script mode.
        assert "ContainerEntrypoint" not in spec["AlgorithmSpecification"]
    assert refs(steps["TrainKMeans"]["Arguments"]["InputDataConfig"][1]) == {
        "Steps.TrainScaler.ModelArtifacts.S3ModelArtifacts"}
    assert refs(steps["TrainRecommender"]["Arguments"]["InputDataConfig"][0]) == {
        "Steps.PrepareInteractions.ProcessingOutputConfig.Outputs['interactions'].S3Output.S3Uri"}
    assert refs(steps["TrainRecommender"]["Arguments"]["HyperParameters"]["min_interactions"]) == {
        "Parameters.min_interactions"}


def test_chosen_k_flows_from_the_elbow_sweep_into_training(steps):
    tune = steps["TuneKMeans"]
    (prop,) = tune["PropertyFiles"]
    assert prop == {"PropertyFileName": "ElbowReport", "OutputName": "elbow", "FilePath": "elbow.json"}
    outputs = tune["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert [o["OutputName"] for o in outputs] == ["elbow"]
    (get,) = json_gets(steps["TrainKMeans"]["Arguments"]["HyperParameters"]["k"])
    assert get == {"PropertyFile": {"Get": "Steps.TuneKMeans.PropertyFiles.ElbowReport"},
                   "Path": "chosen_k"}
    assert refs(steps["TrainKMeans"]["Arguments"]["HyperParameters"]["seed"]) == {"Parameters.seed"}


def test_quality_gate_reads_evaluation_json_against_threshold_parameters(steps):
    (prop,) = steps["Evaluate"]["PropertyFiles"]
    assert prop == {"PropertyFileName": "EvaluationReport", "OutputName": "evaluation",
                    "FilePath": "evaluation.json"}
    conditions = steps["QualityGate"]["Arguments"]["Conditions"]
    seen, ranking = {}, []
    for cond in conditions:
        (get,) = json_gets(cond["LeftValue"])
        assert get["PropertyFile"] == {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}
        if json_gets(cond["RightValue"]):      # the ranking checks: both sides from evaluation.json
            (right,) = json_gets(cond["RightValue"])
            assert right["PropertyFile"] == get["PropertyFile"]
            ranking.append((cond["Type"], get["Path"], right["Path"]))
            continue
        seen[get["Path"]] = (cond["Type"], cond["RightValue"])
    assert seen == {
        "silhouette": ("GreaterThanOrEqualTo", {"Get": "Parameters.min_silhouette"}),
        "recall_at_k": ("GreaterThanOrEqualTo", {"Get": "Parameters.min_recall_at_k"}),
        "cluster_sizes.max_share": ("LessThanOrEqualTo", {"Get": "Parameters.max_cluster_share"}),
        "similar_churn": ("LessThanOrEqualTo", {"Get": "Parameters.max_similar_churn"}),
        "max_feature_psi": ("LessThanOrEqualTo", {"Get": "Parameters.max_feature_psi"}),
    }
    # the served hybrid against popularity * (1 + margin) and against production (Evaluate computes both)
    assert ranking == [
        ("GreaterThanOrEqualTo", "ranking_gate.hybrid_ndcg", "ranking_gate.required_over_popularity"),
        ("GreaterThanOrEqualTo", "ranking_gate.hybrid_ndcg", "ranking_gate.production_ndcg")]
    assert refs(args_of(steps["Evaluate"])["--min-ndcg-lift-over-popularity"]) == {
        "Parameters.min_ndcg_lift_over_popularity"}


def test_fail_step_names_each_metric_and_its_value(steps):
    message = steps["QualityGateFailed"]["Arguments"]["ErrorMessage"]["Std:Join"]
    texts = " ".join(v for v in message["Values"] if isinstance(v, str))
    for label in ("silhouette=", "recall_at_k=", "max_cluster_share=", "similar_churn=", "max_feature_psi="):
        assert label in texts
    assert sorted(g["Path"] for g in json_gets(message)) == [
        "cluster_sizes.max_share", "max_feature_psi", "ranking_gate.hybrid_ndcg", "ranking_gate.hybrid_ndcg",
        "ranking_gate.production_ndcg", "ranking_gate.required_over_popularity", "ranking_gate.status",
        "recall_at_k", "silhouette", "similar_churn"]
    assert {"Parameters.min_silhouette", "Parameters.min_recall_at_k", "Parameters.max_cluster_share",
            "Parameters.max_similar_churn", "Parameters.max_feature_psi"} <= refs(message)


def test_register_into_the_group_with_approval_parameter_and_metrics(steps):
    spec = steps["Register"]["Arguments"]
    assert spec["ModelPackageGroupName"] == schema.MODEL_PACKAGE_GROUP
    assert spec["ModelApprovalStatus"] == {"Get": "Parameters.model_approval_status"}
    stats = spec["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert stats["ContentType"] == "application/json"
    join = stats["S3Uri"]["Std:Join"]
    assert join["Values"][-1] == "evaluation.json"
    assert refs(join) == {"Steps.Evaluate.ProcessingOutputConfig.Outputs['evaluation'].S3Output.S3Uri"}
    (container,) = spec["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == {"Get": "Steps.TrainKMeans.ModelArtifacts.S3ModelArtifacts"}
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert "sagemaker-scikit-learn:1.9-0" in container["Image"]


def test_ingest_writes_raw_per_execution_and_preprocess_reads_its_output_property(steps):
    (output,) = steps["Ingest"]["Arguments"]["ProcessingOutputConfig"]["Outputs"]
    assert output["OutputName"] == "raw" and output["S3Output"]["LocalPath"] == "/opt/ml/processing/output/raw"
    assert output["S3Output"]["S3Uri"]["Std:Join"]["Values"] == [
        f"s3://{BUCKET}", "raw", {"Get": "Execution.PipelineExecutionId"}]
    args = args_of(steps["Ingest"])
    assert {k: refs(v) for k, v in args.items() if k not in ("--output", "--region")} == {
        "--imdb-base-url": {"Parameters.imdb_base_url"}, "--basics-uri": {"Parameters.basics_uri"},
        "--ratings-uri": {"Parameters.ratings_uri"}, "--input-version": {"Parameters.input_version"},
        "--max-input-mb": {"Parameters.max_input_mb"}}
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in steps["Preprocess"]["Arguments"]["ProcessingInputs"]}
    for name, file in (("basics", "title.basics.tsv.gz"), ("ratings", "title.ratings.tsv.gz")):
        join = inputs[name]["Std:Join"]
        assert join["Values"] == [
            {"Get": "Steps.Ingest.ProcessingOutputConfig.Outputs['raw'].S3Output.S3Uri"}, file]


def test_evaluate_compares_with_the_production_model_of_the_group(steps):
    args = args_of(steps["Evaluate"])
    assert args["--model-package-group"] == schema.MODEL_PACKAGE_GROUP
    assert args["--baseline-package"] == {"Get": "Parameters.baseline_package"}


def test_publish_writes_a_new_prefix_per_execution(steps):
    args = args_of(steps["Publish"])
    location = args["--table-location"]["Std:Join"]
    assert location["Values"] == [f"s3://{BUCKET}/{schema.TABLE_PREFIX}/",
                                  {"Get": "Execution.PipelineExecutionId"}, "/"]
    assert args["--execution-id"] == {"Get": "Execution.PipelineExecutionId"}
    assert args["--model-package-arn"] == {"Get": "Steps.Register.ModelPackageArn"}
    assert (args["--database"], args["--table"]) == (schema.GLUE_DATABASE, schema.GLUE_TABLE)


def test_register_records_where_the_packages_data_and_table_are(steps):
    """The deployer finds the package's staged table (myflix_table_uri, the very prefix Publish
    writes); drift checks read the features and catalog it was trained on."""
    metadata = steps["Register"]["Arguments"]["CustomerMetadataProperties"]
    assert metadata["myflix_execution_id"] == {"Get": "Execution.PipelineExecutionId"}
    assert metadata["myflix_features_uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"}
    assert metadata["myflix_catalog_uri"] == {
        "Get": "Steps.Preprocess.ProcessingOutputConfig.Outputs['catalog'].S3Output.S3Uri"}
    assert metadata["myflix_table_uri"] == args_of(steps["Publish"])["--table-location"]
    # one release = both models: the collaborative one is the package's, and Publish copies it by the table
    assert metadata["myflix_recommender_uri"] == {
        "Get": "Steps.TrainRecommender.ModelArtifacts.S3ModelArtifacts"}
    publish_inputs = {i["InputName"]: i["S3Input"]["S3Uri"]
                      for i in steps["Publish"]["Arguments"]["ProcessingInputs"]}
    assert publish_inputs["recommender"] == metadata["myflix_recommender_uri"]
    # who the ranking figures are about (simulated viewers are labelled in the registry too)
    assert json_gets(metadata["myflix_viewers"]) == [
        {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"}, "Path": "ranking.viewers"}]
    assert json_gets(metadata["myflix_ranking_gate"])[0]["Path"] == "ranking_gate.status"
    assert steps["Register"]["Arguments"]["ModelApprovalStatus"] == {"Get": "Parameters.model_approval_status"}


def test_parameters_and_defaults(definition):
    params = {p["Name"]: p for p in definition["Parameters"]}
    for key, value in schema.DEFAULTS.items():
        if key not in params:
            continue   # a default some step reads that is not a pipeline parameter
        kind = {int: "Integer", float: "Float", str: "String"}[type(value)]
        assert params[key] == {"Name": key, "Type": kind, "DefaultValue": value}, key
    for key in ("title_type", "year_iqr_multiplier", "min_year", "runtime_cap", "runtime_bin_width",
                "min_rating", "min_votes", "dropped_genres", "max_bad_fraction", "scaler", "k_min",
                "k_max", "k_override", "seed", "min_silhouette", "min_recall_at_k",
                "max_cluster_share", "max_similar_churn", "max_feature_psi", "imdb_base_url",
                "baseline_package", "processing_instance_type", "training_instance_type",
                "model_approval_status", "interactions_uri", "simulated_viewers", "weight_play",
                "weight_like", "weight_list_add", "weight_view", "rating_neutral", "min_viewer_interactions",
                "min_film_interactions", "test_fraction", "validation_fraction", "max_interaction_rows",
                "max_interaction_mb", "min_interactions", "ranking_k", "min_ndcg_lift_over_popularity"):
        assert key in params, key
    # no real viewer is ever replaced by a simulated one unless a run asks for it (the local demo)
    assert params["simulated_viewers"]["DefaultValue"] == 0
    assert params["interactions_uri"]["DefaultValue"] == ""
    assert params["basics_uri"]["DefaultValue"] == "" and params["ratings_uri"]["DefaultValue"] == ""  # download
    assert params["imdb_base_url"]["DefaultValue"] == schema.DEFAULTS["imdb_base_url"]
    assert params["model_approval_status"]["DefaultValue"] == "PendingManualApproval"
    # the endpoints are the deployer's (cfn stack parameters), not the pipeline's
    assert not {"endpoint_name", "deploy_instance_type", "serverless_memory_mb"} & set(params)
    assert [p.name for p in parameter_specs(BUCKET)] == list(params)


def test_every_parameter_is_used_by_some_step(definition):
    used = refs(definition["Steps"])
    for param in definition["Parameters"]:
        assert f"Parameters.{param['Name']}" in used, param["Name"]


def test_caching_on_expensive_steps_and_retries_on_jobs(steps):
    for name in ("Preprocess", "TrainScaler", "TuneKMeans", "TrainKMeans"):
        assert steps[name]["CacheConfig"]["Enabled"] is True, name
    # side effects, or an answer that depends on the registry at run time (the model in
    # production): never replayed from a cache
    for name in ("PrepareInteractions", "Evaluate", "Publish"):     # new events arrive between runs
        assert "CacheConfig" not in steps[name], name
    assert steps["TrainRecommender"]["CacheConfig"]["Enabled"] is True
    # today's IMDb files: one download reused for 12 hours, so a rerun after a failure resumes
    assert steps["Ingest"]["CacheConfig"] == {"Enabled": True, "ExpireAfter": "PT12H"}
    for name in ("Ingest", "Preprocess", "TrainScaler", "TuneKMeans", "TrainKMeans", "PrepareInteractions",
                 "TrainRecommender", "Evaluate", "Publish"):
        kinds = {t for policy in steps[name]["RetryPolicies"] for t in policy["ExceptionType"]}
        assert {"Step.THROTTLING", "SageMaker.CAPACITY_ERROR"} <= kinds, name
    assert steps["Register"]["RetryPolicies"][0]["ExceptionType"] == ["Step.SERVICE_FAULT", "Step.THROTTLING"]


def test_byte_identical_on_a_second_generation(generated):
    bundle, text, _ = generated
    again, attempts = generate_offline(bundle)
    assert again == text and attempts == []


def test_no_timestamps_or_machine_paths_in_the_definition(generated):
    text = generated[1].replace('"Version": "2020-12-01"', "")
    assert not re.search(r"20\d\d-?\d\d-?\d\d", text)
    assert str(REPO) not in text and "/tmp/" not in text
    assert "TrainingJobName" not in text and "ProcessingJobName" not in text


def test_every_step_that_calls_aws_is_given_the_definitions_region(steps):
    # A processing job is not promised AWS_REGION: the region is an argument of the definition.
    for name in ("Ingest", "Evaluate", "Publish"):
        assert args_of(steps[name])["--region"] == REGION, name


def test_every_job_runs_in_the_vpc_given_and_none_without_one(generated, steps):
    # Without a VPC the jobs run in SageMaker's network: no subnets anywhere in the requests.
    for step in steps.values():
        args = step.get("Arguments", {})
        assert "VpcConfig" not in args, step["Name"]
        assert "Subnets" not in json.dumps(args.get("NetworkConfig", {})), step["Name"]
    from pipeline.definition import Vpc
    vpc = Vpc(("subnet-0a", "subnet-0b"), ("sg-01",))
    text, attempts = generate_offline(generated[0], vpc=vpc)
    assert attempts == []
    jobs = {s["Name"]: s["Arguments"] for s in json.loads(text)["Steps"] + [
        b for s in json.loads(text)["Steps"] if s["Type"] == "Condition" for b in s["Arguments"]["IfSteps"]]
        if s["Type"] in ("Processing", "Training")}
    assert sorted(jobs) == sorted(n for n, t in EXPECTED_TYPES.items() if t in ("Processing", "Training"))
    isolation = {"Get": "Parameters.enable_network_isolation"}
    for name, args in jobs.items():
        if "ProcessingResources" in args:
            network = args["NetworkConfig"]
            assert network["VpcConfig"] == {"Subnets": ["subnet-0a", "subnet-0b"],
                                            "SecurityGroupIds": ["sg-01"]}
            assert network["EnableNetworkIsolation"] == (isolation if name in ("Preprocess", "TuneKMeans")
                                                         else False), name
        else:
            assert args["VpcConfig"] == {"Subnets": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-01"]}
            assert args["EnableNetworkIsolation"] == isolation
    with pytest.raises(ValueError, match="subnet-"):
        Vpc(("vpc-1",), ("sg-1",))


def test_referenced_scripts_accept_the_arguments_they_are_given(steps):
    """Static check: every script the definition names exists and declares each argument it is given."""
    for name, expected in EXPECTED_ARGS.items():
        script = REPO / "steps" / SCRIPTS[name]
        assert script.is_file(), f"the definition runs {script.name}, which does not exist"
        source = script.read_text(encoding="utf-8")
        for option in expected:
            assert re.search(rf"""["']{re.escape(option)}["']""", source), \
                f"{script.name} has no {option} argument"


@pytest.mark.parametrize("role,bucket,match", [
    ("myflix-role", BUCKET, "IAM role ARN"),
    (ROLE, "s3://b/x", "bare S3 bucket name"),
    (ROLE, "ab", "bare S3 bucket name"),
])
def test_bad_settings_are_refused_with_a_clear_message(role, bucket, match):
    with pytest.raises(ValueError, match=match):
        definition_json(REGION, role, bucket)


def test_a_changed_script_changes_only_the_code_hash(generated):
    bundle, text, _ = generated
    files = dict(bundle.files)
    files["steps/evaluate.py"] = files["steps/evaluate.py"] + b"\n# changed\n"
    changed_bundle = type(bundle)(files)
    changed, _ = generate_offline(changed_bundle)
    assert changed != text
    assert changed.replace(changed_bundle.sha256, bundle.sha256) == text


def test_the_container_matches_the_installed_scikit_learn():
    import sklearn

    from pipeline.parameters import SKLEARN_FRAMEWORK_VERSION
    major_minor = ".".join(sklearn.__version__.split(".")[:2])
    assert SKLEARN_FRAMEWORK_VERSION == f"{major_minor}-0"
