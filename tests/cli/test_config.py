"""`myflix config from-stack|show|chalice-stage` against the infra stack created under moto."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from cli.main import UserError, main
from operations import settings
from operations import stack as stack_ops

TEMPLATE = Path(__file__).resolve().parents[2] / "cfn" / "myflix-infra.yaml"
REGION = "eu-west-1"


@pytest.fixture
def aws_env(tmp_path, monkeypatch, aws_credentials):
    """Fake credentials (tests/conftest.py) and a region, a private config file."""
    for var in ("AWS_REGION", "MYFLIX_REGION", "MYFLIX_ROLE_ARN", "MYFLIX_BUCKET", "MYFLIX_PIPELINE_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MYFLIX_CONFIG", str(tmp_path / "myflix" / "config.json"))
    return tmp_path / "myflix" / "config.json"


def create_stack(name: str = "myflix", region: str = REGION, **parameters: str) -> dict:
    cfn = boto3.client("cloudformation", region_name=region)
    with warnings.catch_warnings():
        # moto's CloudFormation skips a few resource types with a warning (see tests/project/test_cfn.py)
        warnings.simplefilter("ignore")
        cfn.create_stack(StackName=name, TemplateBody=TEMPLATE.read_text(),
                         Capabilities=["CAPABILITY_NAMED_IAM"],
                         Parameters=[{"ParameterKey": k, "ParameterValue": v}
                                     for k, v in parameters.items()])
    return cfn.describe_stacks(StackName=name)["Stacks"][0]


def test_from_stack_saves_the_outputs_that_pipeline_commands_resolve(aws_env, capsys):
    with mock_aws():
        create_stack("myflix-prod", PipelineName="movies-a", BucketName="acme-movies")
        assert main(["config", "from-stack", "myflix-prod"]) == 0
    saved = json.loads(aws_env.read_text())
    assert saved["region"] == REGION
    assert saved["bucket"] == "acme-movies"
    assert saved["role_arn"] == f"arn:aws:iam::123456789012:role/myflix-sagemaker-{REGION}"
    assert saved["api_role_arn"] == f"arn:aws:iam::123456789012:role/myflix-api-{REGION}"
    assert saved["pipeline_name"] == "movies-a"
    assert saved["glue_database"] == "myflix" and saved["glue_table"] == "movie_clusters"
    assert saved["model_package_group"] == "myflix-movie-clusters"
    assert saved["stack_name"] == "myflix-prod"
    # what H4's settings resolution (used by every `myflix pipeline` command) now finds
    resolved = settings.resolve(env={})
    assert (resolved.region, resolved.bucket, resolved.pipeline_name) == (REGION, "acme-movies", "movies-a")
    assert resolved.role == saved["role_arn"]
    assert "acme-movies" in capsys.readouterr().out


def test_from_stack_merges_into_an_existing_config(aws_env):
    aws_env.parent.mkdir(parents=True)
    aws_env.write_text(json.dumps({"bucket": "old-bucket", "my_own_key": 7}))
    with mock_aws():
        create_stack()
        assert main(["config", "from-stack", "myflix", "--region", REGION]) == 0
    saved = json.loads(aws_env.read_text())
    assert saved["bucket"] == f"myflix-123456789012-{REGION}"
    assert saved["my_own_key"] == 7


def test_from_stack_reads_the_region_given(aws_env):
    with mock_aws():
        create_stack(region="us-west-2")
        assert main(["config", "from-stack", "myflix", "--region", "us-west-2"]) == 0
    assert json.loads(aws_env.read_text())["region"] == "us-west-2"


def test_missing_stack_says_how_to_create_it(aws_env, capsys):
    with mock_aws():
        assert main(["config", "from-stack", "nope"]) == 2
    err = capsys.readouterr().err
    assert "no stack nope in eu-west-1" in err
    assert "aws cloudformation deploy --template-file cfn/myflix-infra.yaml" in err
    assert not aws_env.exists()


def test_no_credentials_is_a_clear_error(aws_env, monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert main(["config", "from-stack", "myflix"]) == 2
    assert "no AWS credentials" in capsys.readouterr().err


def test_no_region_is_a_clear_error(aws_env, monkeypatch, capsys):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert main(["config", "from-stack", "myflix"]) == 2
    assert "no AWS region: pass --region" in capsys.readouterr().err


@pytest.mark.parametrize("status", ["CREATE_IN_PROGRESS", "ROLLBACK_COMPLETE", "DELETE_COMPLETE"])
def test_unfinished_or_failed_stack_is_refused(status):
    with pytest.raises(UserError, match=f"stack s is {status}"):
        stack_ops.config_from_outputs("s", {"StackStatus": status, "Outputs": []})


def test_stack_from_another_template_names_the_missing_outputs():
    stack = {"StackStatus": "CREATE_COMPLETE",
             "Outputs": [{"OutputKey": "Region", "OutputValue": "us-east-1"},
                         {"OutputKey": "BucketName", "OutputValue": "b1"}]}
    with pytest.raises(UserError) as err:
        stack_ops.config_from_outputs("other", stack)
    assert "SageMakerRoleArn" in str(err.value) and "ApiRoleArn" in str(err.value)
    assert "BucketName" not in str(err.value)


def test_show_reports_values_and_where_they_come_from(aws_env, monkeypatch, capsys):
    with mock_aws():
        create_stack()
        main(["config", "from-stack", "myflix"])
    capsys.readouterr()
    monkeypatch.setenv("MYFLIX_BUCKET", "override-bucket")
    assert main(["config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["path"] == str(aws_env)
    assert shown["config"]["bucket"] == f"myflix-123456789012-{REGION}"
    assert shown["resolved"]["bucket"] == "override-bucket"
    assert shown["origin"]["bucket"] == "$MYFLIX_BUCKET"
    assert shown["origin"]["role"].endswith(":role_arn")
    assert main(["config", "show"]) == 0
    assert "override-bucket" in capsys.readouterr().out


def test_show_without_a_config_file_says_what_to_do(aws_env, capsys):
    assert main(["config", "show"]) == 0
    assert "run `myflix config from-stack NAME`" in capsys.readouterr().out


def test_chalice_stage_uses_the_stack_role_and_names(aws_env, capsys):
    with mock_aws():
        create_stack(EndpointName="myflix-ep2")
        main(["config", "from-stack", "myflix"])
    capsys.readouterr()
    assert main(["config", "chalice-stage", "--cors-origin", "https://movies.example"]) == 0
    stage = json.loads(capsys.readouterr().out)["stages"]["aws"]
    assert stage["manage_iam_role"] is False
    assert stage["iam_role_arn"] == f"arn:aws:iam::123456789012:role/myflix-api-{REGION}"
    assert stage["environment_variables"]["MYFLIX_ENDPOINT_NAME"] == "myflix-ep2"
    assert stage["environment_variables"]["MYFLIX_CORS_ORIGIN"] == "https://movies.example"


def test_chalice_stage_before_from_stack_says_what_to_do(aws_env, capsys):
    assert main(["config", "chalice-stage"]) == 2
    assert "run `myflix config from-stack NAME` first" in capsys.readouterr().err


def test_chalice_stage_written_into_a_copy_of_the_api_project(aws_env, tmp_path, capsys):
    api_config = Path(__file__).resolve().parents[2] / "api" / ".chalice" / "config.json"
    target = tmp_path / "config.json"
    target.write_text(api_config.read_text())
    original = json.loads(target.read_text())
    with mock_aws():
        create_stack()
        main(["config", "from-stack", "myflix"])
    assert main(["config", "chalice-stage", "--write", str(target)]) == 0
    written = json.loads(target.read_text())
    stage = written["stages"]["aws"]
    assert stage["iam_role_arn"] == f"arn:aws:iam::123456789012:role/myflix-api-{REGION}"
    assert stage["manage_iam_role"] is False
    # everything else of the project's config is kept as it was
    assert {k: v for k, v in written.items() if k != "stages"} == {k: v for k, v in original.items() if k != "stages"}
    assert {k: v for k, v in written["stages"].items() if k != "aws"} == original.get("stages", {})
    for layer in stage.get("layers", []):
        if ":layer:AWSSDKPandas" in layer:
            assert f":lambda:{REGION}:" in layer
            assert "moved from us-east-1 to eu-west-1" in capsys.readouterr().err


def test_chalice_stage_moves_only_the_pandas_layer_to_the_stack_region():
    config = {"api_role_arn": "arn:aws:iam::1:role/r", "region": "ap-south-1"}
    stage, notes = stack_ops.chalice_stage(config, layers=[
        "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python311:21",
        "arn:aws:lambda:us-east-1:111122223333:layer:my-own:3"])
    assert stage["layers"] == ["arn:aws:lambda:ap-south-1:336392948345:layer:AWSSDKPandas-Python311:21",
                               "arn:aws:lambda:us-east-1:111122223333:layer:my-own:3"]
    assert len(notes) == 1


def test_chalice_stage_refuses_a_layer_for_another_python():
    # Chalice takes the Lambda runtime from the Python it runs under: packaged with 3.12, the
    # 3.11 layer's numpy cannot import and every route is a 502. Refused, saying how to fix it.
    config = {"api_role_arn": "arn:aws:iam::1:role/r", "region": "us-east-1"}
    layer = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python311:21"
    with pytest.raises(UserError) as refused:
        stack_ops.chalice_stage(config, layers=[layer], python=(3, 12))
    message = str(refused.value)
    assert "Python 3.11" in message and "python3.12" in message
    assert "/aws/service/aws-sdk-pandas/<version>/us-east-1/py3.12/x86_64/layer-arn" in message
    stage, _ = stack_ops.chalice_stage(config, layers=[layer], python=(3, 11))
    assert stage["layers"] == [layer]
    # a --layer for the packaging Python is taken; one for another Python is refused too
    py312 = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python312:5"
    assert stack_ops.chalice_stage(config, layer_override=py312, python=(3, 12))[0]["layers"] == [py312]
    with pytest.raises(UserError):
        stack_ops.chalice_stage(config, layer_override=py312, python=(3, 11))


def test_chalice_stage_does_not_move_the_layer_to_an_opt_in_region():
    # Opt-in regions publish the AWS SDK for pandas layer from other accounts: moving the ARN
    # would name a layer that does not exist. The command says to pass --layer, and how to find it.
    config = {"api_role_arn": "arn:aws:iam::1:role/r", "region": "af-south-1"}
    layer = "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python311:21"
    with pytest.raises(UserError) as refused:
        stack_ops.chalice_stage(config, layers=[layer], python=(3, 11))
    assert "opt-in region" in str(refused.value) and "af-south-1/py3.11" in str(refused.value)
    mine = "arn:aws:lambda:af-south-1:999999999999:layer:AWSSDKPandas-Python311:9"
    assert stack_ops.chalice_stage(config, layers=[layer], layer_override=mine,
                                    python=(3, 11))[0]["layers"] == [mine]


def test_the_default_stage_policy_lets_the_api_check_its_pair():
    # api/chalicelib/pairing.py reads the endpoint's release tag: DescribeEndpoint + ListTags.
    policy_file = Path(__file__).resolve().parents[2] / "api" / ".chalice" / "policy.json"
    policy = json.loads(policy_file.read_text())
    actions = {a for st in policy["Statement"] for a in (st["Action"] if isinstance(st["Action"], list)
                                                          else [st["Action"]])}
    assert {"sagemaker:DescribeEndpoint", "sagemaker:ListTags", "sagemaker:InvokeEndpoint"} <= actions


def test_get_prints_one_value_for_scripts(aws_env, capsys):
    with mock_aws():
        create_stack()
        main(["config", "from-stack", "myflix"])
    capsys.readouterr()
    assert main(["config", "get", "bucket"]) == 0
    assert capsys.readouterr().out == f"myflix-123456789012-{REGION}\n"
    assert main(["config", "get", "nope"]) == 2
    assert "no 'nope' in" in capsys.readouterr().err


def test_teardown_plans_without_yes_then_deletes_in_order(aws_env, capsys):
    with mock_aws():
        create_stack()
        main(["config", "from-stack", "myflix"])
        bucket = f"myflix-123456789012-{REGION}"
        s3 = boto3.client("s3", region_name=REGION)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_object(Bucket=bucket, Key="raw/title.basics.tsv.gz", Body=b"1")
        s3.put_object(Bucket=bucket, Key="raw/title.basics.tsv.gz", Body=b"2")   # a second version
        sm = boto3.client("sagemaker", region_name=REGION)
        image = "683313688378.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.9-0-cpu-py3"
        role = f"arn:aws:iam::123456789012:role/myflix-sagemaker-{REGION}"
        for name in ("myflix-movie-clusters-v1-0a1b2c3d", "someone-elses-model"):
            sm.create_model(ModelName=name, ExecutionRoleArn=role, PrimaryContainer={"Image": image})
        sm.create_endpoint_config(EndpointConfigName="myflix-movie-clusters-cfg-v1-0a1b2c3d",
                                  ProductionVariants=[{"VariantName": "AllTraffic", "ModelName":
                                                       "myflix-movie-clusters-v1-0a1b2c3d",
                                                       "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
        sm.create_endpoint(EndpointName="myflix-movie-clusters",
                           EndpointConfigName="myflix-movie-clusters-cfg-v1-0a1b2c3d")
        capsys.readouterr()

        assert main(["config", "teardown"]) == 0
        plan = capsys.readouterr().out
        assert "would delete endpoint myflix-movie-clusters" in plan
        assert "would delete model myflix-movie-clusters-v1-0a1b2c3d" in plan
        assert "someone-elses-model" not in plan
        assert s3.list_object_versions(Bucket=bucket)["Versions"]    # nothing deleted yet

        code = main(["config", "teardown", "--yes"])
        out, err = capsys.readouterr()
        assert "2 object versions deleted" in out
        # the stack (and its bucket policy) goes before the bucket it retains
        assert out.index("delete the stack myflix") < out.index("empty bucket")
        assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["someone-elses-model"]
        assert sm.list_endpoints()["Endpoints"] == []
        assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        stacks = boto3.client("cloudformation", region_name=REGION).list_stacks()["StackSummaries"]
        assert [s["StackStatus"] for s in stacks if s["StackName"] == "myflix"] == ["DELETE_COMPLETE"]
        # moto does not implement DeleteModelPackageGroup: the one problem reported, the rest done
        assert code in (0, 1)
        if code == 1:
            assert "delete model package group myflix-movie-clusters" in err
            assert err.count("FAILED") == 0 and err.count(";") == 0
