"""Regenerate docs/report.png, the README's picture of a real report.

    fewshot bench episodes/banking77.toml --out runs/banking77 --report
    python docs/screenshot.py runs/banking77/report.html docs/report.png

Needs playwright (in the dev extra) and Debian's chromium (apt-get install chromium).
"""

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

report, out = Path(sys.argv[1]).resolve(), sys.argv[2]
with sync_playwright() as playwright:
    browser = playwright.chromium.launch(
        executable_path=shutil.which("chromium") or "/usr/bin/chromium",
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    )
    page = browser.new_page(viewport={"width": 1200, "height": 1700})
    page.goto(report.as_uri(), wait_until="load")
    page.locator("#figures").scroll_into_view_if_needed()
    page.screenshot(path=out, clip={"x": 0, "y": 0, "width": 1200, "height": 1700}, full_page=True)
    browser.close()
