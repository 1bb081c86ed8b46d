"""AppTest of the sentiment and digits pages with the real trained models, in both languages,
with samples, own input and bad input."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from conftest import open_app
from PIL import Image
from streamlit.testing.v1 import AppTest

from attnviz.figures import classifier as figs
from attnviz.i18n import LANGS, t
from attnviz.zoo import classifier

ROOT = Path(__file__).resolve().parents[1]


def open_page(page: str, lang: str) -> AppTest:
    at = open_app(page, lang)
    assert not at.exception, [e.value for e in at.exception]
    return at


def png(array: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("lang", LANGS)
def test_sentiment_samples_in_both_model_languages(lang):
    at = open_page("sentiment", lang)
    for language in ("zh", "en"):
        at.segmented_control(key="sentiment_language").set_value(language).run()
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert len(at.metric) == 2  # the two models side by side
        assert at.success or at.info  # agreement, either way
        # 2 shaded, 2 probabilities, 1 comparison, 1 attention beside attribution
        assert len(at.get("plotly_chart")) == 6
        assert len(at.dataframe) == 3  # breakdown table, logits table, attributions per token
        for name in (f"sentiment-{language}", f"lstm-{language}"):  # how good, and on what
            scores = classifier.held_out(name)
            shown = [c.value for c in at.caption if f"{scores['accuracy']:.1%}" in c.value]
            domains = [t(f"sentiment.domain.{part['domain']}", lang) for part in scores["data"]]
            assert len(shown) == 1 and all(d in shown[0] for d in domains), shown
    at.radio(key="sentiment_breakdown").set_value("lstm").run()
    assert not at.exception
    # any own text: both models cut it the same way (one tokenizer a language), so the
    # comparison of their weights is always drawn
    at.segmented_control(key="sentiment_language").set_value("zh").run()
    own(at, "房间很干净，但是早餐一般，服务员态度冷淡。")
    assert len(at.get("plotly_chart")) == 6


@pytest.mark.parametrize("lang", LANGS)
def test_plain_english_sentences_get_their_polarity(lang):
    at = open_page("sentiment", lang)
    at.segmented_control(key="sentiment_language").set_value("en").run()
    for sentence, label in (
        ("I absolutely loved this movie", "positive"),
        ("What a fantastic performance by the whole cast", "positive"),
        ("The plot was boring and the acting was terrible", "negative"),
    ):
        own(at, sentence)
        assert [m.value for m in at.metric] == [t(f"sentiment.label.{label}", lang)] * 2


def own(at: AppTest, sentence: str) -> AppTest:
    at.radio(key="sentiment_source").set_value("own").run()
    at.text_area(key="sentiment_own").input(sentence).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("sentence", "key"),
    [
        ("", "error.text_empty"),
        ("?!…😀🎉", "error.sentiment_no_words"),
        ("a" * 100_000, "error.text_too_long"),
    ],
)
def test_sentiment_bad_input_gets_a_message(lang, sentence, key):
    at = own(open_page("sentiment", lang), sentence)
    params = {"got": len(sentence), "limit": 10_000} if key == "error.text_too_long" else {}
    assert [e.value for e in at.error] == [t(key, lang, **params)]


@pytest.mark.parametrize("lang", LANGS)
def test_sentiment_other_language_is_labelled(lang):
    at = open_page("sentiment", lang)
    at.segmented_control(key="sentiment_language").set_value("zh").run()
    own(at, "What a wonderful day")
    assert [w.value for w in at.warning] == [t("sentiment.other_language_zh", lang)]
    assert len(at.metric) == 2


def test_user_text_is_never_markdown():
    at = open_page("sentiment", "en")
    own(at, "**bold** <b>tag</b> [link](http://x)")
    markdown = " ".join(str(m.value) for m in at.markdown)
    assert "tag</b>" not in markdown and "**bold**" not in markdown


@pytest.mark.parametrize("lang", LANGS)
def test_digits_held_out_sample_and_query_choice(lang):
    at = open_page("digits", lang)
    at.radio(key="digits_source").set_value("sample").run()
    assert not at.exception and not at.error
    assert at.metric[0].value in {str(d) for d in range(10)}
    at.selectbox(key="digits_query").set_value(24).run()
    assert not at.exception
    assert len(at.dataframe) == 1  # the breakdown of the chosen position


@pytest.mark.parametrize("lang", LANGS)
def test_digits_blank_draw_asks_for_a_digit(lang):
    at = open_page("digits", lang)  # starts on the (empty) canvas
    assert [i.value for i in at.info] == [t("digits.draw_empty", lang)]
    assert not at.metric


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    ("picture", "key"),
    [
        (np.full((280, 280), 255, np.uint8), "error.digit_blank"),
        (np.full((1, 1), 0, np.uint8), "error.image_too_small"),
    ],
)
def test_digits_bad_upload_gets_a_message(lang, picture, key):
    at = open_page("digits", lang)
    at.radio(key="digits_source").set_value("upload").run()
    at.file_uploader(key="digits_upload").set_value(("x.png", png(picture), "image/png")).run()
    assert not at.exception
    params = {"width": 1, "height": 1, "min": 14} if key == "error.image_too_small" else {}
    assert [e.value for e in at.error] == [t(key, lang, **params)]


def test_digits_photo_is_a_labelled_best_effort():
    at = open_page("digits", "zh")
    at.radio(key="digits_source").set_value("upload").run()
    photo = (ROOT / "assets" / "images" / "astronaut.jpg").read_bytes()
    at.file_uploader(key="digits_upload").set_value(("a.jpg", photo, "image/jpeg")).run()
    assert not at.exception
    assert t("notice.digit_not_digit", "zh") in [w.value for w in at.warning]
    assert len(at.metric) == 1


def test_shaded_tokens_escape_user_text():
    fig = figs.shaded_tokens(["<b>x</b>", "&"], np.array([0.25, 0.75]))
    assert list(fig.data[0].text.ravel()[:2]) == ["&lt;b&gt;x&lt;/b&gt;", "&amp;"]
    assert np.nanmax(fig.data[0].z) == pytest.approx(0.75)
