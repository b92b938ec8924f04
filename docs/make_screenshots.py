"""Screenshots of each report section for docs/report.md, from a synthetic fixture run.

    PYTHONPATH=. python docs/make_screenshots.py [RUN_DIR]

Without RUN_DIR it renders the fixture run the report tests use (synthetic records: the figures
show the report's layout, not measurements). Needs chromium, chromedriver and selenium.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECTIONS = {"overview": "overview", "pareto": "pareto", "speedup": "speedup", "roofline": "roofline",
            "cells": "cells", "detail": "detail"}


def main(argv: list[str]) -> int:
    from selenium.webdriver.common.by import By

    from bench.compare import compare_runs, render_html
    from bench.report.html import write_report
    from tests import browser
    from tests.fixture_runs import cell_id, make_records, write_run

    out = ROOT / "docs" / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-shots-"))
    if argv:
        run_dir = Path(argv[0])
    else:
        run_dir = write_run(tmp / "results", "fixture", make_records(seed=1))
    report = write_report(run_dir, tmp / "report")
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
            if name == "cells":
                driver.execute_script("var t = document.querySelectorAll('#cells-table thead th')[5]; t.click();")
            el = driver.find_element(By.ID, sid)
            height = driver.execute_script("return arguments[0].getBoundingClientRect().height", el)
            driver.set_window_size(1300, min(int(height) + 300, 6000))  # element shots crop to the window
            driver.execute_script("arguments[0].scrollIntoView()", el)
            el.screenshot(str(out / f"{name}.png"))
            print(out / f"{name}.png")
        driver.set_window_size(1300, 1400)
        driver.get(cmp_page.as_uri())
        driver.find_element(By.TAG_NAME, "body").screenshot(str(out / "compare.png"))
        print(out / "compare.png")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
