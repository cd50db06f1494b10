"""The deployer Lambda under moto, driven by the documented "SageMaker Model Package State Change" events.

Event shape: AWS's "Events that Amazon SageMaker AI sends to Amazon EventBridge", section "Model
package state change",
https://docs.aws.amazon.com/sagemaker/latest/dg/automating-sagemaker-with-eventbridge.html#eventbridge-model-package
(tests/deployer_fixtures.state_change_event). The models are real (trained by our scripts, with
the real serving handler) and every table is staged by Publish's own main() into moto's S3.

Where moto 5.2 falls short, the test stands in, visibly:
- UpdateEndpoint is not implemented: the same small double as tests/project/test_cfn.py adds it.
- moto runs no container: InvokeEndpoint answers from a canned queue. Here it runs what the
  container would: the serving handler of the model the endpoint serves (endpoint -> config ->
  model -> model package -> ModelDataUrl in moto's S3 -> code/inference.py), in-process.
- moto's UpdateModelPackage erases CustomerMetadataProperties when a request carries none (AWS
  keeps them; the deployer reads myflix_table_uri there): the double keeps them.
- moto endpoints are InService at once (no Creating/Updating), so waits end on the first poll.
"""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from deployer import lambda_handler, release
from deployer.backends import SageMakerBackend
from deployer.deployer import Deployer
from deployer_fixtures import GROUP, manifest_of, model_predictions, package_request, stage_table, state_change_event
from steps import schema

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = f"myflix-{ACCOUNT}-{REGION}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/myflix-sagemaker-{REGION}"
PROD, STAGING = schema.ENDPOINT_NAME, schema.STAGING_ENDPOINT_NAME


def add_moto_stand_ins(monkeypatch) -> None:
    """UpdateEndpoint, and an InvokeEndpoint that runs the served model's own handler (see the docstring)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.responses import SageMakerResponse
    from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

    from inference.local_endpoint import open_model

    def update_endpoint(self):
        backend = self.sagemaker_backend
        endpoint = backend.endpoints[self._get_param("EndpointName")]
        config = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
        endpoint.endpoint_config_name = config["EndpointConfigName"]
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        return ActionResult({"EndpointArn": endpoint.arn})
    if not hasattr(SageMakerResponse, "update_endpoint"):
        monkeypatch.setattr(SageMakerResponse, "update_endpoint", update_endpoint, raising=False)

    from moto.sagemaker.models import SageMakerModelBackend
    real_update = SageMakerModelBackend.update_model_package

    def update_model_package(self, model_package_arn, model_approval_status, approval_description,
                             customer_metadata_properties, *args, **kwargs):
        if customer_metadata_properties is None:
            name = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
            customer_metadata_properties = self.model_packages[name].customer_metadata_properties
        return real_update(self, model_package_arn, model_approval_status, approval_description,
                           customer_metadata_properties, *args, **kwargs)
    monkeypatch.setattr(SageMakerModelBackend, "update_model_package", update_model_package)

    loaded: dict[str, tuple] = {}

    def invoke_endpoint(self):
        name = self.path.split("/")[2]
        sm, s3 = boto3.client("sagemaker", region_name=self.region), boto3.client("s3", region_name=self.region)
        config = sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName=name)["EndpointConfigName"])
        model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        package = sm.describe_model_package(ModelPackageName=model["Containers"][0]["ModelPackageName"])
        url = package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"]
        if url not in loaded:
            bucket, key = url[len("s3://"):].split("/", 1)
            folder = Path(tempfile.mkdtemp(prefix="moto-endpoint-"))
            (folder / schema.MODEL_TARBALL).write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            handler, loaded_model, _ = open_model(folder)
            loaded[url] = (handler, loaded_model)
        handler, loaded_model = loaded[url]
        # the container's own path (transform_fn answers through respond)
        answer = handler.respond(loaded_model, self.body, self.headers.get("Content-Type", "application/json"),
                                 self.headers.get("Accept", "application/json"))
        return answer.status, {"Content-Type": answer.content_type}, answer.body
    monkeypatch.setattr(SageMakerRuntimeResponse, "invoke_endpoint", invoke_endpoint)


@pytest.fixture
def aws(monkeypatch, aws_credentials):
    env = {"AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
           # the Lambda's environment, as cfn/myflix-infra.yaml sets it
           "MYFLIX_ENDPOINT_NAME": PROD, "MYFLIX_STAGING_ENDPOINT_NAME": STAGING,
           "MYFLIX_MODEL_PACKAGE_GROUP": GROUP, "MYFLIX_ROLE_ARN": ROLE, "MYFLIX_GLUE_DATABASE": "myflix",
           "MYFLIX_GLUE_TABLE": "movie_clusters", "MYFLIX_AUTO_PROMOTE": "false",
           "MYFLIX_MANIFEST_WAIT_SECONDS": "0"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("MYFLIX_LOCAL_ROOT", raising=False)
    add_moto_stand_ins(monkeypatch)
    with mock_aws():
        boto3.client("s3").create_bucket(Bucket=BUCKET)
        boto3.client("glue").create_database(DatabaseInput={"Name": "myflix"})
        boto3.client("sagemaker").create_model_package_group(ModelPackageGroupName=GROUP)
        yield boto3.client("sagemaker")


def register(sm, models, execution: str, served: str, table_of: str | None = None) -> dict:
    """Train -> Register -> Publish, as one pipeline execution leaves them (table_of: the model the
    table was built with, normally the served one)."""
    key = f"runs/{schema.PIPELINE_NAME}/{execution}/TrainKMeans/model/{schema.MODEL_TARBALL}"
    boto3.client("s3").upload_file(str(models[served]), BUCKET, key)
    table_uri = f"s3://{BUCKET}/{schema.TABLE_PREFIX}/{execution}/"
    arn = sm.create_model_package(**package_request(f"s3://{BUCKET}/{key}", table_uri, execution,
                                                    "PendingManualApproval"))["ModelPackageArn"]
    stage_table(models, table_of or served, BUCKET, execution, arn)
    return sm.describe_model_package(ModelPackageName=arn)


def approve(sm, package: dict, status: str = "Approved") -> dict:
    """The reviewer's UpdateModelPackage, then the event EventBridge delivers to the Lambda."""
    sm.update_model_package(ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus=status)
    return lambda_handler.handler(state_change_event(sm.describe_model_package(
        ModelPackageName=package["ModelPackageArn"]), status), backend=SageMakerBackend(
            release.config_from_env(), poll_seconds=0))


def tags(sm, name: str) -> dict:
    arn = sm.describe_endpoint(EndpointName=name)["EndpointArn"]
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def table(glue_name: str = "movie_clusters") -> dict | None:
    glue = boto3.client("glue")
    try:
        return glue.get_table(DatabaseName="myflix", Name=glue_name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def deployer(auto_promote: bool = False) -> Deployer:
    config = release.config_from_env()
    config = release.DeployConfig(**{**config.__dict__, "auto_promote": auto_promote})
    return Deployer(SageMakerBackend(config, poll_seconds=0), config, log=lambda m: None)


# --- the documented event itself ------------------------------------------------------------------
def test_the_documented_event_shape_is_read():
    package = {"ModelPackageArn": f"arn:aws:sagemaker:us-east-2:{ACCOUNT}:model-package/{GROUP}/2",
               "ModelPackageGroupName": GROUP,
               "InferenceSpecification": {"Containers": [{"Image": "x", "ModelDataUrl": "s3://b/k/model.tar.gz"}]}}
    event = state_change_event(package, "Rejected")
    assert event["source"] == ["aws.sagemaker"]       # the documented example's second "source" wins
    parsed = release.parse_event(event)
    assert (parsed.arn, parsed.group, parsed.status) == (package["ModelPackageArn"], GROUP, "Rejected")
    # the ARN is also found in `resources` alone; anything else is refused with the reason
    del event["detail"]["ModelPackageArn"]
    assert release.parse_event(event).arn == package["ModelPackageArn"]
    for bad, message in ((dict(event, **{"detail-type": "SageMaker Endpoint State Change"}), "not a"),
                         ({"detail-type": release.EVENT_DETAIL_TYPE}, "no detail")):
        with pytest.raises(release.DeployError, match=message):
            release.parse_event(bad)


# --- approve -> staging -> smoke test -> promote -> prod --------------------------------------------
def test_approval_stages_and_smoke_tests_then_promote_moves_prod_and_the_table(aws, models):
    v1 = register(aws, models, "exec-1", "a")
    assert approve(aws, v1, "PendingManualApproval")["outcome"] == "ignored"   # registration events
    result = approve(aws, v1)
    assert result["outcome"] == "staged", result
    staged = tags(aws, STAGING)
    assert staged[release.TAG_PACKAGE] == v1["ModelPackageArn"] and staged[release.TAG_SMOKE] == "passed"
    assert staged[release.TAG_SMOKE_DETAIL].startswith("9/9 movies in their table cluster")
    # prod and the table wait for the promotion (AutoPromote is off)
    assert aws.list_endpoints(NameContains=PROD)["Endpoints"][0]["EndpointName"] == STAGING
    assert len(aws.list_endpoints()["Endpoints"]) == 1 and table() is None

    assert deployer().promote()["outcome"] == "promoted"
    live = tags(aws, PROD)
    assert live[release.TAG_PACKAGE] == v1["ModelPackageArn"] and live[release.TAG_SMOKE] == "passed"
    published = table()
    assert published["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/{schema.TABLE_PREFIX}/exec-1/"
    assert published["Parameters"]["myflix_model_package_arn"] == v1["ModelPackageArn"]
    config = aws.describe_endpoint_config(
        EndpointConfigName=aws.describe_endpoint(EndpointName=PROD)["EndpointConfigName"])
    assert config["EndpointConfigName"].startswith(f"{PROD}-cfg-v1-")
    assert config["ProductionVariants"][0]["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    model = aws.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert model["ExecutionRoleArn"] == ROLE and model["Containers"][0]["ModelPackageName"] == v1["ModelPackageArn"]
    status = deployer().status()
    assert status["in_step"] and [e["package"] for e in status["endpoints"]] == [v1["ModelPackageArn"]] * 2


def test_failed_smoke_test_leaves_prod_untouched_and_says_why(aws, models, monkeypatch):
    v1 = register(aws, models, "exec-1", "a")
    monkeypatch.setenv("MYFLIX_AUTO_PROMOTE", "true")
    assert approve(aws, v1)["outcome"] == "promoted"
    # v2's table was built with another model than the one registered: the smoke test must see it
    v2 = register(aws, models, "exec-2", "other", table_of="a")
    cases = manifest_of(f"s3://{BUCKET}/{schema.TABLE_PREFIX}/exec-2/",
                        lambda uri: boto3.client("s3").get_object(
                            Bucket=BUCKET, Key=uri.split("/", 3)[3])["Body"].read())["Smoke"]
    wrong = sum(a != c["cluster"] for a, c in zip(model_predictions(models["other"], cases), cases))
    assert wrong > 0
    result = approve(aws, v2)
    assert result["outcome"] == "smoke-failed" and f"{wrong}/9 movies off their table cluster" in result["message"]
    staged = tags(aws, STAGING)
    assert staged[release.TAG_PACKAGE] == v2["ModelPackageArn"] and staged[release.TAG_SMOKE] == "failed"
    assert f"{wrong}/9 movies off their table cluster" in staged[release.TAG_SMOKE_DETAIL]
    # prod and the table still serve v1, and a promotion of the failed package is refused
    assert tags(aws, PROD)[release.TAG_PACKAGE] == v1["ModelPackageArn"]
    assert table()["Parameters"]["myflix_model_package_arn"] == v1["ModelPackageArn"]
    with pytest.raises(release.DeployError, match="did not pass its smoke test"):
        deployer().promote()
    # a package whose table is not there (Publish has not run) moves nothing at all
    v3 = aws.create_model_package(**package_request(v1["InferenceSpecification"]["Containers"][0]["ModelDataUrl"],
                                                    f"s3://{BUCKET}/{schema.TABLE_PREFIX}/exec-3/", "exec-3",
                                                    "PendingManualApproval"))
    # (raised, so that Lambda retries the event: Publish may not have finished yet)
    with pytest.raises(release.ManifestMissing, match="Publish step finished"):
        approve(aws, aws.describe_model_package(ModelPackageName=v3["ModelPackageArn"]))
    assert tags(aws, STAGING)[release.TAG_PACKAGE] == v2["ModelPackageArn"]


def test_rejecting_the_live_package_rolls_back_and_rollback_takes_a_version(aws, models, monkeypatch):
    monkeypatch.setenv("MYFLIX_AUTO_PROMOTE", "true")
    v1, v2 = register(aws, models, "exec-1", "a"), register(aws, models, "exec-2", "b")
    assert approve(aws, v1)["outcome"] == "promoted"
    assert approve(aws, v2)["outcome"] == "promoted"
    assert tags(aws, PROD)[release.TAG_PREVIOUS] == v1["ModelPackageArn"]
    assert table()["Parameters"]["myflix_k"] == "7"
    # rejecting a package that is not live changes nothing
    assert approve(aws, v1, "Rejected")["outcome"] == "ignored"
    aws.update_model_package(ModelPackageArn=v1["ModelPackageArn"], ModelApprovalStatus="Approved")
    # rejecting the live one puts the previous approved package back, table included
    result = approve(aws, v2, "Rejected")
    assert result["outcome"] == "rolled-back", result
    assert tags(aws, PROD)[release.TAG_PACKAGE] == v1["ModelPackageArn"]
    assert table()["Parameters"]["myflix_model_package_arn"] == v1["ModelPackageArn"]
    assert table()["StorageDescriptor"]["Location"].endswith("/exec-1/")
    # rollback --to a version that is not Approved is refused; to nothing earlier, too
    with pytest.raises(release.DeployError, match="version 2 is Rejected"):
        deployer().rollback(to_version=2)
    with pytest.raises(release.DeployError, match="no earlier Approved package"):
        deployer().rollback()


def _unpublished(aws, models, execution: str, served: str) -> dict:
    """Register without Publish: `-p model_approval_status=Approved`'s event comes at this point."""
    key = f"runs/{schema.PIPELINE_NAME}/{execution}/TrainKMeans/model/{schema.MODEL_TARBALL}"
    boto3.client("s3").upload_file(str(models[served]), BUCKET, key)
    table_uri = f"s3://{BUCKET}/{schema.TABLE_PREFIX}/{execution}/"
    request = package_request(f"s3://{BUCKET}/{key}", table_uri, execution, "Approved")
    return aws.create_model_package(**request)


def test_an_approval_before_publish_waits_for_the_manifest_and_can_be_staged_again(aws, models):
    # Approved at registration: the event comes before Publish has written the release manifest.
    v1 = _unpublished(aws, models, "exec-1", "a")
    event = state_change_event(aws.describe_model_package(ModelPackageName=v1["ModelPackageArn"]), "Approved")
    config = release.DeployConfig(**{**release.config_from_env().__dict__, "manifest_wait_seconds": 120.0})
    waits: list[float] = []

    def publish_meanwhile(seconds: float) -> None:      # Publish finishes while the deployer waits
        waits.append(seconds)
        if len(waits) == 2:
            stage_table(models, "a", BUCKET, "exec-1", v1["ModelPackageArn"])
    waiting = Deployer(SageMakerBackend(config, poll_seconds=0), config, log=lambda m: None,
                       sleep=publish_meanwhile)
    result = waiting.handle_event(event)
    assert result["outcome"] == "staged", result
    assert waits == [config.manifest_poll_seconds] * 2
    assert tags(aws, STAGING)[release.TAG_PACKAGE] == v1["ModelPackageArn"]
    # Publish later than the deployer waits: the Lambda raises (retried, then the dead letters)...
    v2 = _unpublished(aws, models, "exec-2", "b")
    with pytest.raises(release.ManifestMissing, match="myflix deploy stage --version N"):
        lambda_handler.handler(state_change_event(aws.describe_model_package(
            ModelPackageName=v2["ModelPackageArn"]), "Approved"), backend=SageMakerBackend(
                release.config_from_env(), poll_seconds=0))
    # ...and once it has run, `myflix deploy stage --version 2` stages the approved package again.
    stage_table(models, "b", BUCKET, "exec-2", v2["ModelPackageArn"])
    assert deployer().stage_version(2)["outcome"] == "staged"
    assert tags(aws, STAGING)[release.TAG_PACKAGE] == v2["ModelPackageArn"]
    assert deployer().stage_version()["outcome"] == "staged"          # the newest Approved: v2
    with pytest.raises(release.DeployError, match="no version 9"):
        deployer().stage_version(9)


def test_prod_is_tagged_before_it_moves_and_restored_when_the_move_fails(aws, models, monkeypatch):
    monkeypatch.setenv("MYFLIX_AUTO_PROMOTE", "true")
    v1, v2 = register(aws, models, "exec-1", "a"), register(aws, models, "exec-2", "b")
    assert approve(aws, v1)["outcome"] == "promoted"
    assert approve(aws, v2, "PendingManualApproval")["outcome"] == "ignored"
    aws.update_model_package(ModelPackageArn=v2["ModelPackageArn"], ModelApprovalStatus="Approved")
    assert deployer().stage(v2["ModelPackageArn"])["outcome"] == "staged"

    # The Lambda's time runs out right after UpdateEndpoint on prod: prod serves v2. Its tag must
    # not still name v1 (the API's pair check would pass v2's answers against v1's table).
    class OutOfTime(Exception):
        pass
    real_deploy = SageMakerBackend.deploy

    def deploy_then_stop(self, endpoint, package, log, deadline):
        real_deploy(self, endpoint, package, log, deadline)
        if endpoint == PROD:
            raise OutOfTime()
    monkeypatch.setattr(SageMakerBackend, "deploy", deploy_then_stop)
    with pytest.raises(OutOfTime):
        deployer().promote()
    live = tags(aws, PROD)
    assert live[release.TAG_PACKAGE] == v2["ModelPackageArn"] and live[release.TAG_SMOKE] == "not-run"
    assert table()["Parameters"]["myflix_model_package_arn"] == v1["ModelPackageArn"]   # the API refuses

    # A move that fails (the endpoint stays on what it served) puts the tags back as they were.
    monkeypatch.setattr(SageMakerBackend, "deploy", real_deploy)
    assert deployer().rollback(to_version=1)["outcome"] == "rolled-back"
    before = tags(aws, PROD)

    def refuse(self, endpoint, package, log, deadline):
        raise release.DeployError("UpdateEndpoint failed: capacity")
    monkeypatch.setattr(SageMakerBackend, "deploy", refuse)
    with pytest.raises(release.DeployError, match="capacity"):
        deployer().promote()
    assert tags(aws, PROD) == before


def test_events_of_other_groups_and_bad_settings(aws, monkeypatch):
    other = {"ModelPackageArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/other-group/1",
             "ModelPackageGroupName": "other-group",
             "InferenceSpecification": {"Containers": [{"Image": "x", "ModelDataUrl": "s3://b/k"}]}}
    result = lambda_handler.handler(state_change_event(other, "Approved"))
    assert result["outcome"] == "ignored" and "not myflix-movie-clusters" in result["message"]
    assert aws.list_endpoints()["Endpoints"] == []
    monkeypatch.setenv("MYFLIX_SERVERLESS_MEMORY_MB", "1000")
    with pytest.raises(release.DeployError, match="serverless endpoints take 1024"):
        release.config_from_env()


def test_names_agree_with_steps_schema():
    assert release.PROD_ENDPOINT == schema.ENDPOINT_NAME
    assert release.PROD_ENDPOINT + release.STAGING_SUFFIX == schema.STAGING_ENDPOINT_NAME
    assert (release.MODEL_PACKAGE_GROUP, release.GLUE_DATABASE, release.GLUE_TABLE) == (
        schema.MODEL_PACKAGE_GROUP, schema.GLUE_DATABASE, schema.GLUE_TABLE)
    from steps import publish
    assert release.RELEASE_MANIFEST == publish.RELEASE_MANIFEST
    defaults = release.DeployConfig()
    assert (defaults.instance_type, defaults.serverless_memory_mb, defaults.serverless_max_concurrency) == (
        schema.DEFAULTS["instance_type"], schema.DEFAULTS["serverless_memory_mb"],
        schema.DEFAULTS["serverless_max_concurrency"])


def test_smoke_verdict_and_tag_values_are_pure_rules():
    cases = [{"tconst": "tt1", "cluster": 0, "features": {}}, {"tconst": "tt2", "cluster": 1, "features": {}}]
    ok = [{"predictions": [{"cluster": 0}]}, {"predictions": [{"cluster": 1}]}]
    assert release.judge_smoke(cases, ok, [3.0, 4.0], 100).passed
    slow = release.judge_smoke(cases, ok, [3.0, 400.0], 100)
    assert not slow.passed and "1/2 answers slower than 100 ms" in slow.detail
    wrong = release.judge_smoke(cases, [ok[0], {"error": "HTTP 500"}], [1.0, 1.0], 100)
    assert not wrong.passed and wrong.detail.startswith("1/2 movies off their table cluster")
    assert release.tag_value("a, (b) ; c" + "x" * 300) == ("a b c" + "x" * 300)[:256]


def test_the_lambda_zip_holds_the_deployer_only_and_is_reproducible():
    import zipfile

    from deployer.package import build_zip, code_key
    body = build_zip()
    assert body == build_zip() and code_key(body).startswith("code/deployer/")
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()
    assert names == sorted(f"deployer/{n}" for n in ("__init__.py", "backends.py", "deployer.py",
                                                      "lambda_handler.py", "release.py"))
    # what the Lambda imports needs the standard library and boto3 only (the runtime has no more)
    import ast
    for name in names:
        tree = ast.parse(zipfile.ZipFile(io.BytesIO(body)).read(name))
        top = {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.col_offset == 0
               and n.module} | {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                                and n.col_offset == 0 for a in n.names}
        assert top <= {"__future__", "deployer", "boto3", "contextlib", "hashlib", "json", "os", "re", "time",
                       "datetime", "pathlib", "typing", "dataclasses", "io", "zipfile"}, (name, top)
