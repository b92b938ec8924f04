"""The trends page in a real browser: headless Chromium from Debian, driven by Selenium.

Skips when chromium, chromedriver or selenium is missing, as tests/test_report_browser.py does.
"""

import json

import pytest

from bench.history.analyze import analyze
from bench.history.index import index
from bench.report.trends import write_trends
from tests import browser
from tests.history_runs import STEP_CELL, STEP_SEED, write_history

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not browser.available(), reason="needs chromium, chromedriver and selenium")]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("trends")
    write_history(root / "results", 60, 10, seed=STEP_SEED, steps={STEP_CELL: (40, 1.08)})
    trends = analyze(index([root / "results"]))
    path = write_trends(trends, root / "report", repo_url="https://github.com/o/r")
    driver = browser.make_driver()
    driver.get(path.as_uri())
    yield driver, path, trends
    driver.quit()


def test_loads_offline_without_console_errors(page):
    driver, path, _ = page
    assert driver.title == "Trends: 60 runs"
    assert [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            urls.append(msg["params"].get("request", {}).get("url") or msg["params"].get("url"))
    assert urls and [u for u in urls if u != path.as_uri() and not u.startswith("data:")] == []


def test_the_step_is_marked_and_its_tooltip_names_the_run(page):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver, _, trends = page
    (s, c), = trends.changes()
    run_id = trends.history.runs.iloc[c.run]["run_id"]
    panel = driver.find_element(By.CSS_SELECTOR, f'figure.panel[data-cell="{STEP_CELL}"][data-metric="latency"]')
    marks = panel.find_elements(By.CSS_SELECTOR, "g.change")
    assert len(marks) == 1 and marks[0].get_attribute("data-run") == run_id
    assert run_id in ("run-0039", "run-0040", "run-0041")
    tip = marks[0].find_element(By.TAG_NAME, "title").get_attribute("textContent")
    assert f"first in run {run_id}" in tip and "+" in tip and "95% CI" in tip
    # the mark is drawn where the run is: inside the panel, at 40/59 of its width
    box, svg = marks[0].rect, panel.find_element(By.TAG_NAME, "svg").rect
    assert svg["x"] < box["x"] < svg["x"] + svg["width"]
    assert abs((box["x"] + box["width"] / 2 - svg["x"]) / svg["width"] - c.run / 59) < 0.05
    ActionChains(driver).move_to_element(marks[0]).perform()
    line = marks[0].find_element(By.TAG_NAME, "line")
    assert line.value_of_css_property("stroke-width") == "3px"  # the hover style: the mark is the target
    link = marks[0].find_element(By.XPATH, "..")
    assert link.tag_name == "a" and "/compare/" in link.get_dom_attribute("href")
    # no other panel has a mark
    assert len(driver.find_elements(By.CSS_SELECTOR, "g.change")) == 1


def test_the_current_regression_is_in_the_table(page):
    from selenium.webdriver.common.by import By

    driver, _, _ = page
    rows = driver.find_elements(By.CSS_SELECTOR, "#current-table tbody tr")
    assert len(rows) == 1 and STEP_CELL in rows[0].text and "regression" in rows[0].text
