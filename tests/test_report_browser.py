"""The report in a real browser: headless Chromium from Debian, driven by Selenium.

Skips when chromium, chromedriver or selenium is missing; CI installs them (.ci/run).
"""

import csv
import io
import json
import time

import pytest

from bench.report.html import write_report
from tests import browser
from tests.fixture_runs import EVIL, make_records, write_run

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not browser.available(), reason="needs chromium, chromedriver and selenium")]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from selenium.webdriver.common.by import By  # noqa: F401

    root = tmp_path_factory.mktemp("browser")
    run_dir = write_run(root / "results", "fixture", make_records(evil=True, models=["bert-base", "deit-s"]))
    report = write_report(run_dir, root / "report")
    downloads = root / "downloads"
    downloads.mkdir()
    driver = browser.make_driver(download_dir=downloads)
    driver.get(report.as_uri())
    yield driver, report, downloads
    driver.quit()


def _visible_rows(driver, table_id):
    return driver.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tBodies[0].rows)"
        ".filter(r => !r.hidden && r.offsetParent !== null).map(r => r.cells[0].textContent + '|' + r.cells[1].textContent);",
        table_id)


def test_loads_without_console_errors_or_network_requests(page):
    driver, report, _ = page
    assert driver.title.startswith("Benchmark report")
    errors = [e for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert errors == []
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            urls.append(msg["params"].get("request", {}).get("url") or msg["params"].get("url"))
    assert urls, "the performance log should at least show the report itself"
    assert [u for u in urls if u != report.as_uri() and not u.startswith("data:")] == []


def test_every_plot_renders(page):
    driver, _, _ = page
    driver.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    sizes = driver.execute_script(
        "return Array.from(document.querySelectorAll('.figure svg')).filter(s => !s.closest('#survey')).map(s => {"
        "const r = s.getBoundingClientRect(); return [r.width, r.height, s.querySelectorAll('path,text,use').length]; });")
    # pareto, heatmap and roofline for 2 targets, accuracy for 2 targets, MACs plot, 14 cell histograms
    assert len(sizes) == 2 + 2 + 2 + 2 + 1 + 14
    assert all(w > 100 and h > 80 and n > 10 for w, h, n in sizes), sizes


def test_sorting_and_filtering_change_the_visible_rows(page):
    from selenium.webdriver.common.by import By

    driver, _, _ = page
    before = _visible_rows(driver, "cells-table")
    header = driver.find_elements(By.CSS_SELECTOR, "#cells-table thead th")[5]  # p50 ms
    assert header.text.startswith("p50")
    header.click()
    asc = driver.execute_script(
        "return Array.from(document.querySelectorAll('#cells-table tbody tr')).map(r => r.cells[5].getAttribute('data-v'))")
    nums = [float(v) for v in asc if v]
    assert nums == sorted(nums) and _visible_rows(driver, "cells-table") != before
    header.click()
    desc = driver.execute_script(
        "return Array.from(document.querySelectorAll('#cells-table tbody tr')).map(r => r.cells[5].getAttribute('data-v'))")
    assert [float(v) for v in desc if v] == sorted(nums, reverse=True)

    box = driver.find_element(By.CSS_SELECTOR, 'input.filter[data-table="cells-table"]')
    box.send_keys("deit-s onnxruntime")
    shown = _visible_rows(driver, "cells-table")
    assert len(shown) == 3 and all(r.startswith("deit-s|") for r in shown)
    assert driver.find_element(By.ID, "cells-table-count").text == f"3 of {len(before)} rows"
    box.clear()
    box.send_keys(" ")  # an input event with no words shows everything again
    assert len(_visible_rows(driver, "cells-table")) == len(before)


def test_csv_download_holds_the_records(page):
    from selenium.webdriver.common.by import By

    driver, _, downloads = page
    driver.find_element(By.ID, "csv-download").click()
    target = downloads / "fixture-records.csv"
    for _ in range(100):
        if target.exists() and target.stat().st_size > 0:
            break
        time.sleep(0.1)
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == 18
    ids = {r["cell_id"] for r in rows}
    assert "bert-base.fp32.torch-cpu.b1-s128" in ids
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 14 and all(float(r["latency_ms_p50"]) > 0 for r in ok)


def test_markup_in_names_shows_as_text_and_runs_nothing(page):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver, _, _ = page
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018
    body = driver.find_element(By.TAG_NAME, "body").text
    assert EVIL in body  # the model name and the failure note, shown literally
    assert driver.execute_script("return document.querySelectorAll('script').length") == 2


def test_comparison_page_loads_clean_and_sorts(page, tmp_path):
    from selenium.webdriver.common.by import By

    from bench.compare import compare_runs, render_html
    from tests.fixture_runs import cell_id

    driver, _, _ = page
    slow = cell_id("tinybert-4", "fp32", "onnxruntime-cpu", "b1-s128")
    a = write_run(tmp_path, "a", make_records(seed=1, models=["tinybert-4"], extra_fields=False))
    b = write_run(tmp_path, "b", make_records(seed=2, models=["tinybert-4"], extra_fields=False, slow={slow: 1.5}))
    html_path = tmp_path / "compare.html"
    html_path.write_text(render_html(compare_runs(a, b), 10.0))
    driver.get_log("browser")
    driver.get(html_path.as_uri())
    assert [e for e in driver.get_log("browser") if e["level"] == "SEVERE"] == []
    assert driver.execute_script("return document.querySelector('.figure svg').getBoundingClientRect().height") > 80
    change = driver.find_elements(By.CSS_SELECTOR, "#compare-table thead th")[8]
    change.click()
    change.click()  # descending: the regression first
    first = driver.find_element(By.CSS_SELECTOR, "#compare-table tbody tr td").text
    assert first == slow
    assert "Regression gate (10%): 1 cell(s) regressed" in driver.find_element(By.TAG_NAME, "body").text
