"""Every page runs under AppTest in both languages without an exception; the language switch."""

import ast

import conftest
import pytest
from streamlit.testing.v1 import AppTest

from attnviz.i18n import LANGS, t

PAGES = ("home", *conftest.PAGES)


def test_the_page_list_is_the_apps():
    tree = ast.parse((conftest.ROOT / "app.py").read_text("utf-8"))
    served = next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id == "PAGES"
    )
    assert served == conftest.PAGES


def open_app(lang: str | None = None, page: str | None = None) -> AppTest:
    return conftest.open_app(page, lang)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_in_both_languages(page, lang):
    at = open_app(lang, page)
    assert not at.exception, [e.message for e in at.exception]
    assert at.session_state["lang"] == lang
    titles = [title.value for title in at.title]
    assert titles, f"page {page} shows no title"


def test_url_lang_picks_chinese_and_the_sidebar_offers_both_languages():
    # Clicking the switch is tested in a real browser (test_browser.py): AppTest cannot rerun a
    # page whose radios have a format_func after the language changes under it.
    at = open_app("zh", "playground")
    assert at.title[0].value == t("playground.title", "zh")
    switch = at.sidebar.button_group[0]
    assert switch.value == "zh" and switch.label == t("language", "zh")
    english = open_app("en", "playground")
    assert english.title[0].value == t("playground.title", "en")


def test_playground_bad_inputs_give_messages_in_the_users_language():
    at = open_app("zh", "playground")
    at.toggle(key="mode_text").set_value(True).run()
    cases = {
        "1 2\nx 3": t("error.cell_not_number", "zh", name="q"),
        " ": t("error.empty", "zh", name="q"),
        "1 nan 1 1": t("error.not_finite", "zh", name="q"),
        "1 2 3\n1 2": t("error.ragged", "zh", name="q"),
        "1 1": t("error.qk_width", "zh", q=2, k=4),
        "1e308 1e308 1e308 1e308": t("error.overflow", "zh"),
    }
    for text, message in cases.items():
        at.text_area(key="q_text").input(text).run()
        assert not at.exception, text
        assert [e.value for e in at.error] == [message], text
    # Huge but representable values: softmax stays finite, no message.
    at.text_area(key="q_text").input("1e30 1e30 0 0").run()
    assert not at.exception and not at.error
    at.text_area(key="k_text").input("1 2\n3 4\n5 6").run()
    assert [e.value for e in at.error] == [t("error.qk_width", "zh", q=4, k=2)]


@pytest.mark.parametrize(
    "score", ["dot", "scaled_dot", "cosine", "general", "additive", "neg_euclidean", "linear"]
)
def test_playground_every_score_function_with_causal_mask_and_comparison(score):
    at = open_app("en", "playground")
    at.selectbox(key="score").set_value(score).run()
    at.radio(key="mask").set_value("causal").run()
    at.toggle(key="compare").set_value(True).run()
    assert not at.exception and not at.error
    # Two score functions side by side: two breakdowns, each ending in its context line.
    shown = len({score, "cosine"})  # the comparison defaults to cosine
    assert sum(x.value.startswith("context =") for x in at.text) == shown


def test_choices_survive_a_change_of_language():
    # Widgets without a key take their identity from their (translated) label: they would go
    # back to their defaults when the language changes. The pages key the choices that matter.
    at = open_app("en", "image")
    at.selectbox(key="image_sample").select_index(3).run()
    chosen = at.selectbox(key="image_sample").value
    at.session_state["lang"] = "zh"
    at.run()
    assert not at.exception
    assert at.title[0].value != open_app("en", "image").title[0].value  # now in Chinese
    assert at.selectbox(key="image_sample").value == chosen
    text = open_app("en", "text")
    text.radio(key="text_model_minilm").set_value("e5").run()
    text.session_state["lang"] = "zh"
    text.run()
    assert not text.exception
    assert text.radio(key="text_model_minilm").value == "e5"
