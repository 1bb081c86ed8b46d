"""Every view is a link on the seq2seq, sentiment, digits and examples pages: a URL with state
restores the view, widgets write the URL, bad values fall back to the default with a notice
that never repeats the value (ui/state.py), figures carry their exports (ui/charts.py)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest
from test_lecture import notices, open_link  # tests/ is on sys.path (pytest's prepend mode)

from attnviz.i18n import t

HOSTILE = "<script>alert(1)</script> **bold**"


def link_notices(at: AppTest) -> list[str]:
    refused = {t("link.bad_value", "en", param=p) for p in at.query_params}
    return [n for n in notices(at) if n in refused]


def bad(at: AppTest, *params: str) -> None:
    """Each parameter got its notice; the hostile value is shown nowhere as Markdown."""
    for param in params:
        assert t("link.bad_value", "en", param=param) in notices(at), (param, notices(at))
    shown = [*at.markdown, *at.warning, *at.caption, *at.info]
    assert all(HOSTILE not in str(e.value) for e in shown)


def downloads(at: AppTest) -> set[str]:
    return {b.proto.label for b in at.get("download_button")}


def test_seq2seq_link_restores_the_view_and_the_url_follows_widgets():
    at = open_link("seq2seq", lang="en", text="1 March 2025", step="4", model="general")
    assert at.text_input(key="s2s_text").value == "1 March 2025"
    assert at.selectbox(key="s2s_sample").value == "own"  # a link's own text is no sample
    assert at.slider(key="s2s_step").value == 4
    assert at.radio(key="s2s_breakdown_model").value == "general"
    assert [c.value for c in at.code][:2] == ["2025-03-01", "2025-03-01"]
    assert not link_notices(at)
    assert {"HTML", "CSV", "NPY", t("export.trace", "en")} <= downloads(at)
    at.slider(key="s2s_step").set_value(2).run()
    at.selectbox(key="s2s_sample").set_value("us_short").run()
    assert at.query_params["step"] == "2" and at.query_params["sample"] == "us_short"
    assert at.query_params["text"] == "11/22/26"


def test_sentiment_link_restores_the_view_and_the_url_follows_widgets():
    at = open_link("sentiment", lang="en", language="en", source="own", text="**not** <b>bad</b>")
    assert at.segmented_control(key="sentiment_language").value == "en"
    assert at.radio(key="sentiment_source").value == "own"
    assert at.text_area(key="sentiment_own").value == "**not** <b>bad</b>"
    assert not notices(at) and len(at.metric) == 2
    assert all("<b>" not in str(m.value) for m in at.markdown)
    assert {"HTML", "CSV", "NPY", t("export.trace", "en")} <= downloads(at)
    at = open_link("sentiment", lang="zh", language="zh", sample="2", model="lstm")
    assert at.selectbox(key="sentiment_sample_zh").index == 2
    assert at.radio(key="sentiment_breakdown").value == "lstm" and not notices(at)
    at.radio(key="sentiment_breakdown").set_value("pooling").run()
    assert at.query_params["model"] == "pooling" and at.query_params["sample"] == "2"


def test_digits_link_restores_the_view_and_the_url_follows_widgets():
    bad_link = open_link("digits", lang="en", source="sample", sample=HOSTILE, position="999")
    assert (bad_link.session_state["digits_sample"], bad_link.session_state["digits_query"]) == (
        0,
        0,
    )
    bad(bad_link, "sample", "position")
    at = open_link("digits", lang="en", source="sample", sample="3", position="24")
    assert at.radio(key="digits_source").value == "sample"
    assert at.selectbox(key="digits_sample").value == 2  # counted from 1 in the link
    assert at.selectbox(key="digits_query").value == 24 and not notices(at)
    assert {"HTML", "CSV", "NPY", t("export.trace", "en")} <= downloads(at)
    at.selectbox(key="digits_query").set_value(5).run()
    assert at.query_params["position"] == "5" and at.query_params["sample"] == "3"
    # A drawing cannot be linked: the page says so and the link keeps none of the sample.
    at.radio(key="digits_source").set_value("draw").run()
    assert t("digits.no_link", "en") in [c.value for c in at.caption]
    assert not {"source", "sample", "position"} & set(at.query_params)


def test_examples_link_restores_the_view_and_presentation_reveals_the_steps():
    at = open_link("examples", lang="en", example="001-4.4", step="2", query="2", present="1")
    assert at.selectbox(key="examples_path").value == "001-4.4"
    assert at.radio(key="001-4.4_walk").value == 2
    assert at.selectbox(key="001-4.4_2_query").value == 2
    assert not link_notices(at)
    assert {"HTML", "CSV", "NPY"} <= downloads(at)
    columns = lambda: list(at.table[-1].value.columns)  # noqa: E731 (presentation: HTML tables)
    from attnviz import examples

    symbol = examples.run("001-4.4").steps[2].notation  # the breakdown speaks the article's
    assert columns()[-1] == symbol["scores"]  # presentation: one step per click
    at.button(key="step_next_examples").click().run()
    assert columns()[-1] == symbol["scaled"]
    at.selectbox(key="examples_path").set_value("002-4").run()  # its own first computation
    assert at.query_params["example"] == "002-4" and at.query_params["step"] == "0"


def test_generate_link_restores_the_settings_and_the_view(smollm2, monkeypatch):
    from attnviz.zoo import llama

    monkeypatch.setattr(llama, "load", lambda: smollm2)
    at = open_link(
        "generate", lang="en", text="**One** <b>two</b>", decoding="sample", temp="0.5",
        top_k="7", max_new="2", seed="3", layer="2", head="5", view="lines",
    )  # fmt: skip
    assert at.text_area(key="gen_text").value == "**One** <b>two</b>"
    assert at.button_group(key="gen_decoding").value == "sample"
    assert at.slider(key="gen_temperature").value == 0.5
    values = [at.number_input(key=k).value for k in ("gen_top_k", "gen_max_new", "gen_seed")]
    assert values == [7, 2, 3] and not link_notices(at)
    assert t("generate.link_note", "en") in [c.value for c in at.caption]
    at.button(key="gen_start").click().run()
    assert not at.exception and len(at.session_state["gen_handle"].job.steps) == 3
    assert (at.selectbox(key="gen_layer").value, at.selectbox(key="gen_head").value) == (2, 5)
    assert at.radio(key="gen_view").value == "lines"
    assert {"HTML", "CSV", "NPY"} <= downloads(at)
    assert all("<b>" not in str(m.value) for m in at.markdown)
    at.radio(key="gen_view").set_value("heatmap").run()
    assert at.query_params["view"] == "heatmap"


def test_generate_bad_link_gives_defaults_and_notices(smollm2, monkeypatch):
    from attnviz.zoo import llama

    monkeypatch.setattr(llama, "load", lambda: smollm2)
    at = open_link(
        "generate", lang="en", decoding=HOSTILE, temp="0", top_k="0", top_p="nan",
        max_new="9999", seed="-1",
    )  # fmt: skip
    assert at.button_group(key="gen_decoding").value == "greedy"
    assert at.slider(key="gen_temperature").value == 1.0
    assert at.number_input(key="gen_top_k").value == 50
    assert at.number_input(key="gen_max_new").value == 24
    bad(at, "decoding", "temp", "top_k", "top_p", "max_new", "seed")
    assert not at.error


def test_presentation_mode_folds_inputs_and_reveals_breakdown_steps():
    for page, params, name in (
        ("seq2seq", {}, "seq2seq"),
        ("sentiment", {}, "sentiment"),
        ("digits", {"source": "sample"}, "digits"),
    ):
        at = open_link(page, lang="zh", present="1", **params)
        folded = [e.label for e in at.expander]
        if page == "digits":  # the canvas to draw on is the demo itself: in view (issue 17)
            assert t("present.inputs", "zh") not in folded
        else:
            assert folded[0] == t("present.inputs", "zh"), page
        assert at.button(key=f"step_back_{name}").disabled, page  # on step 1
        at.button(key=f"step_next_{name}").click().run()
        assert not at.exception and not at.button(key=f"step_back_{name}").disabled, page
        # read from the link, then dropped: a link copied now opens in normal mode (issue 17)
        assert "present" not in at.query_params and at.session_state["present"]


# page, the link's parameters (every one refused), the defaults shown instead (session keys)
BAD_LINKS = [
    (
        "seq2seq",
        {"sample": HOSTILE, "step": "99", "model": HOSTILE},
        {"s2s_sample": "month_dth_yyyy", "s2s_step": 1, "s2s_breakdown_model": "additive"},
    ),
    (
        "sentiment",
        {"language": HOSTILE, "source": HOSTILE, "sample": "999", "model": HOSTILE},
        {
            "sentiment_language": "en",
            "sentiment_source": "sample",
            "sentiment_breakdown": "pooling",
        },
    ),
    ("digits", {"source": HOSTILE}, {"digits_source": "draw"}),
    (
        "examples",
        {"example": HOSTILE, "step": "99", "query": "1"},
        {"examples_path": "001-4.4", "001-4.4_walk": 0, "001-4.4_0_query": 0},
    ),
]


@pytest.mark.parametrize(("page", "params", "defaults"), BAD_LINKS)
def test_bad_link_gives_defaults_and_notices(page, params, defaults):
    at = open_link(page, lang="en", **params)
    assert {key: at.session_state[key] for key in defaults} == defaults
    bad(at, *params)
