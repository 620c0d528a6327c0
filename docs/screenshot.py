"""The pictures in the docs, taken in headless Chromium (Debian's ``chromium``, through playwright).

    python docs/screenshot.py report runs/banking77/report.html docs/images/report.png
    python docs/screenshot.py site docs/images     # builds the site; home.png, reference-cli.png
    python docs/screenshot.py label docs/images    # label-page.png: fewshot label, 20 labels in

The report's picture needs a finished run first: ``fewshot bench episodes/banking77.toml --out
runs/banking77 --report``. ``tests/test_docs.py`` uses :func:`serve_directory` and
:func:`launch_chromium` to test the built site.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Root in a container needs --no-sandbox; the rest keeps Chromium off the network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    return os.environ.get("FEWSHOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # one line per request would drown the output
        pass


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on 127.0.0.1 (a free port) while in the block; yields the
    base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def build_site(out: Path) -> None:
    """``mkdocs build --strict`` into ``out``."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(out)],
        cwd=ROOT,
        check=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def report_picture(report: Path, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1200, "height": 1700})
        page.goto(report.resolve().as_uri(), wait_until="load")
        page.locator("#figures").scroll_into_view_if_needed()
        page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1200, "height": 1700})
        browser.close()


def site_pictures(out_dir: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="fewshot-site-") as site:
        build_site(Path(site))
        with serve_directory(Path(site)) as url, sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for path, name in (("", "home.png"), ("reference/cli/", "reference-cli.png")):
                page.goto(url + path, wait_until="networkidle")
                page.screenshot(path=str(out_dir / name))
            browser.close()


LABEL_CLASSES = ["card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed",
                 "cash_withdrawal_charge", "pin_blocked"]  # fmt: skip


def label_picture(out_dir: Path) -> None:
    """``fewshot label`` on banking77 texts of six classes, 20 of them labelled (with their
    true labels) through the page's API, then the page itself."""
    import gzip
    import json
    import urllib.request
    from importlib import resources

    from playwright.sync_api import expect, sync_playwright

    path = resources.files("fewshot.data") / "bundled" / "banking77" / "train.jsonl.gz"
    with gzip.open(str(path), "rt") as lines:
        rows = [json.loads(line) for line in lines]
    answers = {r["text"]: r["label"] for r in rows if r["label"] in LABEL_CLASSES}
    with tempfile.TemporaryDirectory(prefix="fewshot-label-") as work:
        pool = Path(work) / "pool.txt"
        pool.write_text("".join(t.replace("\n", " ") + "\n" for t in answers), encoding="utf-8")
        command = [sys.executable, "-m", "fewshot", "label", "pool.txt", "--project",
                   "labelling", "--classes", ",".join(LABEL_CLASSES), "--port", "0"]  # fmt: skip
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=work)
        try:
            url = server.stdout.readline().split("open ", 1)[1].strip()

            def call(route: str, body=None):
                data = None if body is None else json.dumps(body).encode()
                request = urllib.request.Request(
                    url + route, data, {"Content-Type": "application/json"}
                )
                with urllib.request.urlopen(request) as answer:
                    return json.load(answer)

            for _ in range(20):
                shown = call("api/next")
                call("api/decide", {"row": shown["row"], "labels": [answers[shown["text"]]]})
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                page = browser.new_page(viewport={"width": 1280, "height": 860})
                page.goto(url)
                expect(page.locator("#estimate")).to_contain_text("interval", timeout=60_000)
                page.screenshot(path=str(out_dir / "label-page.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    if sys.argv[1:2] == ["report"] and len(sys.argv) == 4:
        report_picture(Path(sys.argv[2]), Path(sys.argv[3]))
    elif sys.argv[1:2] == ["site"] and len(sys.argv) == 3:
        site_pictures(Path(sys.argv[2]))
    elif sys.argv[1:2] == ["label"] and len(sys.argv) == 3:
        label_picture(Path(sys.argv[2]))
    else:
        sys.exit(__doc__)
