"""The API pairs the table with the endpoint: /health says which pair it serves, and the features
route answers 503 with the reason while the endpoint serves another model package than the table.

Locally the endpoint's package is its record's tag (what the deployer writes); on AWS it is the
endpoint's `myflix:model-package-arn` tag, read under moto with the calls the API role allows.
"""
from __future__ import annotations

import json

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws
from test_api_data import build_workdir

import app as api_app
from chalicelib import config, pairing, service
from steps import schema

V1 = "arn:aws:sagemaker:us-east-1:000000000000:model-package/myflix-movie-clusters/1"
V2 = "arn:aws:sagemaker:us-east-1:000000000000:model-package/myflix-movie-clusters/2"
FEATURES = {"startYear": 1999, "runtimeMinutes": 136, "genres": ["Action", "Sci-Fi"],
            "averageRating": 8.7, "numVotes": 2000000}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_workdir(tmp_path_factory.mktemp("pairing"), k=6)


def serving(built, package: str):
    """The endpoint record as the deployer leaves it, serving `package`."""
    path = built["workdir"] / "endpoints" / f"{schema.ENDPOINT_NAME}.json"
    record = json.loads(path.read_text())
    record.update(ModelPackageArn=package, Tags={pairing.PACKAGE_TAG: package})
    path.write_text(json.dumps(record))


def call(method, path, payload=None):
    with Client(api_app.app) as c:
        if method == "GET":
            response = c.http.get(path)
        else:
            response = c.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(payload))
    return response.status_code, json.loads(response.body)


def test_the_api_refuses_a_mismatched_pair_and_serves_a_matched_one(built):
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=0))
    serving(built, V1)          # the table was published for V1 (tests/api/test_api_data.py)
    status, health = call("GET", "/health")
    assert status == 200 and health["pair"]["in_step"] is True
    assert health["pair"]["endpoint_model_package_arn"] == health["pair"]["table_model_package_arn"] == V1
    assert call("POST", "/recommendations", {"features": FEATURES})[0] == 200

    serving(built, V2)          # the endpoint moved first (a promotion under way)
    status, health = call("GET", "/health")
    assert status == 200 and health["pair"]["in_step"] is False
    assert V2 in health["pair"]["reason"] and V1 in health["pair"]["reason"]
    status, body = call("POST", "/recommendations", {"features": FEATURES})
    assert status == 503 and body["Code"] == "ModelMismatch"
    assert f"serves {V2}" in body["Message"] and f"published for {V1}" in body["Message"]
    # the table's own routes go on
    movie = built["frame"].iloc[0]["tconst"]
    assert call("GET", f"/movies/{movie}/similar")[0] == 200
    assert call("POST", "/recommendations", {"liked": [movie]})[0] == 200
    serving(built, V1)


def test_the_endpoints_package_on_aws_is_its_tag(monkeypatch, aws_credentials):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    settings = config.Settings(region="us-east-1")
    with mock_aws():
        sm = boto3.client("sagemaker", region_name="us-east-1")
        assert pairing.endpoint_package_aws(settings) is None          # no endpoint yet
        sm.create_model(ModelName="m", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                        PrimaryContainer={"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/x:1"})
        sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{
            "VariantName": "AllTraffic", "ModelName": "m", "ServerlessConfig": {"MemorySizeInMB": 2048,
                                                                                  "MaxConcurrency": 5}}])
        arn = sm.create_endpoint(EndpointName=settings.endpoint_name, EndpointConfigName="c")["EndpointArn"]
        assert pairing.endpoint_package_aws(settings) is None          # not released by the deployer
        sm.add_tags(ResourceArn=arn, Tags=[{"Key": pairing.PACKAGE_TAG, "Value": V2}])
        check = pairing.PairCheck(config.Settings(region="us-east-1", reload_seconds=0))
        assert check.pair(V2).in_step and not check.pair(V1).in_step


def test_a_release_is_seen_at_once_after_recheck_whatever_the_reload_interval(built):
    # `myflix run` and `myflix serve` keep one Service for hours (reload every 60 s or more): after a
    # release, recheck() makes the next request read both the table and the endpoint again.
    svc = service.reset(config.Settings(workdir=built["workdir"], reload_seconds=3600))
    serving(built, V1)
    assert svc.health()["pair"]["in_step"] is True
    serving(built, V2)
    pair = svc.health()["pair"]                              # /health asks afresh: never a cached pair
    assert pair["in_step"] is False and pair["endpoint_model_package_arn"] == V2
    serving(built, V1)
