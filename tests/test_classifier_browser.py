"""The sentiment and digits pages in a real Chromium: a digit drawn on the canvas with the
mouse is read by the model; the sentiment page shows both models."""

import pytest
from conftest import needs_chromium
from playwright.sync_api import expect

from attnviz.i18n import t

pytestmark = [pytest.mark.browser, needs_chromium]


def test_draw_a_digit_on_the_canvas(tab, idle):
    page = tab("digits?lang=en", height=1100)
    expect(page.get_by_text(t("digits.draw_empty", "en"))).to_have_count(1)
    canvas = page.locator("canvas").last
    canvas.wait_for(timeout=30_000)
    box = canvas.bounding_box()
    # a "1": one vertical stroke down the middle
    x = box["x"] + box["width"] / 2
    page.mouse.move(x, box["y"] + 40)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(x, box["y"] + 40 + step * (box["height"] - 80) / 20)
    page.mouse.up()
    page.get_by_text(t("digits.prediction", "en")).first.wait_for(timeout=60_000)
    idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stMetricValue"]').first.inner_text().strip() in "0123456789"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_sentiment_page_shows_both_models(tab, lang):
    page = tab(f"sentiment?lang={lang}", height=1100)
    page.locator('[data-testid="stMetric"]').nth(1).wait_for(timeout=120_000)
    assert page.locator('[data-testid="stException"]').count() == 0
    expect(page.locator('[data-testid="stMetric"]')).to_have_count(2)
    assert page.get_by_text(t("sentiment.model_lstm", lang)).count() >= 1
