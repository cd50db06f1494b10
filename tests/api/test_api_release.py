"""A release is atomic from the API's point of view (issue 21, items 1, 3, 10).

The model artefact knows its own digest (model.json's sha256 of model.joblib); the endpoint's
answer carries it (`model_sha256`), Publish records it as the table parameter
`myflix_model_sha256`, and the API refuses (503 `ModelMismatch`) any features answer whose model
is not the table's, per request, whatever the reload interval. /health reads the pair afresh.
A table with a huge title loads (no fixed-width string array) and a huge JSON integer is a 400.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from chalice.test import Client
from test_api_data import BUCKET, EXECUTION, FEATURES, PACKAGE_ARN, build_workdir, fit_model, local_root, write_model

import app as api_app
from chalicelib import config, pairing, service
from inference import inference
from steps import artifacts, publish, schema

V2 = "arn:aws:sagemaker:us-east-1:000000000000:model-package/myflix-movie-clusters/2"
QUERY = {"startYear": 1999, "runtimeMinutes": 136, "genres": ["Action", "Sci-Fi"],
         "averageRating": 8.7, "numVotes": 2000000}


def call(method, path, payload=None, raw=None):
    with Client(api_app.app) as c:
        if method == "GET":
            response = c.http.get(path)
        else:
            body = raw if raw is not None else json.dumps(payload)
            response = c.http.post(path, headers={"Content-Type": "application/json"}, body=body)
    return response.status_code, json.loads(response.body)


def endpoint_record(workdir):
    return workdir / "endpoints" / f"{schema.ENDPOINT_NAME}.json"


def republish_with_digest(built) -> str:
    """The table as Publish now writes it: its parameters carry the model's digest."""
    meta = json.loads((built["model_dir"] / schema.MODEL_JSON).read_text())
    digest = meta["sha256"][schema.MODEL_JOBLIB]
    from steps import aws_io
    with local_root(built["workdir"]):
        aws_io.point_table(schema.GLUE_DATABASE, schema.GLUE_TABLE, built["location"], publish.TABLE_COLUMNS,
                           publish.table_parameters(FEATURES, built["k"], EXECUTION, PACKAGE_ARN,
                                                    model_sha256=digest))
    return digest


@pytest.fixture()
def built(tmp_path):
    built = build_workdir(tmp_path, k=6)
    record = json.loads(endpoint_record(tmp_path).read_text())
    record["Tags"] = {pairing.PACKAGE_TAG: PACKAGE_ARN}
    endpoint_record(tmp_path).write_text(json.dumps(record))
    return built


def test_the_model_answer_carries_its_digest(built):
    model = inference.model_fn(str(built["model_dir"]))
    answer = inference.respond(model, json.dumps(QUERY)).json()
    meta = json.loads((built["model_dir"] / schema.MODEL_JSON).read_text())
    assert answer["model_sha256"] == meta["sha256"][schema.MODEL_JOBLIB]


def test_publish_records_the_models_digest_as_a_table_parameter():
    params = publish.table_parameters(FEATURES, 6, "e", PACKAGE_ARN, model_sha256="ab" * 32)
    assert params["myflix_model_sha256"] == "ab" * 32


def test_a_new_model_over_the_old_table_is_refused_at_once_whatever_the_reload_interval(built, tmp_path):
    digest = republish_with_digest(built)
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=3600))
    status, body = call("POST", "/recommendations", {"features": QUERY})
    assert status == 200, body
    status, health = call("GET", "/health")
    assert health["pair"]["in_step"] is True and health["pair"]["table_model_sha256"] == digest

    # the deployer moved the endpoint to a k=12 model of another package; the table has not moved yet
    other = fit_model(built["X"], 12, seed=7)
    (tmp_path / "v2").mkdir()
    _, url = write_model(other, tmp_path / "v2", 12)
    moved = (tmp_path / "v2" / "s3" / BUCKET).rglob("*.tar.gz").__next__()
    target = tmp_path / "s3" / BUCKET / "models" / "v2" / schema.MODEL_TARBALL
    target.parent.mkdir(parents=True)
    target.write_bytes(moved.read_bytes())
    record = json.loads(endpoint_record(tmp_path).read_text())
    record.update(ModelDataUrl=f"s3://{BUCKET}/models/v2/{schema.MODEL_TARBALL}", ModelPackageArn=V2,
                  Tags={pairing.PACKAGE_TAG: V2})
    endpoint_record(tmp_path).write_text(json.dumps(record))

    status, body = call("POST", "/recommendations", {"features": QUERY})
    assert status == 503 and body["Code"] == "ModelMismatch", body
    status, health = call("GET", "/health")        # the truth, not a cached pair
    assert health["pair"]["in_step"] is False and health["pair"]["endpoint_model_package_arn"] == V2
    # the table's own routes go on
    assert call("GET", "/clusters")[0] == 200


def test_a_model_swapped_under_the_same_package_tag_is_refused(built, tmp_path):
    # The tag says the right package, but the artefact served is another model: only the digest
    # in the answer can tell, and it does.
    republish_with_digest(built)
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=0))
    other = fit_model(built["X"], 9, seed=3)
    (tmp_path / "v3").mkdir()
    write_model(other, tmp_path / "v3", 9)
    moved = next((tmp_path / "v3" / "s3" / BUCKET).rglob("*.tar.gz"))
    target = tmp_path / "s3" / BUCKET / "models" / "v3" / schema.MODEL_TARBALL
    target.parent.mkdir(parents=True)
    target.write_bytes(moved.read_bytes())
    record = json.loads(endpoint_record(tmp_path).read_text())
    record["ModelDataUrl"] = f"s3://{BUCKET}/models/v3/{schema.MODEL_TARBALL}"
    endpoint_record(tmp_path).write_text(json.dumps(record))
    status, body = call("POST", "/recommendations", {"features": QUERY})
    assert status == 503 and body["Code"] == "ModelMismatch" and "digest" in body["Message"]


def test_the_page_follows_a_new_table_at_once_locally(built, tmp_path):
    # the local catalog file is looked at on every request (a stat): a release shows at once
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=3600))
    assert call("GET", "/health")[1]["execution_id"] == EXECUTION
    frame = built["frame"].head(50)
    from test_api_data import write_table
    write_table(frame, tmp_path, "exec-0002", FEATURES, built["k"])
    status, health = call("GET", "/health")
    assert health["execution_id"] == "exec-0002" and health["movies"] == 50


def test_a_huge_title_loads_without_a_fixed_width_array(built, tmp_path):
    frame = built["frame"].copy()
    frame.loc[frame.index[0], "title"] = "x" * (1 << 20)     # 1 MiB
    from test_api_data import write_table
    write_table(frame, tmp_path, "exec-huge", FEATURES, built["k"])
    svc = service.reset(config.Settings(workdir=built["workdir"], reload_seconds=0))
    index = svc.index()
    assert index.titles_lower.dtype.kind != "U"      # a 'U' array would be n x 1 MiB x 4 bytes
    assert index.titles_lower.nbytes < 64 * len(index)
    assert call("GET", "/movies?q=" + "x" * 200 + "&limit=1")[1]["total"] == 1


def test_health_says_degraded_while_it_keeps_an_old_table(built, tmp_path):
    svc = service.reset(config.Settings(workdir=built["workdir"], reload_seconds=0))
    assert svc.health()["status"] == "ok"
    catalog = tmp_path / "catalog" / schema.GLUE_DATABASE / f"{schema.GLUE_TABLE}.json"
    entry = json.loads(catalog.read_text())
    entry["StorageDescriptor"]["Location"] = f"s3://{BUCKET}/{schema.TABLE_PREFIX}/nothing-here/"
    catalog.write_text(json.dumps(entry))
    health = svc.health()
    assert health["status"] == "degraded" and health["catalog_error"]


@pytest.mark.parametrize("value", ["1" + "0" * 400, "-" + "9" * 4000])
def test_a_huge_json_integer_in_features_is_a_400(built, value):
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=3600))
    raw = '{"features": {"startYear": %s, "runtimeMinutes": 100, "genres": ["Drama"], ' \
          '"averageRating": 7, "numVotes": 1000}}' % value
    status, body = call("POST", "/recommendations", raw=raw)
    assert status == 400 and "startYear" in body["Message"], body


def test_the_model_handler_answers_400_for_huge_integers_and_deep_nesting(built):
    model = inference.model_fn(str(built["model_dir"]))
    huge = json.dumps({**{k: v for k, v in QUERY.items()}, "numVotes": 10 ** 400})
    answer = inference.respond(model, huge)
    assert answer.status == 400 and answer.json()["field"] == "numVotes"
    deep = "[" * 100_000 + "]" * 100_000
    assert inference.respond(model, deep).status == 400
    assert inference.respond(model, '{"a":' * 50_000 + "1" + "}" * 50_000).status == 400


def test_artifacts_save_model_digest_is_what_the_handler_reports(built):
    _, meta = artifacts.load_model(built["model_dir"])
    model = inference.model_fn(str(built["model_dir"]))
    assert model.digest == meta["sha256"][schema.MODEL_JOBLIB]
    assert np.isfinite(model.centers).all()


def test_genres_that_are_not_imdbs_never_reach_health_the_openapi_enum_or_a_movie(built, tmp_path):
    frame = built["frame"].copy()
    frame.loc[frame.index[0], "genres"] = "Drama,<img src=x onerror=alert(1)>"
    from test_api_data import write_table
    write_table(frame, tmp_path, "exec-genres", FEATURES, built["k"])
    service.reset(config.Settings(workdir=built["workdir"], reload_seconds=0))
    _, health = call("GET", "/health")
    assert all("<" not in g for g in health["genres"]) and "Drama" in health["genres"]
    assert sum(health["skipped_rows"].values()) == 1
    _, document = call("GET", "/openapi.json")
    assert "<img" not in json.dumps(document)
    _, movie = call("GET", f"/movies/{frame.iloc[0]['tconst']}")
    assert "<img" not in json.dumps(movie) and "Drama" in json.dumps(movie)
