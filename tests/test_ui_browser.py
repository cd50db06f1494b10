"""The MyFlix page in headless Chromium against the real server (`myflix serve`'s classes) on a free port.

Searches a title, opens the movie, sees "More like this", likes it and gets recommendations, with
no Content-Security-Policy violation in the console. A `?api=javascript:...` runs nothing and is
reported as ignored; `?api=` another (loopback) server is used and shown on the page.
Skipped only when Chromium is missing and CI is not set; in CI a missing browser fails.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from test_api_data import build_workdir

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = Path(os.environ.get("MYFLIX_SCREENSHOTS", tempfile.gettempdir())) / "myflix-ui"

pytestmark = pytest.mark.browser


def _browser_or_skip():
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        message = f"{missing} missing: apt-get install chromium chromium-driver (make test does it as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture()
def server(tmp_path):
    from pipeline.cmd_serve import MyFlixServer

    build_workdir(tmp_path / "work", k=8)
    with MyFlixServer(tmp_path / "work", "127.0.0.1", 0, quiet=True) as srv:
        yield srv


@pytest.fixture()
def browser(tmp_path):
    _browser_or_skip()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chrome'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})   # the console: CSP violations land there
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_search_open_a_movie_and_see_similar_ones(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)   # returns as soon as the condition holds; generous for a loaded machine
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    browser.get(server.url + "/")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready='1']")))
    assert browser.find_elements(By.CSS_SELECTOR, "#row-top .card")
    assert browser.find_element(By.CSS_SELECTOR, "#hero h1").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "section[id^=row-cluster-]")) == 8
    browser.save_screenshot(str(SCREENSHOTS / "home.png"))

    browser.find_element(By.ID, "search").send_keys("matrix")
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#results-grid .card")))
    cards = browser.find_elements(By.CSS_SELECTOR, "#results-grid .card")
    assert "The Matrix" in cards[0].text
    cards[0].click()

    wait.until(EC.visibility_of_element_located((By.ID, "detail")))
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#similar .card")))
    assert browser.find_element(By.ID, "detail-title").text == "The Matrix"
    similar = browser.find_elements(By.CSS_SELECTOR, "#similar .card")
    assert len(similar) == 12
    assert "The Matrix" not in [c.get_attribute("aria-label") for c in similar]
    browser.save_screenshot(str(SCREENSHOTS / "detail.png"))

    # like it, then "Recommend from what I liked"
    browser.find_element(By.ID, "detail-like").click()
    assert browser.find_element(By.ID, "liked-count").text == "1"
    browser.find_element(By.ID, "detail-recommend").click()
    wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#recommended-row .card")))
    assert "The Matrix" in browser.find_element(By.ID, "recommended-title").text
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recommended-row .card")) == 20
    browser.save_screenshot(str(SCREENSHOTS / "recommended.png"))
    assert not browser.find_element(By.ID, "status").is_displayed()

    # "Describe a movie": the features go through the model endpoint
    browser.find_element(By.ID, "nav-taste").click()
    wait.until(EC.visibility_of_element_located((By.ID, "taste-panel")))
    browser.find_element(By.CSS_SELECTOR, "#taste-genres input[value='Horror']").click()
    browser.find_element(By.CSS_SELECTOR, "#taste-form button[type=submit]").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "recommended-title"), "cluster"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "#recommended-row .card")) == 20
    assert not browser.find_element(By.ID, "status").is_displayed()
    assert not csp_violations(browser)


def csp_violations(browser) -> list[str]:
    return [e["message"] for e in browser.get_log("browser") if "Content Security Policy" in e["message"]
            or "Content-Security-Policy" in e["message"]]


def test_a_javascript_api_url_runs_nothing_and_is_reported(server, browser):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(server.url + "/?api=javascript:alert(document.domain)//")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready='1']")))   # its own API served it
    notice = browser.find_element(By.ID, "api-notice")
    assert notice.is_displayed() and "Ignored ?api=" in notice.text and "only http:// and https://" in notice.text
    hrefs = browser.execute_script("return Array.from(document.querySelectorAll('[href]'), e => e.href)")
    assert not [h for h in hrefs if not h.startswith((server.url, "data:"))], hrefs
    link = browser.find_element(By.ID, "api-link")
    assert link.get_attribute("href") == server.url + "/openapi.json"
    link.click()
    with pytest.raises(TimeoutException):   # no alert(), ever
        WebDriverWait(browser, 2).until(EC.alert_is_present())
    assert browser.current_url == server.url + "/openapi.json"
    assert not csp_violations(browser)


def test_another_api_is_used_and_shown(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from pipeline.cmd_serve import MyFlixServer

    wait = WebDriverWait(browser, 60)
    build_workdir(tmp_path / "other", k=3)
    other = MyFlixServer(tmp_path / "other", "127.0.0.1", 0, quiet=True).start()
    try:
        # the page is the first server's; every call goes to the other one (3 clusters, not 8)
        browser.get(server.url + "/?api=" + other.url + "/")
        wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "body[data-ready='1']")))
        notice = browser.find_element(By.ID, "api-notice")
        assert notice.is_displayed() and f"talks to the MyFlix API at {other.url} (from ?api=)" in notice.text
        assert len(browser.find_elements(By.CSS_SELECTOR, "section[id^=row-cluster-]")) == 3
        assert browser.find_element(By.ID, "api-link").get_attribute("href") == other.url + "/openapi.json"
        assert not csp_violations(browser)
    finally:
        other.stop()
