"""The text models' bad input: empty, too long, invisible, odd and markup text, in both models."""

from __future__ import annotations

import numpy as np
import pytest

from attnviz.errors import InputError
from attnviz.i18n import catalog
from attnviz.text import MAX_CHARS, MAX_TOKENS
from attnviz.zoo import registry

BAD = {
    "nul_control": "The cat\x00 sat\x07 on\x1b the mat",
    "zero_width": "zero\u200bwidth\u200djoin\u2060 text",
    "rtl": "שלום עולם مرحبا بالعالم \u202eevil\u202c text",
    "emoji": "family 👨‍👩‍👧‍👦 flags 🇨🇳🇺🇸 skin 👍🏽 ❤️",
    "html": "<img src=x onerror=alert(1)>",
    "markup": "**bold** _it_ `code` $\\frac{a}{b}$ \\section{x} [a](javascript:alert(1))",
}


def _models(request):
    names = [n for n in ("minilm", "e5") if registry.installed(n)]
    if not names:
        pytest.skip("neither text model is installed")
    return [request.getfixturevalue(n) for n in names]


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \r\n", "\x00\x00", None])
def test_empty_text_is_an_input_error(request, text):
    for model in _models(request):
        with pytest.raises(InputError) as err:
            model.trace(text)
        assert err.value.key == "error.text_empty"


def test_whitespace_pair_is_an_input_error(request):
    for model in _models(request):
        with pytest.raises(InputError) as err:
            model.trace("Hello", "   ")
        assert err.value.key == "error.pair_empty"
        # an empty pair means "no pair"
        assert model.trace("Hello", "").segment.max() == 0


def test_very_long_text_gets_a_message(request):
    for model in _models(request):
        with pytest.raises(InputError) as err:
            model.trace("a" * 100_000)
        assert err.value.key == "error.text_too_long" and err.value.params["got"] == 100_000
        trace = model.trace("word " * (MAX_CHARS // 5))  # at the limit: cut to 512, flagged
        assert len(trace.tokens) == MAX_TOKENS and bool(trace.truncated)


def test_only_invisible_characters(request):
    for model in _models(request):
        with pytest.raises(InputError) as err:
            model.trace("\u200b\u200b")
        assert err.value.key == "error.text_no_tokens"


@pytest.mark.parametrize("case", sorted(BAD))
def test_odd_text_gives_a_correct_trace(request, case):
    for model in _models(request):
        trace = model.trace(BAD[case])
        t = len(trace.tokens)
        assert t > 2 and trace.attentions.shape[-2:] == (t, t)
        assert np.isfinite(trace.attentions).all()
        np.testing.assert_allclose(trace.attentions.sum(-1), 1.0, atol=1e-5)
        assert len(trace.word_index) == t
        if case == "nul_control":
            assert int(trace.removed) == 3
            assert not any("\x00" in tok or "\x07" in tok for tok in trace.tokens)


def test_markup_is_kept_as_literal_tokens(request):
    for model in _models(request):
        trace = model.trace(BAD["html"])
        joined = "".join(trace.display[1:-1])
        # every character of the tag survives as text (BERT lower-cases, spaces are dropped)
        assert joined.lower() == BAD["html"].replace(" ", "").lower()
        assert "<" in trace.tokens or any(tok.endswith("<") for tok in trace.tokens)


def test_catalog_has_every_backend_message():
    keys = [
        "error.text_empty",
        "error.pair_empty",
        "error.text_too_long",
        "error.text_no_tokens",
        "error.text_not_text",
        "error.text_unknown_model",
    ]
    for lang in ("en", "zh"):
        for key in keys:
            assert key in catalog(lang), (lang, key)


def test_unknown_model_name():
    from attnviz.zoo import bert

    with pytest.raises(InputError) as err:
        bert.load("gpt2")
    assert err.value.key == "error.text_unknown_model"
