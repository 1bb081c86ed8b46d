"""In a real Chromium: a link opens the seq2seq page on its view, the widgets write the URL, the
alignment's matrix downloads as labelled CSV."""

from __future__ import annotations

import csv
import io

import pytest
from conftest import needs_chromium
from playwright.sync_api import expect
from test_lecture_browser import download, page, params, settle  # noqa: F401 (page: fixture)

from attnviz.i18n import t

pytestmark = [pytest.mark.browser, needs_chromium]


def test_seq2seq_link_and_csv(server, page, idle):  # noqa: F811
    page.goto(f"{server}/seq2seq?lang=en&text=1+March+2025&step=4&model=general")
    idle(page)
    # expect() retries: on a slow machine the widgets are drawn a moment after the run ends
    date_box = page.get_by_label(t("seq2seq.text_label", "en"), exact=True)  # not its help button
    expect(date_box).to_have_value("1 March 2025")
    # st.code draws once its highlighter has loaded, a moment after the script run ends
    page.locator('[data-testid="stCode"]').nth(1).get_by_text("-").first.wait_for()
    codes = page.locator('[data-testid="stCode"]').all_inner_texts()
    assert [c.strip() for c in codes][:2] == ["2025-03-01", "2025-03-01"]  # both models
    table = download(page, lambda: page.get_by_role("button", name="CSV").first.click())
    rows = list(csv.reader(io.StringIO(table.decode("utf-8-sig"))))
    assert "".join(rows[0][1:]).replace(" ", "").startswith("1March2025")  # input columns
    assert [sum(map(float, row[1:])) for row in rows[1:]] == pytest.approx([1] * (len(rows) - 1))
    radios = page.get_by_test_id("stRadioGroup")
    radios.get_by_text(t("seq2seq.model.additive", "en"), exact=True).click()
    settle(page, idle)
    assert params(page)["model"] == "additive" and params(page)["step"] == "4"
