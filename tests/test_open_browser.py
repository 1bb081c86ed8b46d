"""The open page in a real browser: a trace of transformers' BertModel saved with attnviz.save,
uploaded, drawn with the same numbers; labels stay text; a bad file gets a message; the page
fits a phone and, in presentation mode, a projector. Marked `browser`."""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest
from conftest import needs_chromium
from playwright.sync_api import expect
from test_open import bert, needs_minilm, reference  # noqa: F401 - `bert` is a fixture

import attnviz
from attnviz.i18n import t

pytestmark = [pytest.mark.browser, needs_chromium]

PLOT = '[data-testid="stPlotlyChart"]'
# The z of the first heatmap, as plotly.js holds it: a typed array per row, or the b64 spec.
READ_Z = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  const z = gd.data[0].z;
  if (z && z.bdata) return {dtype: z.dtype, bdata: z.bdata, shape: z.shape};
  return Array.from(z, row => Array.from(row));
}"""


def settle(page, idle) -> None:
    time.sleep(0.8)  # the rerun starts a moment after the event
    idle(page)


def upload(page, idle, path) -> None:
    page.locator('[data-testid="stFileUploader"] input[type="file"]').set_input_files(str(path))
    settle(page, idle)


def shown_z(page) -> np.ndarray:
    z = page.evaluate(READ_Z)
    if isinstance(z, dict):
        shape = tuple(int(n) for n in str(z["shape"]).split(","))
        return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)
    return np.array(z, dtype=np.float32)


@needs_minilm
def test_a_bert_trace_opens_with_the_same_numbers(server, browser, idle, bert, tmp_path):  # noqa: F811
    tokens, out, qkv = bert
    path = tmp_path / "mine.npz"
    attnviz.save(path, tokens, out.attentions, model="my-bert", **qkv)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/open?lang=en&layer=3&head=5")
    idle(page)
    upload(page, idle, path)
    title = t("text.heatmap_title", "en", layer=3, head=5)
    expect(page.locator("svg text.gtitle").filter(has_text=title)).to_have_count(1)
    np.testing.assert_array_equal(shown_z(page), reference(out)[2, 4])
    expect(page.get_by_text(t("text.breakdown_title", "en"))).to_have_count(1)
    assert page.locator('[data-testid="stException"]').count() == 0

    # A phone: no sideways scroll.
    page.set_viewport_size({"width": 390, "height": 844})
    time.sleep(0.8)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    # A projector in presentation mode: the heatmap starts above the fold.
    page.set_viewport_size({"width": 1366, "height": 768})
    page.get_by_text(t("present.toggle", "en"), exact=True).click()
    settle(page, idle)
    plot = page.locator(PLOT).first.bounding_box()
    assert plot["y"] < 768, plot
    assert not errors, errors
    page.close()


def test_labels_stay_text_and_a_bad_file_gets_a_message(server, browser, idle, tmp_path):
    labels = ["<b>bold</b>", "<img src=x onerror=alert(1)>", "&amp;"]
    weights = np.full((1, 2, 3, 3), 1 / 3, np.float32)
    good, bad = tmp_path / "labels.npz", tmp_path / "bad.npz"
    attnviz.save(good, labels, weights)
    np.savez(bad, tokens=np.array(labels), attentions=weights * 2)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{server}/open?lang=zh")
    idle(page)
    upload(page, idle, good)
    expect(page.get_by_text(" · ".join(labels), exact=True)).to_have_count(1)
    assert page.locator('[data-testid="stMain"] b', has_text="bold").count() == 0
    assert page.locator('[data-testid="stMain"] img[src="x"]').count() == 0
    upload(page, idle, bad)
    message = t("error.open_row_sum", "zh", layer=1, head=1, row=1, total=1.0 * 2)
    expect(page.locator('[data-testid="stAlert"]').filter(has_text=message)).to_have_count(1)
    assert not dialogs, dialogs
    page.close()


def test_an_opened_traces_line_view_answers_hover_with_its_labels_as_text(
    server, browser, idle, tmp_path
):
    """The open page draws the text page's line view (figures.lines): a label is SVG text, never
    markup, and hovering it highlights its lines."""
    labels = ["<b>bold</b>", "<img src=x>", "&amp;"]  # under the 18 characters a label keeps
    weights = np.array([[[[0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]]]], np.float32)
    path = tmp_path / "labels.npz"
    attnviz.save(path, labels, weights)
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(f"{server}/open?lang=en&view=lines")
    idle(page)
    upload(page, idle, path)
    view = page.locator(".stBidiComponent >> visible=true").first
    view.wait_for(timeout=60_000)
    shown = view.locator("g.q text").evaluate_all("els => els.map(e => e.textContent)")
    assert shown == labels
    assert view.locator("b").count() == 0 and view.locator("img").count() == 0
    label = view.locator("g.q text").nth(1)
    before = (
        view.locator("g.q")
        .nth(1)
        .locator("line")
        .first.evaluate("e => getComputedStyle(e).strokeWidth")
    )
    label.hover()
    time.sleep(0.5)
    after = (
        view.locator("g.q")
        .nth(1)
        .locator("line")
        .first.evaluate("e => getComputedStyle(e).strokeWidth")
    )
    assert before != after, (before, after)
    page.close()
