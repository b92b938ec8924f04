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
from tests.fixture_runs import EVIL, make_records, survey_records, write_run

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


@pytest.fixture(scope="module")
def survey_page(tmp_path_factory):
    """A survey-sized run (38 models, ~100 cells): the panels crowd as survey-cpu's do."""
    root = tmp_path_factory.mktemp("survey-browser")
    report = write_report(write_run(root / "results", "survey", survey_records()), root / "report")
    driver = browser.make_driver()
    driver.get(report.as_uri())
    yield driver
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
    # pareto, heatmap and roofline for 2 targets, accuracy for 2 targets, MACs plot, 14 cell histograms and traces
    assert len(sizes) == 2 + 2 + 2 + 2 + 1 + 14 + 14
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


CONTENDED = ("deit-s", "ort-dynamic-int8", "onnxruntime-cpu")  # tests/fixture_runs.py


def _fresh(page):
    """The report as it loads: the comparison test navigates away, and each test here leaves state behind."""
    driver, report, _ = page
    driver.get(report.as_uri())
    return driver


def _badges(driver, table_id, status_col):
    return driver.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tBodies[0].rows).filter(r => !r.hidden)"
        ".map(r => [r.cells[0].textContent, r.cells[1].textContent, r.cells[2].textContent,"
        " Array.from(r.cells[arguments[1]].querySelectorAll('.badge')).map(b => b.textContent)]);", table_id, status_col)


def test_the_headline_table_comes_first(page):
    driver = _fresh(page)
    assert driver.execute_script("return document.querySelector('table').id") == "headline-table"
    first = driver.execute_script("return document.querySelector('section').id")
    assert first == "headline"
    banner = driver.execute_script("return document.getElementById('trust-banner').textContent")
    assert "1 cell(s) stayed contended" in banner and "deit-s.ort-dynamic-int8.onnxruntime-cpu.b1-i224" in banner


def test_a_contended_cell_never_shows_a_plain_ok(page):
    driver = _fresh(page)
    cells = {tuple(r[:3]): r[3] for r in _badges(driver, "cells-table", 4)}
    assert cells[CONTENDED] == ["contended"]
    assert cells[("bert-base", "fp32", "torch-cpu")] == ["ok"]
    # the headline's trust column says the same of the fastest cell on that target
    head = [r for r in _badges(driver, "headline-table", 4) if r[0] == "deit-s" and r[1] == "onnxruntime-cpu"]
    assert [r[3] for r in head] == [["contended"]]
    contention = driver.execute_script(
        "return Array.from(document.querySelectorAll('#cells-table tbody tr')).filter(r => r.cells[0].textContent"
        " === 'deit-s' && r.cells[1].textContent === 'ort-dynamic-int8' && r.cells[2].textContent === "
        "'onnxruntime-cpu').map(r => r.cells[18].textContent)")
    assert contention == ["40% contended"]


def test_the_status_dropdown_keeps_only_matching_rows(page):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = _fresh(page)
    status = Select(driver.find_element(By.CSS_SELECTOR, 'select.facet[data-facet="status"]'))
    model = Select(driver.find_element(By.CSS_SELECTOR, 'select.facet[data-facet="model"]'))
    status.select_by_value("contended")
    assert [tuple(r[:3]) for r in _badges(driver, "cells-table", 4)] == [CONTENDED]
    assert driver.find_element(By.ID, "cells-table-count").text == "1 of 18 rows"
    status.select_by_value("failed")
    assert _badges(driver, "cells-table", 4) == [["deit-s", "torch-dynamic-int8", "onnxruntime-cpu", ["failed"]]]
    status.select_by_value("skipped")
    skipped = _badges(driver, "cells-table", 4)
    assert len(skipped) == 3 and all(r[1:] == ["ort-dynamic-int8", "torch-cpu", ["skipped"]] for r in skipped)
    status.select_by_value("ok")
    model.select_by_value("deit-s")
    ok = _badges(driver, "cells-table", 4)
    assert len(ok) == 3 and all(r[3] == ["ok"] and r[0] == "deit-s" for r in ok)  # not the contended one
    status.select_by_value("")
    model.select_by_value("")
    assert len(_badges(driver, "cells-table", 4)) == 18


def _displayed(driver, fig, model):
    return driver.execute_script(
        "return Array.from(arguments[0].querySelectorAll('g[data-model]')).filter(g => g.getAttribute('data-model')"
        " === arguments[1]).map(g => getComputedStyle(g).display);", fig, model)


def test_a_model_can_be_hidden_and_shown_again_and_a_plot_zoomed(page):
    from selenium.webdriver.common.by import By

    driver = _fresh(page)
    # the Pareto figure of torch-cpu, b1-s128: bert-base and the markup-named model
    fig = driver.execute_script(
        "return Array.from(document.querySelectorAll('#pareto .figure')).find(f => "
        "f.querySelector('g[data-model=\"bert-base\"]') && f.querySelector('g[data-target=\"torch-cpu\"]'))")
    tools = driver.execute_script("return arguments[0].previousElementSibling", fig)
    assert tools.get_attribute("class") == "plot-tools"
    tools.find_element(By.TAG_NAME, "summary").click()
    box = tools.find_element(By.CSS_SELECTOR, 'input[data-key="model"][value="bert-base"]')
    before = _displayed(driver, fig, "bert-base")
    assert len(before) > 10 and set(before) == {"inline"}
    box.click()
    assert set(_displayed(driver, fig, "bert-base")) == {"none"}
    assert set(_displayed(driver, fig, EVIL)) == {"inline"}  # the other model stays
    box.click()
    assert _displayed(driver, fig, "bert-base") == before

    svg = fig.find_element(By.TAG_NAME, "svg")

    def view():
        return [float(v) for v in svg.get_dom_attribute("viewBox").split()]

    full = view()
    tools.find_element(By.CSS_SELECTOR, 'button[aria-label="Zoom in"]').click()
    zoomed = view()
    assert zoomed[2] == pytest.approx(full[2] * 2 / 3) and zoomed[3] == pytest.approx(full[3] * 2 / 3)
    assert svg.get_dom_attribute("class") == "zoomed"
    tools.find_element(By.CSS_SELECTOR, 'button[aria-label="Show the whole figure"]').click()
    assert view() == full


def test_survey_labels_never_overlap(survey_page):
    driver = survey_page
    panels = driver.execute_script(
        "return Array.from(document.querySelectorAll('#survey .figure svg')).filter(s => "
        "s.querySelector('g[data-technique]')).map(s => Array.from(s.querySelectorAll('text')).map(t => {"
        "const r = t.getBoundingClientRect(); return [t.textContent, r.left, r.top, r.right, r.bottom,"
        " !!t.closest('g[data-model]')]; }).filter(b => b[3] > b[1] && b[4] > b[2]));")
    assert len(panels) == 5  # Fig. 10, 11, 20, 28 and 30 on hardware
    labels = 0
    for texts in panels:
        for i, a in enumerate(texts):
            labels += a[5]
            for b in texts[i + 1:]:
                if a[5] or b[5]:  # a point label against every other text of its figure
                    apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
                    assert apart, (a, b)
    assert labels > 40


def test_sticky_header_print_and_narrow_screens(page):
    driver = _fresh(page)
    # scrolled to the middle of the table, its header row is still at the top of the window
    top = driver.execute_script(
        "const t = document.getElementById('cells-table'); t.tBodies[0].rows[9].scrollIntoView();"
        "return [t.tHead.rows[0].cells[5].getBoundingClientRect().top, t.getBoundingClientRect().top];")
    assert top[0] == pytest.approx(0, abs=1) and top[1] < -100
    driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        hidden = driver.execute_script(
            "return ['nav', '.tools', '.plot-tools', '#csv-download'].map(s => getComputedStyle("
            "document.querySelector(s)).display)")
        assert hidden == ["none"] * 4
        assert driver.execute_script("return getComputedStyle(document.querySelector('#cells-table th')).position") \
            == "static"
    finally:
        driver.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
    assert driver.execute_script("return getComputedStyle(document.querySelector('#cells-table th')).position") \
        == "sticky"
    driver.set_window_size(480, 900)
    try:
        width = driver.execute_script("return document.documentElement.clientWidth")
        assert width < 700
        tables = driver.execute_script(
            "return Array.from(document.querySelectorAll('table')).map(t => [getComputedStyle(t).overflowX,"
            " t.getBoundingClientRect().width])")
        assert all(o == "auto" and w <= width for o, w in tables)
        figs = driver.execute_script(
            "return Array.from(document.querySelectorAll('#pareto .figure svg')).map(s => s.getBoundingClientRect().width)")
        assert figs and all(0 < w <= width for w in figs)
    finally:
        driver.set_window_size(1400, 1000)
