"""The TrainKMeans model.tar.gz served by the real serving stack, over real HTTP on loopback.

The artefact is built by TrainKMeans's main() on the bundled real data, unpacked as the container
unpacks it (<base>/model, i.e. /opt/ml/model), and served the way the SKLearn image serves it:
gunicorn with gevent workers in the step environment (.venv-steps: the image's sagemaker-containers,
flask, gunicorn), the app being sagemaker_containers' Transformer + Worker around the artefact's
own code/inference.py (tests/serving_harness.py). Each answer's status, content type and body are
checked, the refusals (400/406/415) included, and the API's mapping of them as SageMaker runtime
reports them (ModelError with OriginalStatusCode).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from steps import artifacts

ROOT = Path(__file__).resolve().parents[2]
STEPS_PYTHON = ROOT / ".venv-steps" / "bin" / "python"
HARNESS_DIR = Path(__file__).resolve().parents[1]     # tests/serving_harness.py
START_TIMEOUT = 60

pytestmark = pytest.mark.skipif(
    not STEPS_PYTHON.is_file(),
    reason=f"{STEPS_PYTHON} is missing: `make steps-env` builds the step environment (the image's packages)")

MOVIE = {"startYear": 2010, "runtimeMinutes": 148, "averageRating": 8.8, "numVotes": 2_000_000,
         "genres": ["Action", "Adventure", "Sci-Fi"]}


@pytest.fixture(scope="module")
def artefact(tmp_path_factory):
    """TrainKMeans's model.tar.gz (k=6) on the vega movies, and the matrix it was fitted on."""
    from deployer_fixtures import train_models  # tests/ is on sys.path under pytest
    work = tmp_path_factory.mktemp("train")
    trained = train_models(work, {"k6": (6, 42)})
    model, meta = artifacts.load_model(trained["k6"].parent)
    return {"tarball": trained["k6"], "model": model, "meta": meta,
            "X": artifacts.read_features(trained["features"]).X}


@pytest.fixture(scope="module")
def server(artefact, tmp_path_factory):
    """gunicorn (gevent worker) on 127.0.0.1, an ephemeral port, serving the harness app."""
    base = tmp_path_factory.mktemp("opt_ml")   # stands for /opt/ml
    with tarfile.open(artefact["tarball"]) as archive:   # the container unpacks into /opt/ml/model
        archive.extractall(base / "model", filter="data")
    code_dir = base / "model" / "code"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "SAGEMAKER_", "SM_"))}
    env.update({"SAGEMAKER_BASE_DIR": str(base), "SAGEMAKER_PROGRAM": "inference.py",
                "SAGEMAKER_SUBMIT_DIRECTORY": str(code_dir), "PYTHONWARNINGS": "ignore::DeprecationWarning"})
    log = open(base / "gunicorn.log", "w+b")
    process = subprocess.Popen(
        [str(STEPS_PYTHON), "-m", "gunicorn", "-k", "gevent", "-w", "1", "-b", "127.0.0.1:0", "--timeout", "60",
         "--pythonpath", f"{HARNESS_DIR},{code_dir}", "--log-level", "info", "serving_harness:main"],
        cwd=base, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        port, deadline = None, time.monotonic() + START_TIMEOUT
        while port is None and time.monotonic() < deadline and process.poll() is None:
            found = re.search(rb"Listening at: http://127\.0\.0\.1:(\d+)", (base / "gunicorn.log").read_bytes())
            port = int(found.group(1)) if found else time.sleep(0.1)
        assert port, f"gunicorn did not start:\n{(base / 'gunicorn.log').read_text()}"
        yield {"port": port, "log": base / "gunicorn.log", "code": code_dir / "inference.py"}
    finally:
        process.send_signal(signal.SIGINT)   # gunicorn's quick shutdown (SIGTERM waits for the workers)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def call(server, method: str, path: str, body: str | bytes | None = None, headers: dict | None = None):
    """(status, content type, body bytes) of one HTTP request to the server."""
    connection = http.client.HTTPConnection("127.0.0.1", server["port"], timeout=30)
    try:
        connection.request(method, path, body=body.encode() if isinstance(body, str) else body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type"), response.read()
    finally:
        connection.close()


def invoke(server, body, content_type: str | None = "application/json", accept: str | None = "application/json"):
    headers = {key: value for key, value in (("Content-Type", content_type), ("Accept", accept)) if value is not None}
    status, kind, raw = call(server, "POST", "/invocations", body, headers)
    return status, kind, json.loads(raw) if kind and kind.startswith("application/json") else raw


def clusters_of(answer: dict) -> list[int]:
    return [p["cluster"] for p in answer["predictions"]]


def named(row: np.ndarray, features: list[str]) -> dict:
    return dict(zip(features, map(float, row), strict=True))


def test_ping_loads_the_artefacts_own_handler(server):
    status, _, _ = call(server, "GET", "/ping")
    assert status == 200
    assert f"serving module inference from {server['code']}" in server["log"].read_text()


def test_json_shapes_and_csv_answer_the_models_own_clusters(server, artefact):
    X, features = artefact["X"][:20], artefact["meta"]["features"]
    expected = artefact["model"].predict(X).tolist()
    rows = [named(r, features) for r in X]
    for body in (rows, {"instances": rows}):
        status, kind, answer = invoke(server, json.dumps(body))
        assert (status, kind) == (200, "application/json")
        assert clusters_of(answer) == expected and answer["k"] == 6 and answer["features"] == features
    status, _, one = invoke(server, json.dumps(rows[3]))
    assert status == 200 and clusters_of(one) == expected[3:4]
    scaled = artefact["model"].named_steps["scaler"].transform(X[3:4])
    assert np.allclose(one["predictions"][0]["scaled"], scaled[0])
    csv = "\n".join(",".join(repr(float(v)) for v in r) for r in X)
    status, kind, answer = invoke(server, csv, "text/csv")
    assert (status, kind) == (200, "application/json") and clusters_of(answer) == expected
    status, _, answer = invoke(server, ",".join(features) + "\n" + csv, "text/csv; charset=utf-8")
    assert status == 200 and clusters_of(answer) == expected


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "application/json; charset=utf-8",
                                    "application/*", "text/html, application/json;q=0.8"])
def test_accept_variants_answer_json(server, accept):
    status, kind, answer = invoke(server, json.dumps(MOVIE), accept=accept)
    assert (status, kind) == (200, "application/json") and len(answer["predictions"]) == 1


@pytest.mark.parametrize("body, content_type, field, words", [
    ("{broken", "application/json", None, "not valid JSON"),
    (json.dumps({k: v for k, v in MOVIE.items() if k != "numVotes"}), "application/json", "numVotes", "missing"),
    (json.dumps({**MOVIE, "averageRating": "great"}), "application/json", "averageRating", "not a number"),
    (json.dumps({**MOVIE, "genres": ["Cartoon"]}), "application/json", "genres", "Cartoon"),
    ("1,2,3", "text/csv", None, "has 3 values"),
])
def test_bad_input_is_400_with_our_message(server, body, content_type, field, words):
    status, kind, answer = invoke(server, body, content_type)
    assert (status, kind) == (400, "application/json"), answer
    assert set(answer) == {"error", "field"} and answer["field"] == field and words in answer["error"]
    if field:
        assert field in answer["error"]


@pytest.mark.parametrize("content_type", ["application/x-npy", "text/plain", "application/xml"])
def test_an_unread_content_type_is_415(server, content_type):
    status, kind, answer = invoke(server, json.dumps(MOVIE), content_type)
    assert (status, kind) == (415, "application/json"), answer
    assert answer == {"error": f"Content-Type {content_type!r} is not supported: send application/json or text/csv",
                      "field": None}


@pytest.mark.parametrize("accept", ["text/html", "text/csv", "application/json;q=0"])
def test_an_unsupported_accept_is_406(server, accept):
    status, kind, answer = invoke(server, json.dumps(MOVIE), accept=accept)
    assert (status, kind) == (406, "application/json"), answer
    assert accept in answer["error"] and "application/json" in answer["error"] and answer["field"] is None


def test_the_local_endpoint_answers_byte_for_byte_the_same(server, artefact):
    """inference/local_endpoint.py (myflix endpoint, local deploy) against the container's stack."""
    from inference.local_endpoint import LocalEndpoint

    cases = [(json.dumps(MOVIE), "application/json", "*/*"), ("{broken", "application/json", None),
             (json.dumps({**MOVIE, "numVotes": None}), "application/json", "application/json"),
             ("1,2", "text/csv", None), ("x", "text/plain", None), (json.dumps(MOVIE), "application/json", "text/html")]
    with LocalEndpoint(artefact["tarball"], "127.0.0.1", 0) as local:
        local_server = {"port": local.server.server_address[1]}
        for body, content_type, accept in cases:
            headers = {"Content-Type": content_type, **({"Accept": accept} if accept else {})}
            assert call(local_server, "POST", "/invocations", body, headers) == \
                call(server, "POST", "/invocations", body, headers), (body, content_type, accept)


@pytest.mark.parametrize("body, content_type, status", [
    (json.dumps({**MOVIE, "numVotes": "many"}), "application/json", 400),
    (json.dumps(MOVIE), "text/plain", 415),
])
def test_the_api_turns_the_endpoints_refusal_into_its_400(server, body, content_type, status):
    """The refusal as SageMaker runtime reports it (ModelError, OriginalStatusCode, OriginalMessage)."""
    import boto3
    from botocore.stub import Stubber

    from chalicelib import config
    from chalicelib.endpoint import SageMakerEndpoint
    from chalicelib.errors import InvalidRequest

    got_status, _, raw = call(server, "POST", "/invocations", body, {"Content-Type": content_type})
    assert got_status == status
    client = boto3.client("sagemaker-runtime", region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    stubber = Stubber(client)
    stubber.add_client_error(
        "invoke_endpoint", service_error_code="ModelError", http_status_code=424,
        service_message=f"Received client error ({status}) from primary with message \"{raw.decode()}\". "
                        "See the endpoint's log stream for more information.",
        modeled_fields={"OriginalStatusCode": status, "OriginalMessage": raw.decode(),
                        "LogStreamArn": "arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/x"})
    stubber.activate()
    with pytest.raises(InvalidRequest) as err:
        SageMakerEndpoint(config.Settings(region="us-east-1"), client).predict(json.loads(json.dumps(MOVIE)))
    assert str(err.value) == f"the model rejected the features: {json.loads(raw)['error']}"
    assert "See the endpoint" not in str(err.value)
