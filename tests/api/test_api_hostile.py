"""Hostile requests through the Chalice app (chalice.test.Client): every one a 4xx `{Code, Message}` in strict JSON.

Deep nesting, huge and non-finite feature values, non-ASCII digits, control characters, oversized and
non-UTF-8 bodies; messages quote at most a clipped piece of the input; /health names no local path;
the security headers are on every answer. The same cases over real sockets: tests/serving/test_serve_http.py.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from chalice.test import Client
from test_api_data import build_workdir

import app as api_app
from chalicelib import checks, config, service

GOOD_FEATURES = {"startYear": 1999, "runtimeMinutes": 136, "genres": ["Action"], "averageRating": 8.7,
                 "numVotes": 1_500_000}


def strict_json(text):
    """json.loads that refuses NaN/Infinity, as every JSON parser but Python's does."""
    def refuse(token):
        raise AssertionError(f"{token} in an answer: not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_workdir(tmp_path_factory.mktemp("hostile"), k=6)


@pytest.fixture()
def client(built):
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=3600))
    with Client(api_app.app) as c:
        yield c


def call(client, method, path, body=None, content_type="application/json"):
    headers = {"Content-Type": content_type} if body is not None else {}
    response = client.http.request(method, path, headers=headers, body=body if body is not None else b"")
    return response.status_code, strict_json(response.body), response.headers


def assert_error(answer, status, *words):
    got, body, _ = answer
    assert got == status, body
    assert set(body) == {"Code", "Message"}, body
    for word in words:
        assert word in body["Message"], body


def features(**changes):
    return json.dumps({"features": {**GOOD_FEATURES, **changes}})


def test_deeply_nested_json_is_400(client):
    for body in ("[" * 30_000 + "]" * 30_000, '{"liked":' + "[" * 5000 + "]" * 5000 + "}"):
        got, answer, _ = call(client, "POST", "/recommendations", body)
        assert got == 400 and answer["Message"], answer


@pytest.mark.parametrize("field, value, shown", [
    ("numVotes", "1e308", "0 to 1e+08"), ("numVotes", "-1", "0 to 1e+08"), ("startYear", "1e308", "1870 to 2100"),
    ("startYear", "NaN", "1870 to 2100"), ("runtimeMinutes", "-Infinity", "1 to 1000"),
    ("averageRating", "11", "0 to 10"), ("Action", "2", "0 or 1"), ("Action", "true", "0 or 1"),
    ("Western", "2.5e-42", "0 or 1"),
    ("numVotes", '"many"', "0 to 1e+08"), ("startYear", "false", "1870 to 2100"),
])
def test_out_of_range_features_are_400_naming_the_field_and_range(client, field, value, shown):
    body = features().replace('"genres"', f'"{field}": {value}, "genres"', 1) if field not in GOOD_FEATURES else \
        features(**{field: 0}).replace(f'"{field}": 0', f'"{field}": {value}')
    assert_error(call(client, "POST", "/recommendations", body), 400, f"'{field}'", shown)


def test_no_answer_ever_holds_nan_or_infinity(client):
    """Fuzzed feature vectors, inside and far outside the ranges: each answer 200 or 400, always strict JSON."""
    rng = np.random.default_rng(7)
    extremes = [0, -0.0, 1e-308, 5e-324, 1e308, -1e308, 1.7976931348623157e308, 10 ** 30, -(10 ** 30), 0.5, 1, 2]
    statuses = set()
    for _ in range(60):
        f = dict(GOOD_FEATURES)
        for name in rng.choice(list(checks.FEATURE_RANGES), size=rng.integers(1, 4), replace=False):
            f[str(name)] = extremes[rng.integers(len(extremes))] if rng.random() < 0.6 else float(rng.normal(0, 1e6))
        got, answer, _ = call(client, "POST", "/recommendations", json.dumps({"features": f}))
        statuses.add(got)
        assert got in (200, 400), answer
        if got == 200:
            assert all(np.isfinite(m["similarity_distance"]) for m in answer["movies"])
    assert statuses == {200, 400}   # the fuzz reached both sides


@pytest.mark.parametrize("query", ["limit=１２", "limit=1_0", "limit=+5", "limit=%205", "limit=5.0", "limit=1e1",
                                   "offset=٣", "year_min=1９99", "limit=" + "9" * 5000])
def test_numbers_are_ascii_digits_only(client, query):
    got, body, _ = call(client, "GET", "/movies?" + query)
    assert got == 400 and ("ASCII digits" in body["Message"] or "between" in body["Message"]), body
    assert len(body["Message"]) < 200


def test_cluster_ids_and_json_integers_are_strict(client):
    assert_error(call(client, "GET", "/clusters/１/movies"), 400, "cluster id")
    assert_error(call(client, "GET", "/clusters/-1/movies"), 400, "cluster id")
    for bad in ('"5"', "5.5", "true", "1e1"):
        body = '{"liked": ["tt0000001"], "limit": %s}' % bad
        assert_error(call(client, "POST", "/recommendations", body), 400, "'limit'", "JSON integer")


@pytest.mark.parametrize("q", ["%00", "matrix%00", "%1b%5b2J", "a%0ab", "%7f", "%c2%85"])
def test_control_characters_in_q_are_refused(client, q):
    assert_error(call(client, "GET", "/movies?q=" + q), 400, "'q'", "control character")


def test_blank_q_is_every_title_not_an_error(client, built):
    got, body, _ = call(client, "GET", "/movies?q=%20%20")
    assert got == 200 and body["total"] == len(built["frame"])


def test_error_messages_quote_only_a_clipped_piece(client, built):
    long_id = "tt" + "9" * 5000
    got, body, _ = call(client, "GET", f"/movies/{long_id}")
    assert got == 404 and "..." in body["Message"] and len(body["Message"]) < 160
    got, body, _ = call(client, "GET", "/movies?" + "&".join(f"p{i}{'x' * 500}=1" for i in range(20)))
    assert got == 400 and len(body["Message"]) < 600 and "and 15 more" in body["Message"]
    got, body, _ = call(client, "GET", "/movies?genre=" + "G" * 3000)
    assert got == 400 and "G" * 41 not in body["Message"]
    liked = json.dumps({"liked": ["x" * 600 + str(i) for i in range(100)]})
    got, body, _ = call(client, "POST", "/recommendations", liked)
    assert got == 404 and len(body["Message"]) < 400
    got, body, _ = call(client, "POST", "/recommendations", json.dumps({"liked": ["x"], "z" * 900: 1}))
    assert got == 400 and "z" * 41 not in body["Message"]


def test_bodies_too_large_not_utf8_or_empty(client):
    big = json.dumps({"liked": ["tt0000001"] * 10_000})
    assert len(big) > checks.MAX_BODY_BYTES
    assert_error(call(client, "POST", "/recommendations", big), 413, "at most")
    assert_error(call(client, "POST", "/recommendations", b'{"liked": ["\xff\xfe"]}'), 400, "not valid JSON")
    assert_error(call(client, "POST", "/recommendations", b""), 400, "JSON body")


def test_health_reveals_no_local_path(client, built, tmp_path):
    workdir = str(built["workdir"])
    got, body, _ = call(client, "GET", "/health")
    assert got == 200 and body["mode"] == "local" and workdir not in json.dumps(body)
    service.reset(config.Settings(workdir=tmp_path))   # nothing published there: the message names no path
    got, body, _ = call(client, "GET", "/health")
    assert body["status"] == "no table" and str(tmp_path) not in json.dumps(body) and "myflix run" in body["message"]


@pytest.mark.parametrize("method, path", [("GET", "/movies?limit=1"), ("GET", "/movies/nope"),
                                          ("POST", "/recommendations"), ("DELETE", "/movies")])
def test_every_answer_carries_the_security_headers(client, method, path):
    got, _, headers = call(client, method, path, "{}" if method == "POST" else None)
    assert got < 500
    for name, value in api_app.SECURITY_HEADERS.items():
        assert headers[name] == value
    assert headers["Content-Type"] == "application/json"
