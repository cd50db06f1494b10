"""The API serves the hybrid: a real collaborative model (steps/recommender.py, fit on simulated viewers
with two tastes) published beside the table the way Publish does, read with its digest checked, and
answered through chalicelib/hybrid.py with a reason per item. The viewers here are simulated: these
tests check what is served and why, never how good it is.
"""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from test_api_data import BUCKET, FEATURES, PACKAGE_ARN, TABLE_COLUMNS, build_workdir, local_root

from chalicelib import config
from steps import aws_io, publish, recommender, schema

VIEWERS_PER_TASTE = 60


def publish_with_recommender(built: dict, execution: str, model_dir) -> str:
    """The table under a new prefix with the recommender's two files beside it and the parameter naming
    them (steps/publish.py's order: files first, then the table pointed there)."""
    workdir, frame = built["workdir"], built["frame"]
    location = f"s3://{BUCKET}/{schema.TABLE_PREFIX}/{execution}/"
    with local_root(workdir):
        aws_io.write_parquet_dataset(frame[TABLE_COLUMNS], location, dict(publish.TABLE_COLUMNS))
        parameters = publish.table_parameters(FEATURES, built["k"], execution, PACKAGE_ARN)
        if model_dir is not None:
            files, _ = publish.recommender_files(str(model_dir))
            for name, local in files.items():
                aws_io.put_file(local, location + name, None)
            parameters[schema.TABLE_RECOMMENDER_PARAMETER] = schema.TABLE_RECOMMENDER_NPZ
        aws_io.point_table(schema.GLUE_DATABASE, schema.GLUE_TABLE, location, publish.TABLE_COLUMNS,
                           parameters)
    return location


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A table of real films, and viewers of two tastes: horror fans and romance fans (simulated)."""
    work = tmp_path_factory.mktemp("hybrid")
    built = build_workdir(work, k=5)
    frame = built["frame"].sort_values("votes", ascending=False)
    horror = frame.loc[frame["genres"].str.contains("Horror"), "tconst"].head(25).tolist()
    family = frame.loc[frame["genres"].str.contains("Romance"), "tconst"].head(25).tolist()
    family = [t for t in family if t not in horror]
    rng = np.random.default_rng(5)
    rows = []
    for taste, films in (("horror", horror), ("family", family)):
        for v in range(VIEWERS_PER_TASTE):
            for t in rng.choice(films, size=10, replace=False):
                rows.append({"viewer_id": f"sim-{taste}-{v:03d}", "tconst": t, "weight": 1.0})
    model = recommender.Recommender(method="itemknn", neighbours=20).fit(pd.DataFrame(rows))
    model_dir = work / "build" / "recommender"
    recommender.save(model, model_dir, simulated=True)
    location = publish_with_recommender(built, "exec-0002", model_dir)
    cold = built["frame"].loc[~built["frame"]["tconst"].isin(horror + family)].iloc[0]
    return {**built, "horror": horror, "family": family, "location": location, "model_dir": model_dir,
            "cold": cold.tconst, "interactions": len(rows)}


def get(client, path):
    response = client.http.get(path)
    return response.status_code, json.loads(response.body)


def post(client, payload):
    response = client.http.post("/recommendations", headers={"Content-Type": "application/json"},
                                body=json.dumps(payload))
    return response.status_code, json.loads(response.body)


def title(built, tconst):
    return built["frame"].set_index("tconst").loc[tconst, "title"]


def test_health_says_which_recommender_is_served_and_that_its_viewers_are_simulated(client, built):
    status, body = get(client, "/health")
    assert status == 200 and body["location"] == built["location"]
    assert body["recommender"] == {"kind": "itemknn", "simulated": True, "viewers": 2 * VIEWERS_PER_TASTE,
                                   "films": len(set(built["horror"] + built["family"])),
                                   "interactions": built["interactions"]}


def test_similar_movies_of_a_film_with_interactions_are_its_co_liked_films(client, built):
    film = built["horror"][0]
    status, body = get(client, f"/movies/{film}/similar?limit=10")
    assert status == 200 and len(body["similar"]) == 10
    assert all(m["reason"] == {"kind": "collaborative", "because": film,
                               "text": f"Viewers who liked {title(built, film)} also liked this"}
               for m in body["similar"])
    assert {m["id"] for m in body["similar"]} <= set(built["horror"]) - {film}   # the fans' films only
    scores = [m["score"] for m in body["similar"]]
    assert scores == sorted(scores, reverse=True) and all("similarity_distance" in m for m in body["similar"])


def test_similar_movies_of_a_film_nobody_watched_come_from_the_content_model(client, built):
    film = built["cold"]
    status, body = get(client, f"/movies/{film}/similar?limit=10&nprobe=1")
    assert status == 200 and len(body["similar"]) == 10
    assert all(m["reason"]["kind"] == "content" and m["reason"]["because"] == film for m in body["similar"])
    assert body["similar"][0]["reason"]["text"] == f"Similar in genre and era to {title(built, film)}"
    d = [m["similarity_distance"] for m in body["similar"]]
    assert d == sorted(d)                           # the content neighbours, nearest first


def test_a_known_viewer_gets_their_taste_without_what_they_already_saw(client, built):
    viewer = "sim-horror-007"
    status, body = post(client, {"viewer": viewer, "limit": 5})
    assert status == 200 and body["based_on"] == "viewer"
    assert body["viewer"] == {"id": viewer, "known": True, "history": 10}
    arrays, _ = recommender.load(built["model_dir"])
    v = int(np.searchsorted(arrays["viewers"], viewer))                 # the viewer's CSR slice
    a, z = arrays["viewer_indptr"][v], arrays["viewer_indptr"][v + 1]
    seen = set(arrays["items"][arrays["viewer_items"][a:z]])
    assert len(seen) == 10
    ids = [m["id"] for m in body["movies"]]
    assert len(ids) == 5 and not set(ids) & seen
    assert set(ids) <= set(built["horror"])
    assert all(m["reason"]["kind"] == "collaborative" and m["reason"]["because"] in seen
               for m in body["movies"])
    assert post(client, {"viewer": viewer, "limit": 100})[0] == 200
    status, body = post(client, {"viewer": viewer, "limit": 101})
    assert status == 400 and "limit" in body["Message"]


def test_an_unknown_viewer_gets_the_cold_start_answer_never_a_404(client, built):
    status, body = post(client, {"viewer": "never-seen-viewer", "limit": 8})
    assert status == 200 and body["viewer"] == {"id": "never-seen-viewer", "known": False, "history": 0}
    assert len(body["movies"]) == 8
    assert all(m["reason"] == {"kind": "popular", "because": None, "text": "Popular with MyFlix viewers"}
               for m in body["movies"])
    # a session's likes fold in: an unknown viewer with likes gets those tastes
    status, body = post(client, {"viewer": "never-seen-viewer", "liked": [built["family"][0]], "limit": 5})
    assert status == 200 and body["movies"][0]["reason"]["because"] == built["family"][0]
    for bad in ("", "a b", "x" * 65, 12):
        status, answer = post(client, {"viewer": bad})
        assert status == 400 and "viewer" in answer["Message"], bad


def test_several_likes_keep_several_tastes(client, built):
    liked = [built["horror"][0], built["family"][0]]
    status, body = post(client, {"liked": liked, "limit": 10})
    assert status == 200 and body["based_on"] == "liked"
    because = [m["reason"]["because"] for m in body["movies"]]
    assert set(because[:4]) == set(liked)                   # both tastes near the top, not one averaged
    horror = [m["id"] for m in body["movies"] if m["reason"]["because"] == liked[0]]
    family = [m["id"] for m in body["movies"] if m["reason"]["because"] == liked[1]]
    assert set(horror) <= set(built["horror"]) and set(family) <= set(built["family"])


def test_an_altered_artefact_is_refused_and_content_answers_go_on(client, built, tmp_path):
    altered = tmp_path / "recommender"
    shutil.copytree(built["model_dir"], altered)
    data = bytearray((altered / schema.RECOMMENDER_NPZ).read_bytes())
    data[-10] ^= 0xFF
    (altered / schema.RECOMMENDER_NPZ).write_bytes(bytes(data))
    meta = json.loads((altered / schema.RECOMMENDER_JSON).read_text())
    location = f"s3://{BUCKET}/{schema.TABLE_PREFIX}/exec-0003/"
    with local_root(built["workdir"]):
        aws_io.write_parquet_dataset(built["frame"][TABLE_COLUMNS], location, dict(publish.TABLE_COLUMNS))
        for name, source in ((schema.TABLE_RECOMMENDER_NPZ, altered / schema.RECOMMENDER_NPZ),
                             (schema.TABLE_RECOMMENDER_JSON, altered / schema.RECOMMENDER_JSON)):
            aws_io.put_file(source, location + name, None)
        parameters = {**publish.table_parameters(FEATURES, built["k"], "exec-0003", PACKAGE_ARN),
                      schema.TABLE_RECOMMENDER_PARAMETER: schema.TABLE_RECOMMENDER_NPZ}
        aws_io.point_table(schema.GLUE_DATABASE, schema.GLUE_TABLE, location, publish.TABLE_COLUMNS,
                           parameters)
    try:
        status, body = get(client, "/health")
        assert body["location"] == location and body["recommender"]["kind"] == "none"
        assert "digest" in body["recommender"]["reason"] and str(built["workdir"]) not in json.dumps(body)
        assert meta["kind"] == "itemknn"
        status, body = get(client, f"/movies/{built['horror'][0]}/similar?limit=5")
        assert status == 200 and {m["reason"]["kind"] for m in body["similar"]} == {"content"}
        # the next release moves the table and its model together again
        publish_with_recommender(built, "exec-0004", built["model_dir"])
        assert get(client, "/health")[1]["recommender"]["kind"] == "itemknn"
    finally:
        publish_with_recommender(built, "exec-0005", built["model_dir"])


def test_a_table_without_a_recommender_serves_content_and_popularity(client, built):
    publish_with_recommender(built, "exec-0006", None)
    try:
        status, body = get(client, "/health")
        reason = "the table names no recommender: content and popularity only"
        assert body["recommender"] == {"kind": "none", "reason": reason}
        status, body = post(client, {"viewer": "sim-horror-007", "limit": 5})
        assert status == 200 and body["viewer"]["known"] is False
        assert {m["reason"]["kind"] for m in body["movies"]} == {"popular"}
    finally:
        publish_with_recommender(built, "exec-0007", built["model_dir"])


def test_npz_arrays_reads_what_numpy_writes_without_pickles(tmp_path):
    import io

    from chalicelib import tables
    arrays = {"items": np.array(["tt0000001", "tt0000002"]), "scores": np.arange(7, dtype=np.float32),
              "neighbours": np.arange(12, dtype=np.int32).reshape(3, 4), "fortran": np.asfortranarray(
                  np.arange(6, dtype=np.int64).reshape(2, 3)), "empty": np.zeros((0, 0), dtype=np.int32)}
    for save in (np.savez, np.savez_compressed):
        buffer = io.BytesIO()
        save(buffer, **arrays)
        for data in (buffer.getvalue(), bytearray(buffer.getvalue())):   # S3 parts land in a bytearray
            got = tables.npz_arrays(data)
            assert set(got) == set(arrays)
            for name, value in arrays.items():
                assert got[name].dtype == value.dtype and np.array_equal(got[name], value), name
    buffer = io.BytesIO()
    np.savez(buffer, objects=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ValueError, match="objects|pickle"):
        tables.npz_arrays(buffer.getvalue())


def test_on_s3_a_large_artefact_is_read_in_ranged_parts(built, monkeypatch, aws_credentials):
    """Under moto: the recommender beside a table on S3, read in parallel ranged GETs (parts made tiny
    here), digest-checked, and the same hybrid as from the local stand-in."""
    import boto3
    from moto import mock_aws

    from chalicelib import tables
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setattr(tables, "PART_BYTES", 4096)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="myflix-hybrid-test")
        for name in (schema.RECOMMENDER_NPZ, schema.RECOMMENDER_JSON):
            table_name = (schema.TABLE_RECOMMENDER_NPZ if name.endswith(".npz")
                          else schema.TABLE_RECOMMENDER_JSON)
            s3.put_object(Bucket="myflix-hybrid-test", Key=f"tables/movie_clusters/e1/{table_name}",
                          Body=(built["model_dir"] / name).read_bytes())
        ref = tables.TableRef("s3://myflix-hybrid-test/tables/movie_clusters/e1/",
                              {schema.TABLE_RECOMMENDER_PARAMETER: schema.TABLE_RECOMMENDER_NPZ})
        settings = config.Settings(region="us-east-1")
        import botocore.client
        gets = []
        original = botocore.client.BaseClient._make_api_call

        def record(self, operation, params):
            if operation == "GetObject":
                gets.append(params.get("Range"))
            return original(self, operation, params)
        monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
        artefact = tables.read_recommender(ref, settings, popular=[])
    assert artefact.collaborative, artefact.reason
    size = (built["model_dir"] / schema.RECOMMENDER_NPZ).stat().st_size
    assert sum(1 for r in gets if r) >= size // 4096                 # the npz came in parts
    film = built["horror"][0]
    local = tables.read_recommender(tables.TableRef(built["location"], {
        schema.TABLE_RECOMMENDER_PARAMETER: schema.TABLE_RECOMMENDER_NPZ}),
        config.Settings(workdir=built["workdir"]), popular=[])
    assert ([p.tconst for p in artefact.hybrid.similar(film, 10)]
            == [p.tconst for p in local.hybrid.similar(film, 10)])
