"""The Studio page in headless Chromium against the real server (`myflix serve`'s MyFlixServer) on a free port.

Over a real local run (tests/test_studio.py's two executions): the list, an execution's DAG, a
step's details, the reports, the registry, and approving a version (the deployer releases it;
then the MyFlix page serves its table). Screenshots go under the test's tmp folder; with
MYFLIX_README_SCREENSHOTS=1 the README's small PNGs are written to docs/img/ as well:
  MYFLIX_README_SCREENSHOTS=1 .venv/bin/python -m pytest tests/test_studio_browser.py -q
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest

from test_studio import build_studio_workdir
from test_ui_browser import _browser_or_skip

REPO = Path(__file__).resolve().parent.parent
DOCS_IMG = REPO / "docs" / "img"
MAX_README_PNG = 150_000
pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory):
    from pipeline.cmd_serve import MyFlixServer
    work = tmp_path_factory.mktemp("studio-browser")
    ids = build_studio_workdir(work)
    with MyFlixServer(work, "127.0.0.1", 0, quiet=True) as server:
        yield server, ids


@pytest.fixture()
def browser(tmp_path):
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def readme_png(png: bytes, name: str, width: int) -> None:
    """A small README screenshot: scaled to `width`, palette-quantised, under 150 KB."""
    if not os.environ.get("MYFLIX_README_SCREENSHOTS"):
        return
    from PIL import Image
    image = Image.open(io.BytesIO(png)).convert("RGB")
    if image.width > width:
        image = image.resize((width, round(image.height * width / image.width)), Image.LANCZOS)
    out = io.BytesIO()
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, format="PNG", optimize=True)
    assert out.tell() < MAX_README_PNG, f"{name} is {out.tell()} bytes"
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    (DOCS_IMG / name).write_bytes(out.getvalue())


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
    rows[1].click()
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
    row.find_element(By.CSS_SELECTOR, "button.approve").click()
    wait.until(EC.presence_of_element_located((By.ID, "deploy-log")))
    row = browser.find_element(By.CSS_SELECTOR, "#packages tr[data-version='1']")
    assert "Approved" in row.text and "myflix-movie-clusters" in row.text
    endpoints = {e.get_attribute("data-endpoint"): e.text for e in browser.find_elements(By.CSS_SELECTOR, "#endpoints tr[data-endpoint]")}
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
