"""The seq2seq page in a real Chromium: both models' outputs, the alignment heatmaps, and the
animation's play button walking the decoder through the output."""

import pytest
from conftest import needs_chromium
from playwright.sync_api import expect

from attnviz.i18n import t
from attnviz.zoo import registry

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(
        not registry.installed("dates-additive"), reason="models/dates-additive/ missing"
    ),
]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_seq2seq_page_draws_and_plays(server, browser, idle, lang, tmp_path_factory):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/seq2seq?lang={lang}")
    idle(page)
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator("h1").first.inner_text().strip() == t("seq2seq.title", lang)
    # st.code draws once its highlighter has loaded, a moment after the script run ends
    page.locator('[data-testid="stCode"]').nth(1).get_by_text("-").first.wait_for()
    codes = page.locator('[data-testid="stCode"]').all_inner_texts()
    assert [c.strip() for c in codes] == ["2026-11-22", "2026-11-22"]
    charts = page.locator(".js-plotly-plot")
    # plotly draws each figure a moment after the run ends; expect() retries until all three are
    expect(charts).to_have_count(3)
    # the heatmap cells are drawn (plotly paints a heatmap as an image inside the plot)
    expect(charts.first.locator(".hm image, .heatmaplayer image").first).to_be_attached()
    play = page.get_by_text(t("seq2seq.play", lang), exact=True)
    play.scroll_into_view_if_needed()
    play.click()
    page.wait_for_timeout(1500)
    shot = tmp_path_factory.mktemp(f"seq2seq-{lang}") / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert not errors, errors
    page.close()
