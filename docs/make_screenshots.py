"""Screenshots of each report section for docs/report.md, from a synthetic fixture run.

    PYTHONPATH=. python docs/make_screenshots.py [RUN_DIR]

Without RUN_DIR it renders the fixture run the report tests use (synthetic records: the figures
show the report's layout, not measurements), and for the survey panel a synthetic survey-sized
run (`tests/fixture_runs.survey_records`). Needs chromium, chromedriver and selenium.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTIONS = {"headline": "headline", "overview": "overview", "pareto": "pareto", "speedup": "speedup",
            "roofline": "roofline", "cells": "cells", "detail": "detail"}


def main(argv: list[str]) -> int:
    from selenium.webdriver.common.by import By

    from bench.compare import compare_runs, render_html
    from bench.report.html import write_report
    from tests import browser
    from tests.fixture_runs import cell_id, make_records, survey_records, write_run

    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-shots-"))
    if argv:
        run_dir = Path(argv[0])
    else:
        run_dir = write_run(tmp / "results", "fixture", make_records(seed=1))
    report = write_report(run_dir, tmp / "report")
    survey = report if argv else write_report(write_run(tmp / "results", "survey", survey_records()), tmp / "survey")
    slow = write_run(tmp / "results", "fixture-b", make_records(
        seed=2, slow={cell_id("bert-base", "fp32", "torch-cpu", "b1-s128"): 1.2,
                      cell_id("deit-s", "ort-dynamic-int8", "onnxruntime-cpu", "b1-i224"): 0.9}))
    cmp_page = tmp / "compare.html"
    cmp_page.write_text(render_html(compare_runs(run_dir, slow), 10.0))

    driver = browser.make_driver(width=1300, height=1000)
    if driver is None:
        print("chromium, chromedriver or selenium is missing", file=sys.stderr)
        return 1
    try:
        driver.get(report.as_uri())
        for name, sid in SECTIONS.items():
            if name == "detail":
                driver.execute_script("var d = document.querySelector('details.cell'); d.open = true;"
                                      "document.querySelectorAll('details.cell').forEach(function (e, i) {"
                                      "if (i > 3) e.remove(); });")
            width = 1300
            if name == "cells":  # the whole width of the table, its last columns included
                driver.execute_script("var t = document.querySelectorAll('#cells-table thead th')[5]; t.click();"
                                      "document.body.style.maxWidth = 'none';")
                width = driver.execute_script("return document.getElementById('cells-table').scrollWidth") + 80
            el = driver.find_element(By.ID, sid)
            height = driver.execute_script("return arguments[0].getBoundingClientRect().height", el)
            driver.set_window_size(width, min(int(height) + 300, 6000))  # element shots crop to the window
            driver.execute_script("arguments[0].scrollIntoView()", el)
            el.screenshot(str(out / f"{name}.png"))
            driver.execute_script("document.body.style.maxWidth = '';")
            print(out / f"{name}.png")
        _survey_panel(driver, survey, out / "survey.png")
        driver.set_window_size(1300, 1400)
        driver.get(cmp_page.as_uri())
        driver.find_element(By.TAG_NAME, "body").screenshot(str(out / "compare.png"))
        print(out / "compare.png")
    finally:
        driver.quit()
    return 0


def _survey_panel(driver, report: Path, path: Path) -> None:
    """Fig. 28 on hardware, with its show/hide panel open: the survey's most crowded figure."""
    from selenium.webdriver.common.by import By

    driver.set_window_size(1300, 1400)
    driver.get(report.as_uri())
    figs = [f for f in driver.find_elements(By.CSS_SELECTOR, "#survey .figure")
            if "Fig. 28 on hardware" in (f.get_attribute("innerHTML") or "")]
    if not figs:
        return
    shot = driver.execute_script(
        "var f = arguments[0], w = document.createElement('div'), bar = f.previousElementSibling;"
        "bar.querySelector('details').open = true; f.parentNode.insertBefore(w, bar);"
        "w.appendChild(bar); w.appendChild(f); if (w.nextElementSibling) w.appendChild(w.nextElementSibling);"
        "w.scrollIntoView(); return w;", figs[0])
    shot.screenshot(str(path))
    print(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
