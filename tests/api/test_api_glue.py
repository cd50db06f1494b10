"""The API's AWS path under moto: a table published to S3 + Glue by the Publish step's code, read through Glue."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client
from test_api_data import BUCKET, FEATURES, fit_model, local_root, publish_table, table_frame, vega_catalog

import app as api_app
from chalicelib import config, service

REGION = "us-east-1"


@pytest.fixture(scope="module")
def rows():
    catalog, X, _ = vega_catalog()
    model = fit_model(X, k=6)
    return table_frame(catalog, X, model)


@pytest.fixture()
def aws(monkeypatch, aws_credentials):
    from moto import mock_aws

    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, REGION)
    monkeypatch.delenv("MYFLIX_WORKDIR", raising=False)
    with mock_aws(), local_root(None):
        import boto3
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
        yield


def get(client, path):
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def test_glue_table_is_read_and_served(aws, rows):
    location = f"s3://{BUCKET}/tables/movie_clusters/exec-A/"
    publish_table(rows, location, FEATURES, 6, "exec-A")
    service.reset(config.Settings(workdir=None, region=REGION, reload_seconds=0))
    with Client(api_app.app) as client:
        status, health = get(client, "/health")
        assert status == 200 and health["mode"] == "aws"
        assert health["movies"] == len(rows) and health["clusters"] == 6 and health["location"] == location
        matrix = rows.loc[rows["title"] == "The Matrix", "tconst"].iloc[0]
        status, body = get(client, f"/movies/{matrix}/similar?limit=5")
        assert status == 200 and len(body["similar"]) == 5

        # a new execution moves the table: the API follows it
        publish_table(rows.iloc[:50], f"s3://{BUCKET}/tables/movie_clusters/exec-B/", FEATURES, 6, "exec-B")
        status, health = get(client, "/health")
        assert health["movies"] == 50 and health["execution_id"] == "exec-B"


def test_missing_glue_table_is_a_503_with_what_to_do(aws):
    service.reset(config.Settings(workdir=None, region=REGION))
    with Client(api_app.app) as client:
        status, body = get(client, "/movies")
        assert status == 503 and "does not exist yet" in body["Message"]


def _runtime_with(stub_setup):
    import boto3
    from botocore.stub import Stubber

    client = boto3.client("sagemaker-runtime", region_name=REGION, aws_access_key_id="testing",
                          aws_secret_access_key="testing")
    stubber = Stubber(client)
    stub_setup(stubber)
    stubber.activate()
    return client


def test_sagemaker_endpoint_answers_and_errors_are_mapped():
    import io

    from botocore.response import StreamingBody

    from chalicelib.endpoint import SageMakerEndpoint
    from chalicelib.errors import EndpointUnavailable, InvalidRequest

    answer = json.dumps({"predictions": [{"cluster": 3, "distance": 1.5, "scaled": [0.0] * 26}]}).encode()
    settings = config.Settings(region=REGION)

    def ok(stubber):
        stubber.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(answer), len(answer)),
                                                 "ContentType": "application/json"},
                             {"EndpointName": "myflix-movie-clusters", "ContentType": "application/json",
                              "Accept": "application/json", "Body": json.dumps({"startYear": 1999})})
    assert SageMakerEndpoint(settings, _runtime_with(ok)).predict({"startYear": 1999})["predictions"][0]["cluster"] == 3

    def rejected(stubber):
        stubber.add_client_error("invoke_endpoint", service_error_code="ModelError", http_status_code=424,
                                 service_message='Received client error (400) from primary with message '
                                                 '"{"error": "missing feature(s) [\'numVotes\']", '
                                                 '"field": "numVotes"}"')
    with pytest.raises(InvalidRequest, match="numVotes"):
        SageMakerEndpoint(settings, _runtime_with(rejected)).predict({"startYear": 1999})

    def down(stubber):
        stubber.add_client_error("invoke_endpoint", service_error_code="ValidationError", http_status_code=400,
                                 service_message="Endpoint myflix-movie-clusters of account 000000000000 not found.")
    with pytest.raises(EndpointUnavailable, match="not found"):
        SageMakerEndpoint(settings, _runtime_with(down)).predict({"startYear": 1999})
