"""The Studio page in headless Chromium against the real server (`myflix serve`'s MyFlixServer) on a free port.

Over a real local run (tests/studio/test_studio.py's two executions): the list, an execution's DAG, a
step's details, the reports, the registry, and approving a version (the deployer releases it;
then the MyFlix page serves its table). Screenshots go under the test's tmp folder; with
MYFLIX_README_SCREENSHOTS=1 the README's small PNGs are written to docs/img/ as well:
  MYFLIX_README_SCREENSHOTS=1 .venv/bin/python -m pytest tests/studio/test_studio_browser.py -q
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from test_studio import build_studio_workdir

REPO = Path(__file__).resolve().parents[2]
DOCS_IMG = REPO / "docs" / "img"
MAX_README_PNG = 150_000
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory):
    from serving.server import MyFlixServer
    work = tmp_path_factory.mktemp("studio-browser")
    ids = build_studio_workdir(work)
    with MyFlixServer(work, "127.0.0.1", 0, quiet=True) as server:
        yield server, ids


def readme_png(png: bytes, name: str, width: int) -> None:
    """A small README screenshot: scaled to `width`, palette-quantised, under 150 KB."""
    if not os.environ.get("MYFLIX_README_SCREENSHOTS"):
        return
    from PIL import Image
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG", optimize=True)
    assert out.tell() < MAX_README_PNG, f"{name} is {out.tell()} bytes"
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    (DOCS_IMG / name).write_bytes(out.getvalue())


def registry_status(server) -> str:
    from local_aws import registry
    return registry.list_packages(server.app.studio.workdir)[0]["ModelApprovalStatus"]


def _errors(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


def test_open_an_execution_a_step_the_reports_and_approve_in_the_registry(studio_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    server, ids = studio_server
    shots = tmp_path / "screenshots"
    shots.mkdir()
    wait = WebDriverWait(browser, 60)

    # the list: newest first, the failed gate marked
    browser.get(server.url + "/studio/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#executions tbody tr")))
    rows = browser.find_elements(By.CSS_SELECTOR, "#executions tbody tr")
    assert [r.get_attribute("data-id") for r in rows] == [ids["failed"], ids["passed"]]
    assert "Failed" in rows[0].text and "k_max=6" in rows[1].text and "silhouette" in rows[0].text
    browser.save_screenshot(str(shots / "executions.png"))

    # one execution: the DAG, coloured by status, the else branch greyed
    rows[1].find_element(By.CSS_SELECTOR, "a").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#dag g.node")))
    nodes = {n.get_attribute("data-step"): n for n in browser.find_elements(By.CSS_SELECTOR, "#dag g.node")}
    assert {"Ingest", "Preprocess", "TuneKMeans", "QualityGate", "Register", "QualityGateFailed"} <= set(nodes)
    assert nodes["QualityGateFailed"].get_attribute("data-status") == "NotTaken"
    assert nodes["Evaluate"].get_attribute("data-status") == "Succeeded"
    assert "branch not taken" in nodes["QualityGateFailed"].text
    # the reports render in place, images loaded
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#report-quality img[data-png='year_boxplot.png']")))
    for png in ("year_boxplot.png", "runtime_bins.png", "elbow.png", "cluster_sizes.png"):
        image = browser.find_element(By.CSS_SELECTOR, f"img[data-png='{png}']")
        wait.until(lambda _: browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image))
    assert "title_type" in browser.find_element(By.ID, "report-quality").text
    note = browser.find_element(By.ID, "training-note").text   # the catalogue and the training set
    assert re.fullmatch(r"Catalogue: [\d,]+ films, all published\. Training set: [\d,]+; [\d,]+ outside the "
                        r"training fences \(.*\)\.", note), note
    assert "chosen k =" in browser.find_element(By.ID, "report-elbow").text
    gate_rows = browser.find_elements(By.CSS_SELECTOR, "#report-gate tr[data-metric]")
    # five clustering checks and the two ranking checks (skipped, so passing, with no viewer)
    assert len(gate_rows) == 7 and all("pass" in r.text for r in gate_rows)
    ranking = browser.find_element(By.ID, "report-ranking")
    assert ranking.get_attribute("data-simulated") == "false" and "collaborative" in ranking.text
    assert "skipped" in ranking.text and "simulated viewers" not in ranking.text
    browser.save_screenshot(str(shots / "execution.png"))
    dag = browser.find_element(By.ID, "dag")
    browser.execute_script("arguments[0].scrollIntoView()", dag)     # an element shot is cut at the viewport
    readme_png(dag.screenshot_as_png, "studio-dag.png", 700)
    browser.execute_script("document.getElementById('report-quality').scrollIntoView()")
    browser.save_screenshot(str(shots / "reports.png"))

    # a step: resolved arguments, outputs with links, log tail
    browser.execute_script("window.scrollTo(0, 0)")
    browser.find_element(By.CSS_SELECTOR, "#dag g.node[data-step='TrainKMeans']").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "step-title"), "TrainKMeans"))
    assert '"k":' in browser.find_element(By.ID, "step-arguments").text
    link = browser.find_element(By.CSS_SELECTOR, "#step .files a")
    assert link.text == "model.tar.gz" and "/studio/files/myflix-local/runs/" in link.get_attribute("href")
    assert browser.find_element(By.ID, "step-log").text
    assert "TrainKMeans" in browser.current_url
    browser.save_screenshot(str(shots / "step.png"))
    readme_png(browser.get_screenshot_as_png(), "studio-execution.png", 1000)

    # the failed execution's Fail step: its reason
    browser.get(f"{server.url}/studio/#/executions/{ids['failed']}/steps/QualityGateFailed")
    wait.until(EC.visibility_of_element_located((By.ID, "step-failure")))
    assert "silhouette" in browser.find_element(By.ID, "step-failure").text
    browser.save_screenshot(str(shots / "failed-step.png"))

    # the registry: approve version 1; the deployer's staging -> smoke test -> prod
    browser.find_element(By.ID, "nav-registry").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#packages tr[data-version='1']")))
    row = browser.find_element(By.CSS_SELECTOR, "#packages tr[data-version='1']")
    assert "PendingManualApproval" in row.text
    browser.save_screenshot(str(shots / "registry-before.png"))
    # approving asks for a confirmation and a reason; an empty reason is not sent
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait.until(EC.visibility_of_element_located((By.ID, "decision-comment")))
    assert "deploys it" in browser.find_element(By.ID, "decide").text
    browser.find_element(By.ID, "decision-confirm").click()
    assert browser.find_element(By.ID, "decide").get_attribute("open") is not None     # still asking
    assert registry_status(server) == "PendingManualApproval"
    browser.find_element(By.ID, "decision-comment").send_keys("gate passed; clusters look right")
    browser.save_screenshot(str(shots / "approve-dialog.png"))
    browser.find_element(By.ID, "decision-confirm").click()
    wait.until(EC.presence_of_element_located((By.ID, "deploy-log")))
    history = browser.find_element(By.CSS_SELECTOR, "#packages tr[data-history='1']").text
    assert "gate passed; clusters look right" in history and "(Studio)" in history and "Approved" in history
    row = browser.find_element(By.CSS_SELECTOR, "#packages tr[data-version='1']")
    assert "Approved" in row.text and "myflix-movie-clusters" in row.text
    endpoints = {e.get_attribute("data-endpoint"): e.text
                 for e in browser.find_elements(By.CSS_SELECTOR, "#endpoints tr[data-endpoint]")}
    assert "passed" in endpoints["myflix-movie-clusters-staging"] and "InService" in endpoints["myflix-movie-clusters"]
    assert "smoke" in browser.find_element(By.ID, "deploy-log").text
    browser.save_screenshot(str(shots / "registry-approved.png"))
    readme_png(browser.get_screenshot_as_png(), "studio-registry.png", 1000)
    assert _errors(browser) == []

    # the MyFlix page now serves the released table
    browser.get(server.url + "/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready='1']")))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#row-top .card")))
    browser.save_screenshot(str(shots / "myflix.png"))
    readme_png(browser.get_screenshot_as_png(), "myflix-page.png", 1000)
    print(f"screenshots in {shots}")


def _no_edge_crosses_a_box(browser) -> list[str]:
    """Points sampled along every drawn edge of #dag, tested against every step's box but its own
    two ends: the names of the (edge, box) pairs that cross."""
    return browser.execute_script("""
      const boxes = [...document.querySelectorAll('#dag g.node')].map((g) => {
        const r = g.querySelector('rect'); return {name: g.dataset.step, x: +r.getAttribute('x'),
          y: +r.getAttribute('y'), w: +r.getAttribute('width'), h: +r.getAttribute('height')}; });
      const bad = [];
      for (const path of document.querySelectorAll('#dag path.edge')) {
        const length = path.getTotalLength();
        for (let i = 0; i <= 200; i++) {
          const p = path.getPointAtLength(length * i / 200);
          for (const b of boxes) {
            if (b.name === path.dataset.from || b.name === path.dataset.to) continue;
            if (p.x > b.x + 1 && p.x < b.x + b.w - 1 && p.y > b.y + 1 && p.y < b.y + b.h - 1)
              bad.push(path.dataset.from + '->' + path.dataset.to + ' crosses ' + b.name);
          }
        }
      }
      return [...new Set(bad)];""")


def _wide_definition(definition: dict) -> dict:
    """The real definition with extra parallel branches: three more processing steps beside the
    training chain (after Preprocess, feeding Evaluate) and one skipping two layers to Publish."""
    import copy
    wide = copy.deepcopy(definition)
    steps = wide["Steps"]
    template = next(s for s in steps if s["Name"] == "Ingest")
    for i, (after, before) in enumerate((("Preprocess", "Evaluate"), ("Preprocess", "Evaluate"),
                                         ("TrainScaler", "TrainKMeans"), ("Ingest", "QualityGate"))):
        extra = copy.deepcopy(template)
        extra.update(Name=f"Side{i}", DisplayName=f"Side branch {i}", DependsOn=[after])
        steps.append(extra)
        target = next((s for s in steps if s["Name"] == before), None)
        target.setdefault("DependsOn", []).append(extra["Name"])
    return wide


def test_dag_edges_never_cross_a_step_also_with_extra_parallel_branches(studio_server, browser, tmp_path):
    import json

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from local_runner.executions import ExecutionRecorder, execution_dir
    from local_runner.plan import plan
    from steps import schema
    server, ids = studio_server
    work = server.app.studio.workdir
    wait = WebDriverWait(browser, 60)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    browser.get(f"{server.url}/studio/#/executions/{ids['passed']}")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#dag path.edge[data-to='Publish']")))
    assert _no_edge_crosses_a_box(browser) == []
    browser.execute_script("document.getElementById('dag').scrollIntoView()")
    browser.save_screenshot(str(shots / "dag.png"))
    definition = json.loads((execution_dir(work, ids["passed"]) / "definition.json").read_text())
    wide = _wide_definition(definition)
    recorder = ExecutionRecorder(work, "20000101000000wide", pipeline_name=schema.PIPELINE_NAME, region="us-east-1",
                                 display_name="wide-dag", parameters={}, definition=wide)
    recorder.declare_steps([p.step for p in plan(wide)])
    recorder.finish("Stopped", "a drawing test")
    browser.get(f"{server.url}/studio/#/executions/20000101000000wide")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#dag g.node[data-step='Side3']")))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#dag g.node")) == len(plan(definition)) + 4
    assert _no_edge_crosses_a_box(browser) == []
    browser.execute_script("document.getElementById('dag').scrollIntoView()")
    browser.save_screenshot(str(shots / "dag-wide.png"))
    import shutil
    shutil.rmtree(execution_dir(work, "20000101000000wide"))
    assert _errors(browser) == []
    print(f"screenshots in {shots}")


def test_search_filter_and_compare_executions(studio_server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import Select, WebDriverWait

    server, ids = studio_server
    wait = WebDriverWait(browser, 60)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    browser.get(server.url + "/studio/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#executions tbody tr")))
    def shown():
        return [r.get_attribute("data-id") for r in browser.find_elements(By.CSS_SELECTOR, "#executions tbody tr")]
    assert shown() == [ids["failed"], ids["passed"]]
    browser.find_element(By.ID, "search").send_keys("min_silhouette=2")
    wait.until(lambda _: shown() == [ids["failed"]])
    browser.find_element(By.ID, "search").clear()
    browser.execute_script("const s = document.getElementById('search'); s.dispatchEvent(new Event('input'))")
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("Succeeded")
    wait.until(lambda _: shown() == [ids["passed"]])
    browser.save_screenshot(str(shots / "filtered.png"))
    Select(browser.find_element(By.ID, "status-filter")).select_by_value("")
    wait.until(lambda _: len(shown()) == 2)
    assert not browser.find_element(By.ID, "compare").is_enabled()
    for box in browser.find_elements(By.CSS_SELECTOR, "#executions input.pick"):
        box.click()
    browser.find_element(By.ID, "compare").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#compare-table")))
    table = browser.find_element(By.ID, "compare-table").text.lower()     # headings are upper-cased by CSS
    assert ids["failed"] in table and ids["passed"] in table
    assert "min_silhouette" in table and "silhouette" in table and "chosen k" in table
    params = {r.find_element(By.TAG_NAME, "th").text.lower()
              for r in browser.find_elements(By.CSS_SELECTOR, "tr.param-row")}
    assert params == {"min_silhouette"}                    # only what differs
    assert len(browser.find_elements(By.CSS_SELECTOR, "#elbow-overlay path.series")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, "#elbow-overlay circle.chosen")) == 2
    browser.save_screenshot(str(shots / "compare.png"))
    # a report image opens large over the page
    browser.get(f"{server.url}/studio/#/executions/{ids['passed']}")
    image = wait.until(EC.element_to_be_clickable((By.CSS_SELECTOR, "img[data-png='runtime_bins.png']")))
    small = image.size["width"]
    assert small >= 400, small                              # readable in place
    image.click()
    zoomed = wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#zoom img")))
    wait.until(lambda _: zoomed.size["width"] > small)
    browser.save_screenshot(str(shots / "zoom.png"))
    assert _errors(browser) == []
    print(f"screenshots in {shots}")


def test_start_a_run_from_the_form_see_its_error_stop_and_retry(studio_server, browser, tmp_path):
    """The form starts real runs (`myflix run --no-serve`): a bad scaler fails at TrainScaler with the
    script's error in view; a long sweep is stopped; its retry resumes from the cache."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    server, ids = studio_server
    wait = WebDriverWait(browser, 300)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def start(values: dict, name: str) -> str:
        browser.get(server.url + "/studio/#/run")
        wait.until(EC.presence_of_element_located((By.ID, "param-k_max")))
        for key, value in values.items():
            field = browser.find_element(By.ID, f"param-{key}")
            field.clear()
            field.send_keys(str(value))
        browser.find_element(By.ID, "display-name").send_keys(name)
        browser.find_element(By.ID, "start-run").click()
        wait.until(lambda _: "#/executions/" in browser.current_url or "not started" in
                   browser.find_element(By.ID, "status").text)
        assert "#/executions/" in browser.current_url, browser.find_element(By.ID, "status").text
        return browser.current_url.rsplit("/", 1)[-1]

    def status(execution_id: str) -> str:
        import json
        import urllib.request
        try:
            with urllib.request.urlopen(f"{server.url}/studio/api/executions/{execution_id}", timeout=10) as r:
                return json.loads(r.read())["status"]
        except OSError:
            return "Starting"

    browser.get(server.url + "/studio/#/run")
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "tr[data-param='k_max']")))
    assert "Integer" in row.text and "default 50" in row.text and "largest k" in row.text
    browser.save_screenshot(str(shots / "run-form.png"))
    small = {"k_max": 6, "silhouette_sample": 800, "recall_queries": 60}
    # a value the parameter does not allow is refused before anything starts, naming the choices
    browser.get(server.url + "/studio/#/run")
    wait.until(EC.presence_of_element_located((By.ID, "param-k_max")))
    browser.execute_script("document.getElementById('param-scaler').value = 'foo'")
    browser.find_element(By.ID, "start-run").click()
    wait.until(lambda _: "use one of standard, minmax" in browser.find_element(By.ID, "status").text)
    assert "#/run" in browser.current_url
    refused = _errors(browser)          # the browser logs the 400 it was answered: that one only
    assert len(refused) == 1 and "status of 400" in refused[0], refused
    browser.execute_script("document.getElementById('param-scaler').value = ''")
    # a run that fails in a step: its script's own error is in view
    missing = "s3://myflix-local/nowhere/title.basics.tsv.gz"
    bad = start(dict(small, basics_uri=missing), "bad-input")
    wait.until(lambda _: status(bad) == "Failed")
    browser.get(f"{server.url}/studio/#/executions/{bad}/steps/Ingest")
    wait.until(EC.visibility_of_element_located((By.ID, "log-error")))
    assert f"nothing at {missing}" in browser.find_element(By.ID, "log-error").text
    assert f"nothing at {missing}" in browser.find_element(By.ID, "step-failure").text
    marked = browser.find_element(By.CSS_SELECTOR, "#step-log .err-line")
    assert browser.execute_script("""const pre = document.getElementById('step-log'), m = arguments[0];
      return m.offsetTop >= pre.scrollTop && m.offsetTop < pre.scrollTop + pre.clientHeight;""", marked)
    assert browser.find_element(By.CSS_SELECTOR, "h1 .name").text.strip() == "bad-input"
    full = browser.find_element(By.ID, "full-log").get_attribute("href")
    import urllib.request
    with urllib.request.urlopen(full, timeout=10) as r:
        assert f"nothing at {missing}".encode() in r.read()
    browser.execute_script("document.getElementById('step').scrollIntoView()")
    browser.save_screenshot(str(shots / "error-in-view.png"))

    slow = start(dict(small, k_max=45), "stop-me")
    wait.until(EC.element_to_be_clickable((By.ID, "stop")))
    browser.save_screenshot(str(shots / "running.png"))
    browser.execute_script("document.getElementById('stop').click()")   # the page re-renders while it polls
    wait.until(lambda _: status(slow) == "Stopped")
    browser.get(f"{server.url}/studio/#/executions/{slow}")
    retry = wait.until(EC.element_to_be_clickable((By.ID, "retry")))
    browser.save_screenshot(str(shots / "stopped.png"))
    retry.click()
    wait.until(lambda _: "#/executions/" in browser.current_url and slow not in browser.current_url)
    again = browser.current_url.rsplit("/", 1)[-1]
    wait.until(lambda _: status(again) in ("Succeeded", "Failed"))
    import json
    with urllib.request.urlopen(f"{server.url}/studio/api/executions/{again}", timeout=10) as r:
        detail = json.loads(r.read())
    assert detail["name"] == f"retry-of-{slow}" and detail["parameters"]["k_max"] == 45
    steps = {s["name"]: s for s in detail["steps"]}
    assert steps["Preprocess"]["cache_hit"]                # resumed from the cache
    browser.get(f"{server.url}/studio/#/executions/{again}")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#dag g.node")))
    browser.save_screenshot(str(shots / "retried.png"))
    assert _errors(browser) == []
    print(f"screenshots in {shots}")
