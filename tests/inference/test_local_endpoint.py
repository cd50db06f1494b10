"""The local endpoint over real HTTP on loopback: SageMaker's /ping and /invocations, from a model.tar.gz."""
from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest
from test_api_data import fit_model, vega_catalog, write_model

from inference.local_endpoint import LocalEndpoint

MOVIE = {"startYear": 2010, "runtimeMinutes": 148, "averageRating": 8.8, "numVotes": 2_000_000,
         "genres": ["Action", "Adventure", "Sci-Fi"]}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    catalog, X, _ = vega_catalog()
    fitted = fit_model(X, k=6)
    work = tmp_path_factory.mktemp("endpoint")
    _, url = write_model(fitted, work, k=6)
    return {"tarball": work / "s3" / url[len("s3://"):], "model": fitted, "X": X}


@pytest.fixture(scope="module")
def endpoint(model):
    with LocalEndpoint(model["tarball"], "127.0.0.1", 0) as ep:
        yield ep


def call(url, body=None, content_type="application/json", method=None, accept="application/json"):
    data = body.encode() if isinstance(body, str) else body
    headers = {"Content-Type": content_type, **({"Accept": accept} if accept is not None else {})}
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"),
                                     headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.headers["Content-Type"] == "application/json"
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        assert err.headers["Content-Type"] == "application/json"
        return err.code, json.loads(err.read())


def test_ping(endpoint):
    assert call(endpoint.url + "/ping") == (200, {"status": "healthy"})


def test_invocations_json_and_csv(endpoint, model):
    status, body = call(endpoint.url + "/invocations", json.dumps({"instances": [MOVIE, MOVIE]}))
    assert status == 200 and len(body["predictions"]) == 2 and body["k"] == 6
    X = model["X"][:4]
    csv = "\n".join(",".join(map(str, row)) for row in X)
    status, body = call(endpoint.url + "/invocations", csv, "text/csv")
    assert status == 200
    assert [p["cluster"] for p in body["predictions"]] == model["model"].predict(X).tolist()


def test_bad_requests_are_400_naming_the_field(endpoint):
    status, body = call(endpoint.url + "/invocations", json.dumps({**MOVIE, "numVotes": "many"}))
    assert status == 400 and body["field"] == "numVotes" and "numVotes" in body["error"]
    status, body = call(endpoint.url + "/invocations", "{broken")
    assert status == 400 and "JSON" in body["error"]
    assert call(endpoint.url + "/invocations", "a", "image/png") == (
        415, {"error": "Content-Type 'image/png' is not supported: send application/json or text/csv", "field": None})
    status, body = call(endpoint.url + "/invocations", json.dumps(MOVIE), accept="text/html")
    assert status == 406 and "text/html" in body["error"] and body["field"] is None
    assert call(endpoint.url + "/elsewhere")[0] == 404
    assert call(endpoint.url + "/elsewhere", "{}")[0] == 404


@pytest.mark.parametrize("accept", [None, "*/*", "application/json", "text/html, application/json;q=0.5"])
def test_accept_variants_answer_json(endpoint, accept):
    status, body = call(endpoint.url + "/invocations", json.dumps(MOVIE), accept=accept)
    assert status == 200 and len(body["predictions"]) == 1


def test_same_answers_as_the_handler_itself(endpoint):
    """The server adds nothing of its own: each answer is the handler's respond() byte for byte."""
    for body, content_type, accept in [(json.dumps(MOVIE), "application/json", "*/*"),
                                       (json.dumps({**MOVIE, "genres": ["Cartoon"]}), "application/json", None),
                                       ("1,2", "text/csv", None), ("x", "text/plain", None),
                                       (json.dumps(MOVIE), "application/json", "text/csv")]:
        expected = endpoint.handler.respond(endpoint.model, body.encode(), content_type, accept)
        request = urllib.request.Request(endpoint.url + "/invocations", data=body.encode(), method="POST",
                                         headers={"Content-Type": content_type,
                                                  **({"Accept": accept} if accept else {})})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                got = (response.status, response.read(), response.headers["Content-Type"])
        except urllib.error.HTTPError as err:
            got = (err.code, err.read(), err.headers["Content-Type"])
        assert got == tuple(expected)


def test_it_serves_the_artefacts_own_handler(endpoint, model):
    assert endpoint.model_dir.name.endswith(".unpacked")
    assert endpoint.handler.__file__.endswith("code/inference.py")


def test_stop_frees_the_port(model):
    ep = LocalEndpoint(model["tarball"], "127.0.0.1", 0).start()
    host, port = ep.server.server_address[:2]
    assert call(ep.url + "/ping")[0] == 200
    ep.stop()
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=2).close()
