"""The API through chalice.test.Client over a real model and table (local mode): every route, every error."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from chalice.test import Client
from test_api_data import FEATURES, build_workdir

import app as api_app
from chalicelib import config, service
from chalicelib.index import MovieIndex
from steps import schema


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return build_workdir(tmp_path_factory.mktemp("serve"), k=8)


def get(client, path):
    response = client.http.get(path)
    body = json.loads(response.body) if response.body else None
    return response.status_code, body


def post(client, path, payload, content_type="application/json"):
    body = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    response = client.http.post(path, headers={"Content-Type": content_type}, body=body)
    return response.status_code, json.loads(response.body) if response.body else None


def a_movie(built, title="The Matrix"):
    frame = built["frame"]
    return frame.loc[frame["title"] == title].iloc[0]


def test_default_names_agree_with_the_schema():
    assert (config.DEFAULT_DATABASE, config.DEFAULT_TABLE, config.DEFAULT_ENDPOINT) == (
        schema.GLUE_DATABASE, schema.GLUE_TABLE, schema.ENDPOINT_NAME)


def test_health_reports_the_loaded_table(client, built):
    status, body = get(client, "/health")
    assert status == 200 and body["status"] == "ok"
    assert body["movies"] == len(built["frame"]) and body["clusters"] == 8
    assert body["execution_id"] == "exec-0001" and body["location"] == built["location"]


def test_search_by_title_genre_and_years(client, built):
    status, body = get(client, "/movies?q=matrix")
    assert status == 200 and body["movies"][0]["title"] == "The Matrix"
    assert all("matrix" in m["title"].lower() for m in body["movies"])
    movie = body["movies"][0]
    assert set(movie) >= {"id", "title", "year", "runtime", "genres", "rating", "votes", "cluster", "distance"}
    status, body = get(client, "/movies?genre=Horror&year_min=1990&year_max=1999&limit=100")
    assert status == 200 and body["total"] > 0
    assert all("Horror" in m["genres"] and 1990 <= m["year"] <= 1999 for m in body["movies"])
    expected = ((built["frame"]["genres"].str.contains("Horror")) & built["frame"]["year"].between(1990, 1999)).sum()
    assert body["total"] == expected


def test_paging_and_sorting(client, built):
    _, first = get(client, "/movies?limit=5&offset=0")
    _, second = get(client, "/movies?limit=5&offset=5")
    assert first["total"] == len(built["frame"]) and len(first["movies"]) == 5
    assert not {m["id"] for m in first["movies"]} & {m["id"] for m in second["movies"]}
    votes = [m["votes"] for m in first["movies"] + second["movies"]]
    assert votes == sorted(votes, reverse=True) and votes[0] == built["frame"]["votes"].max()
    _, rated = get(client, "/movies?sort=rating&limit=10")
    ratings = [m["rating"] for m in rated["movies"]]
    assert ratings == sorted(ratings, reverse=True) and ratings[0] == built["frame"]["rating"].max()


def test_one_movie_and_unknown_ids(client, built):
    row = a_movie(built)
    status, body = get(client, f"/movies/{row.tconst}")
    assert status == 200 and body["title"] == "The Matrix" and body["cluster"] == int(row.cluster)
    assert get(client, "/movies/tt0000000")[0] == 404
    status, body = get(client, "/movies/tt0000000/similar")
    assert status == 404 and "tt0000000" in body["Message"]


def test_similar_movies_are_ranked_by_distance_in_the_scaled_space(client, built):
    row = a_movie(built)
    status, body = get(client, f"/movies/{row.tconst}/similar?limit=10&nprobe=1")
    assert status == 200 and len(body["similar"]) == 10
    similar = body["similar"]
    assert row.tconst not in {m["id"] for m in similar}
    assert all(m["cluster"] == int(row.cluster) for m in similar)   # nprobe=1: the movie's own cluster
    d = [m["similarity_distance"] for m in similar]
    assert d == sorted(d)
    # exact check against brute force within the cluster
    frame = built["frame"]
    same = frame[frame["cluster"] == row.cluster]
    emb = np.stack(same["embedding"].to_numpy())
    dist = np.linalg.norm(emb - np.asarray(row.embedding), axis=1)
    expected = same["tconst"].to_numpy()[np.argsort(dist)][1:11]
    assert [m["id"] for m in similar][:5] == list(expected[:5])
    _, wide = get(client, f"/movies/{row.tconst}/similar?limit=10&nprobe=8")
    assert wide["similar"][0]["similarity_distance"] <= similar[0]["similarity_distance"] + 1e-6


def test_clusters_and_their_movies(client, built):
    status, body = get(client, "/clusters")
    assert status == 200 and body["k"] == 8
    assert sum(c["size"] for c in body["clusters"]) == len(built["frame"])
    assert all(c["top_genres"] and c["examples"] for c in body["clusters"])
    cid = body["clusters"][0]["cluster"]
    status, page = get(client, f"/clusters/{cid}/movies?limit=7&sort=distance")
    assert status == 200 and len(page["movies"]) == 7 and all(m["cluster"] == cid for m in page["movies"])
    dist = [m["distance"] for m in page["movies"]]
    assert dist == sorted(dist)
    assert get(client, "/clusters/99/movies")[0] == 404
    assert get(client, "/clusters/abc/movies")[0] == 400


@pytest.mark.parametrize("path, words", [
    ("/movies?limit=0", "'limit'"),
    ("/movies?limit=abc", "'limit'"),
    ("/movies?limit=1000", "'limit'"),
    ("/movies?offset=-1", "'offset'"),
    ("/movies?genre=Cartoons", "unknown genre"),
    ("/movies?year_min=nineteen", "'year_min'"),
    ("/movies?sort=best", "unknown sort"),
    ("/movies?colour=red", "unknown query parameter"),
    ("/movies?q=" + "x" * 300, "'q'"),
])
def test_bad_query_parameters_are_400_with_a_message(client, path, words):
    status, body = get(client, path)
    assert status == 400, body
    assert words in body["Message"]


def test_an_empty_year_range_matches_nothing(client):
    status, body = get(client, "/movies?year_min=2000&year_max=1990")
    assert status == 200 and body["total"] == 0 and body["movies"] == []


def test_an_empty_value_means_not_given(client, built):
    status, body = get(client, "/movies?q=&genre=&limit=&offset=&sort=&year_min=")
    assert status == 200 and body["total"] == len(built["frame"]) and body["limit"] == 20


def test_bad_similar_parameters(client, built):
    tconst = a_movie(built).tconst
    for query in ("nprobe=0", "nprobe=x", "limit=-3", "nprobe=1000"):
        status, body = get(client, f"/movies/{tconst}/similar?{query}")
        assert status == 400 and body["Message"], query


def test_recommendations_from_liked_movies(client, built):
    frame = built["frame"]
    liked = [a_movie(built).tconst, a_movie(built, "Broken Arrow").tconst]
    status, body = post(client, "/recommendations", {"liked": liked, "limit": 12})
    assert status == 200 and body["based_on"] == "liked" and len(body["movies"]) == 12
    assert not set(liked) & {m["id"] for m in body["movies"]}
    assert [m["id"] for m in body["liked"]] == liked
    # several likes keep several tastes: each like's own neighbours, interleaved, each with its reason
    # (the served hybrid, chalicelib/hybrid.py, with no collaborative model: content per like)
    assert sorted(m["reason"]["because"] for m in body["movies"][:4]) == sorted(liked * 2)
    titles = dict(zip(frame["tconst"], frame["title"]))
    for m in body["movies"]:
        assert m["reason"] == {"kind": "content", "because": m["reason"]["because"],
                               "text": f"Similar in genre and era to {titles[m['reason']['because']]}"}
        query = np.asarray(frame.set_index("tconst").loc[m["reason"]["because"], "embedding"])
        emb = np.asarray(frame.set_index("tconst").loc[m["id"], "embedding"])
        assert np.isclose(np.linalg.norm(emb - query), m["similarity_distance"], atol=1e-3)
    # a film near both likes is voted for by both (the hybrid's sum), so it leads that like's list:
    # the first film of each like is near it (within its cluster's nearest, what /similar ranks)
    for tconst in liked:
        _, similar = get(client, f"/movies/{tconst}/similar?limit=100")
        first = next(m for m in body["movies"] if m["reason"]["because"] == tconst)
        assert first["id"] in {s["id"] for s in similar["similar"]}


def test_recommendations_from_features_go_through_the_model(client, built):
    features = {"startYear": 1999, "runtimeMinutes": 136, "genres": ["Action"], "averageRating": 8.7,
                "numVotes": 1_500_000}
    status, body = post(client, "/recommendations", {"features": features})
    assert status == 200 and body["based_on"] == "features"
    X = np.array([[features.get(f, 0) for f in FEATURES]], dtype=float)
    X[0, FEATURES.index("Action")] = 1
    assert body["cluster"] == int(built["model"].predict(X)[0])
    assert len(body["movies"]) == 20
    assert all(m["reason"]["kind"] == "content" and m["reason"]["because"] is None for m in body["movies"])


@pytest.mark.parametrize("payload, status, words", [
    ({}, 400, "exactly one"),
    ({"liked": [], "features": {}}, 400, "exactly one"),
    ({"liked": "tt1"}, 400, "'liked'"),
    ({"liked": [1, 2]}, 400, "'liked'"),
    ({"liked": ["tt0000000"]}, 404, "tt0000000"),
    ({"liked": ["x"], "colour": 1}, 400, "unknown field"),
    ({"features": "fast"}, 400, "'features'"),
    ({"features": {"startYear": 1999}}, 400, "runtimeMinutes"),
    ({"features": {"startYear": "soon", "runtimeMinutes": 90, "genres": [], "averageRating": 7, "numVotes": 10}},
     400, "startYear"),
    ({"features": {"startYear": 1999, "runtimeMinutes": 90, "genres": ["Cartoon"], "averageRating": 7,
                   "numVotes": 10}}, 400, "Cartoon"),
    ({"features": {"startYear": 1999, "runtimeMinutes": 90, "genres": [], "averageRating": 7, "numVotes": 10,
                   "budget": 5}}, 400, "budget"),
    ([1, 2], 400, "JSON object"),
    ({"liked": ["x"], "limit": 0}, 400, "'limit'"),
])
def test_bad_recommendation_requests(client, built, payload, status, words):
    got, body = post(client, "/recommendations", payload)
    assert got == status, body
    assert words in body["Message"]


def test_malformed_json_and_wrong_content_type_are_4xx(client):
    status, body = post(client, "/recommendations", "{not json")
    assert status == 400 and body["Message"]
    status, body = post(client, "/recommendations", "liked=tt1", content_type="application/x-www-form-urlencoded")
    assert status == 415
    assert client.http.get("/nowhere").status_code in (403, 404)   # API Gateway's: see tests/serving/test_serve_http.py
    assert client.http.request("DELETE", "/movies", headers={}, body=b"").status_code == 405


def test_nan_and_infinite_features_are_400(client):
    for bad in ("NaN", "Infinity"):
        body = ('{"features": {"startYear": %s, "runtimeMinutes": 90, "genres": [], "averageRating": 7, '
                '"numVotes": 10}}' % bad)
        status, answer = post(client, "/recommendations", body)
        assert status == 400 and "startYear" in answer["Message"], answer


def test_openapi_describes_every_route(client):
    status, doc = get(client, "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.")
    routes = {path.replace("{movie_id}", "{id}").replace("{cluster_id}", "{id}")
              for path in api_app.app.routes}
    assert routes == set(doc["paths"])
    for path, methods in api_app.app.routes.items():
        documented = doc["paths"][path.replace("{movie_id}", "{id}").replace("{cluster_id}", "{id}")]
        assert {m.lower() for m in methods} == set(documented)


def test_cors_headers_for_the_ui(client, built):
    response = client.http.get("/movies?limit=1", headers={"Origin": "http://localhost:9999"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    response = client.http.get("/movies/tt0000000")
    assert response.status_code == 404 and response.headers["Access-Control-Allow-Origin"] == "*"


def test_an_unexpected_error_is_never_a_500(client, monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("index exploded")
    monkeypatch.setattr(MovieIndex, "filter_rows", broken)
    status, body = get(client, "/movies?q=a")
    assert status == 503 and "unexpected error" in body["Message"]


def test_missing_table_is_a_clear_503(tmp_path):
    service.reset(config.Settings(workdir=tmp_path))
    with Client(api_app.app) as c:
        status, body = get(c, "/movies")
        assert status == 503 and "myflix run" in body["Message"]
        status, body = get(c, "/health")
        assert status == 200 and body["status"] == "no table"


def test_table_is_reloaded_at_once_when_its_location_moves(built, tmp_path):
    import shutil

    from test_api_data import write_table

    work = tmp_path / "w"
    shutil.copytree(built["workdir"], work)
    clock = [0.0]
    svc = service.reset(config.Settings(workdir=work, reload_seconds=30))
    svc.clock = lambda: clock[0]
    with Client(api_app.app) as c:
        assert get(c, "/health")[1]["movies"] == len(built["frame"])
        smaller = built["frame"].iloc[:100]
        write_table(smaller, work, "exec-0002", FEATURES, 8)
        clock[0] = 10.0   # within reload_seconds, but the catalog file was replaced: a release, seen at once
        body = get(c, "/health")[1]
        assert body["movies"] == 100 and body["execution_id"] == "exec-0002"
        assert svc.loads == 2
        clock[0] = 62.0   # same location: no reload
        get(c, "/health")
        assert svc.loads == 2


def test_malformed_rows_are_counted_and_reported_not_served(built, tmp_path):
    import shutil

    from test_api_data import write_table

    work = tmp_path / "w"
    shutil.copytree(built["workdir"], work)
    frame = built["frame"].iloc[:40].copy()
    frame.at[frame.index[0], "embedding"] = np.array([1.0, 2.0, 3.0])          # wrong length
    frame.at[frame.index[1], "embedding"] = np.full(26, np.nan)               # not finite
    frame = pd.concat([frame, frame.iloc[[5]]], ignore_index=True)             # a duplicate id
    write_table(frame, work, "exec-bad", FEATURES, 8)
    service.reset(config.Settings(workdir=work))
    with Client(api_app.app) as c:
        body = get(c, "/health")[1]
        assert body["movies"] == 38
        assert body["skipped_rows"] == {"embedding missing, of the wrong length or not finite": 2,
                                        "duplicate tconst": 1}
        assert get(c, f"/movies/{frame.iloc[0].tconst}")[0] == 404


def test_cors_preflight_for_posting_recommendations(built):
    from chalice.config import Config
    from chalice.local import LocalGateway

    service.reset(config.Settings(workdir=built["workdir"]))
    gateway = LocalGateway(api_app.app, Config.create(lambda_timeout=30))
    response = gateway.handle_request("OPTIONS", "/recommendations", {
        "origin": "http://localhost:9999", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type"}, b"")
    assert response["statusCode"] == 200
    headers = {k.lower(): v for k, v in response["headers"].items()}
    assert headers["access-control-allow-origin"] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    assert "Content-Type" in headers["access-control-allow-headers"]
