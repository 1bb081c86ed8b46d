"""A real browser (Debian's Chromium driven by Playwright) opens every page in both languages
and finds no exception. The app runs as `streamlit run app.py` on a loopback port."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attnviz.i18n import t

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
PAGES = ("examples", "playground", "text", "image")  # and the start page at "/"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (make test installs it)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
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


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


def wait_until_idle(page, timeout_s: float = 240) -> None:
    """Wait until Streamlit says the script has finished its run (and the page has a title)."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"] h1', timeout=timeout_s * 1000
    )


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_opens_without_exception(server, browser, lang, tmp_path_factory):
    shots = tmp_path_factory.mktemp(f"shots-{lang}")
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    for name in ("", *PAGES):
        page.goto(f"{server}/{name}?lang={lang}")
        wait_until_idle(page)
        page.screenshot(path=str(shots / f"{name or 'home'}.png"), full_page=False)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        # Every path is a real page: no "page not found" dialog, the right page highlighted.
        assert page.get_by_text("Page not found").count() == 0, name
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert t(f"nav.{name or 'home'}", lang) in nav
    assert not errors, errors
    page.close()


def test_language_switch_in_the_browser(server, browser):
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{server}/playground")  # no ?lang: the browser's locale (zh-CN) decides
    wait_until_idle(page)
    assert page.locator("h1").first.inner_text().strip() == t("playground.title", "zh")
    page.get_by_role("radio", name="English").click()
    page.wait_for_function(
        "t => document.querySelector('h1') && document.querySelector('h1').innerText.trim() === t",
        arg=t("playground.title", "en"),
        timeout=30_000,
    )
    assert "lang=en" in page.url
    page.close()
