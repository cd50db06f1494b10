"""The Studio page's WSGI app (pipeline/studio) over a REAL local run: the real definition, the
local runner, the vega movies in IMDb's format, small k. Two executions: one that passes the gate
and one whose gate fails (its steps come from the cache). The app is called directly, as waitress
would call it; the approve test goes through the very deployer `myflix registry approve` uses.
"""
from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path
from wsgiref.util import setup_testing_defaults

import pytest

import reports
from local_aws import registry
from local_runner import executions
from steps import schema

BUCKET = "myflix-local"
SMALL = {"k_min": "2", "k_max": "6", "silhouette_sample": "800", "recall_queries": "60",
         "model_approval_status": "PendingManualApproval",
         "min_silhouette": "-1", "min_recall_at_k": "0", "max_cluster_share": "1"}
pytestmark = pytest.mark.slow   # one real pipeline run (each step a subprocess), then a cached one


def build_studio_workdir(work: Path) -> dict[str, str]:
    """A work folder with two real executions: {"passed": id, "failed": id} (the failed one newest)."""
    from imdb_fixtures import write_vega_imdb  # tests/ is on sys.path under pytest
    from local_aws.store import LocalStore
    from local_runner.progress import Progress
    from local_runner.runner import LocalRunner
    from operations.local_run import upload_bundle
    from pipeline.code_bundle import build_bundle
    from pipeline.definition import definition_json

    store = LocalStore(work)
    basics, ratings = write_vega_imdb(store.path_for(f"s3://{BUCKET}/raw/"))
    bundle = build_bundle()
    upload_bundle(work, bundle)
    definition = definition_json("us-east-1", "arn:aws:iam::000000000000:role/myflix-local", BUCKET, bundle=bundle)
    params = dict(SMALL, basics_uri=store.uri_for(Path(basics)), ratings_uri=store.uri_for(Path(ratings)))
    runner = LocalRunner(work, pipeline_name=schema.PIPELINE_NAME, progress=Progress(quiet=True),
                         after_output=reports.render)
    passed = runner.run(definition, params)
    assert passed["PipelineExecutionStatus"] == "Succeeded", passed["FailureReason"]
    failed = runner.run(definition, dict(params, min_silhouette="2"))
    assert failed["PipelineExecutionStatus"] == "Failed"
    return {"passed": passed["PipelineExecutionId"], "failed": failed["PipelineExecutionId"]}


@pytest.fixture(scope="module")
def studio_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("studio")
    return work, build_studio_workdir(work)


@pytest.fixture(scope="module")
def app(studio_run):
    from studio import make_app
    return make_app(studio_run[0])


def call(app, path: str, method: str = "GET", body: bytes = b"", headers: dict | None = None):
    """One request through the WSGI app: (status code, headers, body bytes)."""
    environ: dict = {"REQUEST_METHOD": method, "PATH_INFO": path, "HTTP_HOST": "127.0.0.1:8000",
                     "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "wsgi.input": io.BytesIO(body),
                     "CONTENT_LENGTH": str(len(body))}
    for key, value in (headers or {}).items():
        name = key.upper().replace("-", "_")
        environ[name if name in ("CONTENT_TYPE",) else "HTTP_" + name] = value
    setup_testing_defaults(environ)
    seen: dict = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = int(status.split()[0]), dict(response_headers)

    chunks = app(environ, start_response)
    data = b"".join(chunks)
    if hasattr(chunks, "close"):
        chunks.close()
    return seen["status"], seen["headers"], data


def get_json(app, path: str, expect: int = 200) -> dict:
    status, headers, body = call(app, path)
    assert status == expect, (path, status, body[:300])
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


# --- executions ------------------------------------------------------------------------------------
def test_executions_newest_first_with_changed_parameters_k_and_gate(app, studio_run):
    _, ids = studio_run
    listed = get_json(app, "/studio/api/executions")["executions"]
    assert [e["id"] for e in listed] == [ids["failed"], ids["passed"]]
    failed, passed = listed
    assert (failed["status"], passed["status"]) == ("Failed", "Succeeded")
    assert passed["duration"] > 0 and passed["start"] < failed["start"]
    changed = {p["name"]: (p["value"], p["default"]) for p in passed["changed_parameters"]}
    assert changed["k_max"] == (6, 50) and "k_min" not in changed      # k_min=2 is the default
    assert changed["min_silhouette"][0] == -1.0
    assert 2 <= passed["chosen_k"] <= 6
    gate = {g["metric"]: g for g in failed["gate"]}
    assert gate["silhouette"]["passed"] is False and gate["silhouette"]["threshold"] == 2.0
    assert gate["recall_at_k"]["passed"] is True and gate["silhouette"]["op"] == ">="
    assert all(g["passed"] for g in passed["gate"])
    # the failing condition only, rounded (the Fail step's own message lists every metric unrounded)
    assert failed["failure_summary"].startswith("the quality gate failed on silhouette 0.")
    assert failed["failure_summary"].endswith("(needs >= 2.000)") and "recall" not in failed["failure_summary"]
    assert passed["failure_summary"] is None
    # the demo data a plain run points Ingest at is no change of the user's
    assert "basics_uri" not in changed and "ratings_uri" not in changed


def test_one_execution_dag_statuses_branches_and_reports(app, studio_run):
    _, ids = studio_run
    detail = get_json(app, f"/studio/api/executions/{ids['passed']}")
    nodes = {n["name"]: n for n in detail["dag"]["nodes"]}
    definition = json.loads((executions.execution_dir(studio_run[0], ids["passed"]) / "definition.json").read_text())
    from studio.dag import build_dag
    assert set(nodes) == set(build_dag(definition).nodes)            # drawn from its own definition
    assert nodes["QualityGate"]["type"] == "Condition"
    assert nodes["QualityGateFailed"]["status"] == "NotTaken"        # the else branch, greyed
    assert nodes["Register"]["status"] == "Succeeded" and nodes["TrainKMeans"]["duration"] > 0
    labels = {(e["from"], e["to"]): e["label"] for e in detail["dag"]["edges"]}
    assert labels[("QualityGate", "QualityGateFailed")] == "else" and labels[("QualityGate", "Register")] == "if"
    assert nodes["Preprocess"]["y"] < nodes["TrainScaler"]["y"] < nodes["QualityGate"]["y"]
    reports = detail["reports"]
    assert {"quality.json", "elbow.json", "evaluation.json"} <= set(reports)
    assert [p["name"] for p in reports["quality.json"]["pngs"]] == ["year_boxplot.png", "runtime_bins.png"]
    assert reports["quality.json"]["data"]["rules"][0]["rule"] == "title_type"
    assert reports["elbow.json"]["pngs"][0]["name"] == "elbow.png"
    assert reports["evaluation.json"]["pngs"][0]["name"] == "cluster_sizes.png"
    assert detail["gate_detail"]["outcome"] == "True"
    # the viewers the run learnt from (none here) and the ranking checks, compared figure to figure
    assert reports["interactions.json"]["data"]["source"] == "none"
    ranking_rows = [c for c in detail["gate_detail"]["conditions"]
                    if c["metric"] == "ranking_gate.hybrid_ndcg"]
    assert [c["threshold_parameter"] for c in ranking_rows] == [
        "ranking_gate.required_over_popularity", "ranking_gate.production_ndcg"]
    assert all(c["passed"] is True and c["threshold"] == 0 for c in ranking_rows)   # skipped: no viewer

    failed = get_json(app, f"/studio/api/executions/{ids['failed']}")
    nodes = {n["name"]: n for n in failed["dag"]["nodes"]}
    assert nodes["QualityGateFailed"]["status"] == "Failed" and nodes["Register"]["status"] == "NotTaken"
    assert nodes["Preprocess"]["cache_hit"] is True and nodes["Evaluate"]["cache_hit"] is False
    # each report PNG link is served, as a PNG
    png = reports["elbow.json"]["pngs"][0]["url"]
    status, headers, body = call(app, png)
    assert status == 200 and headers["Content-Type"] == "image/png" and body.startswith(b"\x89PNG")
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_step_detail_resolved_arguments_outputs_and_log(app, studio_run):
    _, ids = studio_run
    detail = get_json(app, f"/studio/api/executions/{ids['passed']}")
    k = detail["chosen_k"]
    step = get_json(app, f"/studio/api/executions/{ids['passed']}/steps/TrainKMeans")
    # JsonGet(chosen_k) resolved as the job got it (a one-letter hyperparameter)
    assert step["arguments"]["HyperParameters"]["k"] == str(k)
    assert step["parameters"]["seed"] == 42 and step["status"] == "Succeeded"
    (model,) = step["outputs"]["model"]["files"]
    assert model["name"] == "model.tar.gz" and model["size"] > 0
    status, headers, body = call(app, model["url"])
    assert status == 200 and headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment;") and body[:2] == b"\x1f\x8b"
    assert step["log_tail"] and len(step["log_tail"].splitlines()) <= 60

    gate = get_json(app, f"/studio/api/executions/{ids['failed']}/steps/QualityGate")
    assert gate["arguments"]["Conditions"][0]["RightValue"] == 2.0        # the parameter, resolved
    assert "IfSteps" not in gate["arguments"]
    fail = get_json(app, f"/studio/api/executions/{ids['failed']}/steps/QualityGateFailed")
    assert "silhouette" in fail["failure_reason"] and fail["branch"] == {"condition": "QualityGate", "side": "else"}
    preprocess = get_json(app, f"/studio/api/executions/{ids['failed']}/steps/Preprocess")
    assert preprocess["cache_hit"].endswith(ids["passed"])
    names = {f["name"] for f in preprocess["outputs"]["report"]["files"]}
    assert {"quality.json", "year_boxplot.png", "runtime_bins.png"} <= names


def test_the_page_and_its_static_files_carry_a_strict_csp(app):
    status, headers, body = call(app, "/studio/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert b"<script src=\"/studio/static/studio.js\"" in body and b"<script>" not in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    # three classic scripts, deferred so they run in this order: helpers, drawings, views (studio.js routes)
    scripts = [s.decode() for s in re.findall(rb'<script src="([^"]+)" defer></script>', body)]
    assert scripts == [f"/studio/static/{name}" for name in ("common.js", "drawing.js", "studio.js")], scripts
    for src in scripts:
        status, headers, _ = call(app, src)
        assert status == 200 and "javascript" in headers["Content-Type"], src
    static = Path(__file__).resolve().parents[2] / "studio/static"
    assert sorted(p.name for p in static.glob("*.js")) == sorted(s.rsplit("/", 1)[1] for s in scripts)
    for path in static.glob("*.js"):
        script = path.read_text()
        assert ".innerHTML" not in script, path
        assert "http://" not in script.replace("http://www.w3.org/2000/svg", ""), path
    status, headers, body = call(app, "/studio/api/executions", method="HEAD")
    assert status == 200 and body == b""


# --- hostile requests ---------------------------------------------------------------------------------
@pytest.mark.parametrize("path, status", [
    ("/studio/api/executions/..%2F..", 404), ("/studio/api/executions/a b", 404),
    ("/studio/api/executions/nosuchexecution", 404), ("/studio/api/executions/x/steps/..", 404),
    ("/studio/api/nothing", 404), ("/studio/nothing", 404), ("/studio/static/../app.py", 404),
    ("/studio/files/myflix-local/../../../etc/passwd", 400), ("/studio/files/myflix-local/.hidden", 400),
    ("/studio/files/myflix-local/raw", 404), ("/studio/files/etc", 400),
    ("/studio/files/myflix-local/raw/nothing.json", 404), ("/studio/files/myflix-local/a\\b", 400),
])
def test_bad_paths_are_4xx_json(app, path, status):
    got, headers, body = call(app, path)
    assert got == status, body
    document = json.loads(body)
    assert set(document) == {"Code", "Message"} and document["Message"]


def test_unknown_step_of_a_real_execution_is_404(app, studio_run):
    _, ids = studio_run
    got, _, body = call(app, f"/studio/api/executions/{ids['passed']}/steps/NoSuchStep")
    assert got == 404 and "has no step" in json.loads(body)["Message"]


def test_symlinks_out_of_the_store_are_refused(app, studio_run, tmp_path):
    work, _ = studio_run
    secret = tmp_path / "secret.json"
    secret.write_text('{"secret": 1}')
    link = work / "s3" / BUCKET / "link.json"
    folder_link = work / "s3" / BUCKET / "linkdir"
    os.symlink(secret, link)
    os.symlink(tmp_path, folder_link)
    try:
        for path in ("/studio/files/myflix-local/link.json", "/studio/files/myflix-local/linkdir/secret.json"):
            got, _, body = call(app, path)
            assert got == 403 and b"secret" not in body.replace(b"secret.json", b"")
    finally:
        link.unlink()
        folder_link.unlink()
    page = work / "s3" / BUCKET / "page.html"
    page.write_text("<script>alert(1)</script>")
    try:
        got, headers, _ = call(app, "/studio/files/myflix-local/page.html")
        assert got == 200 and headers["Content-Type"] == "application/octet-stream"
        assert headers["Content-Disposition"].startswith("attachment")
    finally:
        page.unlink()


def test_methods_hosts_and_cross_origin_posts_are_refused(app):
    got, headers, _ = call(app, "/studio/api/executions", method="PUT")
    assert got == 405 and headers["Allow"] == "GET, HEAD, POST"
    got, _, body = call(app, "/studio/api/executions", method="POST", body=b"{}",
                        headers={"Content-Type": "application/json"})
    assert got == 403 and json.loads(body)["Code"] == "CrossOrigin"        # starting a run: same rules
    got, headers, _ = call(app, "/studio/api/registry/myflix-movie-clusters/1/approve")
    assert got == 405 and headers["Allow"] == "POST"
    got, _, body = call(app, "/studio/api/executions", headers={"Host": "attacker.example:8000"})
    assert got == 403 and json.loads(body)["Code"] == "ForbiddenHost"       # DNS rebinding
    approve = "/studio/api/registry/myflix-movie-clusters/1/approve"
    json_type = {"Content-Type": "application/json"}
    for headers, expect in (
            (json_type, 403),                                                     # no Origin, no Referer
            (dict(json_type, Origin="http://attacker.example"), 403),
            (dict(json_type, Origin="http://127.0.0.1:9999"), 403),               # another local port
            (dict(json_type, Referer="http://attacker.example/studio/"), 403),
            ({"Origin": "http://127.0.0.1:8000", "Content-Type": "text/plain"}, 415),   # a form's simple POST
            (dict(json_type, Origin="http://127.0.0.1:8000", **{"Sec-Fetch-Site": "cross-site"}), 403)):
        got, _, body = call(app, approve, method="POST", body=b"{}", headers=headers)
        assert got == expect, (headers, body)
    same = dict(json_type, Origin="http://127.0.0.1:8000")
    why = b'{"description": "reviewed"}'
    for path, body, expect in (("/studio/api/registry/myflix-movie-clusters/0/approve", why, 400),
                               ("/studio/api/registry/bad_group!/1/approve", why, 400),
                               ("/studio/api/registry/myflix-movie-clusters/99/approve", why, 404),
                               ("/studio/api/registry/myflix-movie-clusters/1/approve", b"{}", 400),   # no reason
                               ("/studio/api/registry/myflix-movie-clusters/1/approve", b'{"description": "  "}', 400),
                               ("/studio/api/registry/myflix-movie-clusters/1/reject", b'{"description": 5}', 400),
                               ("/studio/api/registry/myflix-movie-clusters/1/approve", b"[1]", 400),
                               ("/studio/api/registry/myflix-movie-clusters/1/approve", b"{x", 400),
                               ("/studio/api/registry/myflix-movie-clusters/1/approve", b"{\"promote\": 1}", 400)):
        got, _, answer = call(app, path, method="POST", body=body, headers=same)
        assert got == expect, (path, answer)
    assert registry.list_packages(app.workdir)[0]["ModelApprovalStatus"] == "PendingManualApproval"


def test_live_an_executing_run_shows_its_running_step(studio_run, tmp_path):
    """The runner's record while it runs (this process is its runner): the page reads Executing."""
    from local_runner.executions import ExecutionRecorder
    from studio import make_app
    work, ids = studio_run
    definition = json.loads((executions.execution_dir(work, ids["passed"]) / "definition.json").read_text())
    live = tmp_path / "live"
    recorder = ExecutionRecorder(live, "20990101000000beef", pipeline_name=schema.PIPELINE_NAME, region="us-east-1",
                                 display_name=None, parameters={"k_max": 6}, definition=definition)
    from local_runner.plan import plan
    recorder.declare_steps([p.step for p in plan(definition)])
    recorder.step_finished("Ingest", "Succeeded")
    recorder.step_started("Preprocess", None)
    app = make_app(live)
    (summary,) = get_json(app, "/studio/api/executions")["executions"]
    assert summary["status"] == "Executing"
    nodes = {n["name"]: n["status"] for n in get_json(app, "/studio/api/executions/20990101000000beef")["dag"]["nodes"]}
    assert nodes["Ingest"] == "Succeeded" and nodes["Preprocess"] == "Executing" and nodes["Evaluate"] == "NotRun"
    recorder.step_finished("Preprocess", "Succeeded")
    nodes = {n["name"]: n["status"] for n in get_json(app, "/studio/api/executions/20990101000000beef")["dag"]["nodes"]}
    assert nodes["Preprocess"] == "Succeeded"


def test_mount_sends_only_studio_paths_to_the_studio(studio_run):
    from studio import mount

    def other(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"the api"]
    app = mount(other, studio_run[0])
    assert call(app, "/health")[2] == b"the api"
    assert call(app, "/studiox")[2] == b"the api"
    assert call(app, "/studio/api/registry")[0] == 200


def test_the_run_form_is_the_parameter_model_and_bad_runs_are_refused_before_starting(app, studio_run):
    from pipeline.parameters import parameter_specs
    form = get_json(app, "/studio/api/parameters")["parameters"]
    assert [f["name"] for f in form] == [s.name for s in parameter_specs("myflix-local")]
    kinds = {f["name"]: f["type"] for f in form}
    assert kinds["k_max"] == "Integer" and kinds["min_rating"] == "Float" and kinds["scaler"] == "String"
    assert kinds["enable_network_isolation"] == "Boolean" and all(f["help"] for f in form)
    same = {"Content-Type": "application/json", "Origin": "http://127.0.0.1:8000"}
    for body, expect, words in ((b'{"parameters": {"k_overide": 12}}', 400, "did you mean k_override"),
                                (b'{"parameters": {"k_max": "many"}}', 400, "k_max takes an integer"),
                                (b'{"parameters": {"k_max": [1]}}', 400, "k_max"),
                                (b'{"parameters": {}, "display_name": "no spaces allowed"}', 400, "display_name"),
                                (b'{"parameters": []}', 400, "JSON object")):
        got, _, answer = call(app, "/studio/api/executions", method="POST", body=body, headers=same)
        assert got == expect and words in json.loads(answer)["Message"], answer
    before = len(executions.list_executions(app.workdir))
    assert not (app.workdir / "studio-runs").exists()                 # nothing was started
    # stop and retry answer for the state the execution is in
    work, ids = studio_run
    for action, execution_id, expect in (("stop", ids["passed"], 409), ("retry", ids["passed"], 409),
                                         ("stop", "nosuchexecution", 404), ("retry", "../x", 404)):
        got, _, answer = call(app, f"/studio/api/executions/{execution_id}/{action}", method="POST", body=b"{}",
                              headers=same)
        assert got == expect, (action, execution_id, answer)
    assert len(executions.list_executions(app.workdir)) == before


def test_the_check_keeps_only_values_other_than_the_defaults():
    from studio import actions
    assert actions.check_parameters({"k_max": "50", "k_min": 3, "min_rating": "5", "scaler": "minmax",
                                     "enable_network_isolation": True}) == {"k_min": "3", "scaler": "minmax"}


def test_a_steps_whole_log_and_the_error_line_in_view(app, studio_run):
    work, ids = studio_run
    step = get_json(app, f"/studio/api/executions/{ids['passed']}/steps/Preprocess")
    assert step["log_url"] == f"/studio/api/executions/{ids['passed']}/steps/Preprocess/log"
    got, headers, body = call(app, step["log_url"])
    assert got == 200 and headers["Content-Type"].startswith("text/plain") and body.startswith(b"$ ")
    assert headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert call(app, f"/studio/api/executions/{ids['passed']}/steps/QualityGate/log")[0] == 404   # no job, no log
    assert call(app, f"/studio/api/executions/{ids['passed']}/steps/..%2F..%2Fx/log")[0] == 404
    # The training toolkit's log of a failed TrainScaler: the script's argparse error is the line shown
    log = "\n".join(["SM_HP_SCALER=foo", "Invoking script with the following command:", "",
                      "/venv/bin/python steps/train_scaler.py --scaler foo", "",
                      "usage: train_scaler.py [-h] [--scaler {minmax,standard}]",
                      "train_scaler.py: error: argument --scaler: invalid choice: 'foo' "
                      "(choose from 'minmax', 'standard')",
                      "2026-12-03 10:04:00,947 sagemaker-training-toolkit ERROR    Reporting training FAILURE",
                      "2026-12-03 10:04:00,947 sagemaker-training-toolkit ERROR    ExecuteUserScriptError:",
                      "ExitCode 2", 'ErrorMessage ""', 'Command "/venv/bin/python steps/train_scaler.py --scaler foo"',
                      "2026-12-03 10:04:00,947 sagemaker-training-toolkit ERROR    Encountered exit_code 1"])
    from studio.views import log_error
    assert log_error(log, "AlgorithmError: ExecuteUserScriptError").startswith(
        "train_scaler.py: error: argument --scaler")


# --- the registry (last: it approves) ---------------------------------------------------------------
def test_registry_approve_deploys_through_the_deployer(app, studio_run):
    work, ids = studio_run
    view = get_json(app, "/studio/api/registry")
    (package,) = view["packages"]
    assert package["approval"] == "PendingManualApproval" and package["execution_id"] == ids["passed"]
    assert package["metrics"]["silhouette"] > 0 and package["serving"] == [] and view["endpoints"] == []
    got, _, body = call(app, "/studio/api/registry/myflix-movie-clusters/1/approve", method="POST",
                        body=b'{"description": "gate passed; clusters reviewed"}',
                        headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1:8000"})
    assert got == 200, body
    result = json.loads(body)
    assert result["package"]["approval"] == "Approved" and result["outcome"] == "promoted", result
    assert any("smoke" in line for line in result["log"])
    stored = registry.describe(work, "myflix-movie-clusters/1")
    assert stored["ModelApprovalStatus"] == "Approved"
    assert stored["ApprovalDescription"] == "gate passed; clusters reviewed"
    (decision,) = stored["ApprovalHistory"]                      # who, when and why, kept per version
    assert decision["Status"] == "Approved" and decision["Actor"].endswith("(Studio)") and decision["Time"]
    (history,) = get_json(app, "/studio/api/registry")["packages"][0]["history"]
    assert history["comment"] == "gate passed; clusters reviewed" and history["status"] == "Approved"
    assert get_json(app, "/studio/api/registry")["packages"][0]["production"] is True
    view = get_json(app, "/studio/api/registry")
    serving = {e["name"]: e for e in view["endpoints"]}
    assert (serving[schema.ENDPOINT_NAME]["version"] == "1"
            and serving[schema.STAGING_ENDPOINT_NAME]["smoke"] == "passed")
    assert set(view["packages"][0]["serving"]) == {schema.ENDPOINT_NAME, schema.STAGING_ENDPOINT_NAME}
    table = json.loads((work / "catalog" / schema.GLUE_DATABASE / f"{schema.GLUE_TABLE}.json").read_text())
    assert table["Parameters"]["myflix_model_package_arn"] == stored["ModelPackageArn"]


def test_an_endpoint_serving_a_rejected_version_says_why(app, studio_run):
    """After the approval above: rejecting version 1 (the only one; nothing to roll back to) leaves
    the staging endpoint on it, and the registry view says so instead of showing it silently."""
    got, _, body = call(app, "/studio/api/registry/myflix-movie-clusters/1/reject", method="POST",
                        body=b'{"description": "drift on runtime"}',
                        headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1:8000"})
    assert got in (200, 409), body
    view = get_json(app, "/studio/api/registry")
    assert [h["status"] for h in view["packages"][0]["history"]] == ["Approved", "Rejected"]
    staging = {e["name"]: e for e in view["endpoints"]}[schema.STAGING_ENDPOINT_NAME]
    assert staging["version"] == "1" and "Rejected" in staging["note"] and "staging keeps" in staging["note"]
