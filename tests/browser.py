"""Headless Chromium (Debian's `chromium` + `chromium-driver`) driven by Selenium.

Returns None when either is missing, so that browser tests skip cleanly on a machine without them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
DRIVER = ["/usr/bin/chromedriver"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-dev-shm-usage", "--disable-extensions", "--disable-sync", "--disable-component-update",
         "--disable-default-apps", "--no-default-browser-check", "--metrics-recording-only"]


def _first(paths, name):
    for p in paths:
        if Path(p).exists():
            return p
    return shutil.which(name)


def available() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return bool(_first(CHROMIUM, "chromium") and _first(DRIVER, "chromedriver"))


def make_driver(download_dir: Path | None = None, width: int = 1400, height: int = 1000):
    if not available():
        return None
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = _first(CHROMIUM, "chromium")
    for f in FLAGS + [f"--window-size={width},{height}"]:
        opts.add_argument(f)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    if download_dir is not None:
        opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                               "download.prompt_for_download": False,
                                               "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(_first(DRIVER, "chromedriver")), options=opts)
    if download_dir is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver
