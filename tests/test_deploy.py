"""Deploy's main(): under moto (package group + package made here, endpoint created, then updated) and locally."""
from __future__ import annotations

import json

import pytest

from steps import aws_io, deploy

ROLE = "arn:aws:iam::123456789012:role/myflix-test"
GROUP = "myflix-movie-clusters"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"


@pytest.fixture
def aws(monkeypatch):
    """moto with fake credentials; moto 5.2 lacks UpdateEndpoint, so a test double adds it to moto."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                        "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv(aws_io.LOCAL_ROOT_ENV, raising=False)
    from moto.core.responses import ActionResult
    from moto.sagemaker.responses import SageMakerResponse
    if not hasattr(SageMakerResponse, "update_endpoint"):
        def update_endpoint(self):
            backend = self.sagemaker_backend
            endpoint = backend.endpoints[self._get_param("EndpointName")]
            config = backend.describe_endpoint_config(self._get_param("EndpointConfigName"))
            endpoint.endpoint_config_name = config["EndpointConfigName"]
            endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
            return ActionResult({"EndpointArn": endpoint.arn})
        monkeypatch.setattr(SageMakerResponse, "update_endpoint", update_endpoint, raising=False)
    import boto3
    from moto import mock_aws
    with mock_aws():
        client = boto3.client("sagemaker")
        client.create_model_package_group(ModelPackageGroupName=GROUP)
        yield client


def register(client, version_data: str, status: str = "Approved") -> str:
    return client.create_model_package(
        ModelPackageGroupName=GROUP, ModelApprovalStatus=status,
        InferenceSpecification={"Containers": [{"Image": IMAGE, "ModelDataUrl": version_data}],
                                "SupportedContentTypes": ["application/json"],
                                "SupportedResponseMIMETypes": ["application/json"]})["ModelPackageArn"]


def test_deploy_under_moto_creates_then_updates(aws, capsys):
    first = register(aws, "s3://b/TrainKMeans/1/model.tar.gz")
    assert deploy.main(["--model-package-arn", first, "--endpoint-name", "myflix-test", "--role-arn", ROLE]) == 0
    endpoint = aws.describe_endpoint(EndpointName="myflix-test")
    assert endpoint["EndpointStatus"] == "InService"
    config = aws.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    model = aws.describe_model(ModelName=variant["ModelName"])
    assert model["Containers"][0]["ModelPackageName"] == first
    assert "creating endpoint myflix-test" in capsys.readouterr().out

    # The same package again: nothing to change.
    assert deploy.main(["--model-package-arn", first, "--endpoint-name", "myflix-test", "--role-arn", ROLE]) == 0
    assert "nothing to change" in capsys.readouterr().out

    # A new version on an instance: the endpoint is updated to a new config.
    second = register(aws, "s3://b/TrainKMeans/2/model.tar.gz")
    assert deploy.main(["--model-package-arn", second, "--endpoint-name", "myflix-test", "--role-arn", ROLE,
                        "--instance-type", "ml.m5.large"]) == 0
    assert "updating endpoint myflix-test" in capsys.readouterr().out
    updated = aws.describe_endpoint(EndpointName="myflix-test")
    assert updated["EndpointConfigName"] != endpoint["EndpointConfigName"]
    variant = aws.describe_endpoint_config(EndpointConfigName=updated["EndpointConfigName"])["ProductionVariants"][0]
    assert variant["InstanceType"] == "ml.m5.large" and variant["InitialInstanceCount"] == 1
    assert aws.describe_model(ModelName=variant["ModelName"])["Containers"][0]["ModelPackageName"] == second
    assert len(aws.list_endpoints()["Endpoints"]) == 1


def test_unapproved_package_is_not_deployed(aws, capsys):
    pending = register(aws, "s3://b/m.tar.gz", status="PendingManualApproval")
    assert deploy.main(["--model-package-arn", pending, "--endpoint-name", "myflix-test", "--role-arn", ROLE]) == 2
    assert "is PendingManualApproval, not Approved" in capsys.readouterr().err
    assert aws.list_endpoints()["Endpoints"] == []
    missing = pending.rsplit("/", 1)[0] + "/9"
    assert deploy.main(["--model-package-arn", missing, "--endpoint-name", "myflix-test", "--role-arn", ROLE]) == 2
    assert "cannot read the model package" in capsys.readouterr().err


def test_bad_arguments_are_clear_errors(capsys):
    with pytest.raises(SystemExit):
        deploy.main(["--model-package-arn", "x", "--serverless-memory-mb", "1000"])
    assert "serverless endpoints take 1024" in capsys.readouterr().err
    assert deploy.main(["--model-package-arn", "not-an-arn"]) == 2
    assert "is not a versioned model package ARN" in capsys.readouterr().err


def test_deploy_locally_writes_the_endpoint_record(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(aws_io.LOCAL_ROOT_ENV, str(tmp_path))
    arns = []
    for version in (1, 2):
        arn = f"arn:aws:sagemaker:us-east-1:000000000000:model-package/{GROUP}/{version}"
        package = {"ModelPackageGroupName": GROUP, "ModelPackageVersion": version, "ModelPackageArn": arn,
                   "ModelPackageStatus": "Completed", "ModelApprovalStatus": "Approved",
                   "CreationTime": "2026-11-25T12:00:00+00:00",
                   "InferenceSpecification": {"Containers": [{
                       "Image": IMAGE, "ModelDataUrl": f"s3://myflix-local/TrainKMeans/{version}/model.tar.gz",
                       "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}}]},
                   "ModelMetrics": {}, "CustomerMetadataProperties": {}}
        (tmp_path / "registry" / GROUP).mkdir(parents=True, exist_ok=True)
        (tmp_path / "registry" / GROUP / f"{version}.json").write_text(json.dumps(package))
        arns.append(arn)
    assert deploy.main(["--model-package-arn", arns[0], "--endpoint-name", "myflix-local-ep"]) == 0
    record = json.loads((tmp_path / "endpoints" / "myflix-local-ep.json").read_text())
    assert record["EndpointName"] == "myflix-local-ep" and record["EndpointStatus"] == "InService"
    assert record["ModelPackageArn"] == arns[0]
    assert record["ModelDataUrl"] == "s3://myflix-local/TrainKMeans/1/model.tar.gz"
    assert "created" in capsys.readouterr().out
    assert deploy.main(["--model-package-arn", arns[1], "--endpoint-name", "myflix-local-ep"]) == 0
    record = json.loads((tmp_path / "endpoints" / "myflix-local-ep.json").read_text())
    assert record["ModelPackageArn"] == arns[1] and "updated" in capsys.readouterr().out
    assert deploy.main(["--model-package-arn", arns[0].replace("/1", "/7"), "--endpoint-name", "x"]) == 2
    assert "no model package" in capsys.readouterr().err
