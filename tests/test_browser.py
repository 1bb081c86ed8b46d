"""A real browser (Debian's Chromium driven by Playwright) opens every page in both languages
and finds no exception. The app runs as `streamlit run app.py` on a loopback port."""

import pytest
from conftest import PAGES, needs_chromium

from attnviz.i18n import t

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_page_opens_without_exception(server, browser, idle, lang, tmp_path_factory):
    shots = tmp_path_factory.mktemp(f"shots-{lang}")
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    for name in ("", *PAGES):
        page.goto(f"{server}/{name}?lang={lang}")
        idle(page)
        page.screenshot(path=str(shots / f"{name or 'home'}.png"), full_page=False)
        assert page.locator('[data-testid="stException"]').count() == 0, name
        # Every path is a real page: no "page not found" dialog, the right page highlighted.
        assert page.get_by_text("Page not found").count() == 0, name
        nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
        assert t(f"nav.{name or 'home'}", lang) in nav
    assert not errors, errors
    page.close()


def test_language_switch_in_the_browser(server, browser, idle):
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{server}/playground")  # no ?lang: the browser's locale (zh-CN) decides
    idle(page)
    assert page.locator("h1").first.inner_text().strip() == t("playground.title", "zh")
    page.get_by_role("radio", name="English").click()
    page.wait_for_function(
        "t => document.querySelector('h1') && document.querySelector('h1').innerText.trim() === t",
        arg=t("playground.title", "en"),
        timeout=30_000,
    )
    assert "lang=en" in page.url
    page.close()
