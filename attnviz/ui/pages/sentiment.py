"""Sentiment: two attention classifiers (001's pooling, 000's LSTM) read the same sentence.

Only wiring: widgets -> cached traces (zoo/classifier.py) -> figures/classifier.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from attnviz.errors import InputError
from attnviz.figures import classifier as figs
from attnviz.loading import data
from attnviz.ui import attribution_view, cache, charts, present, state
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import labeler, lang, show_error, t
from attnviz.zoo import classifier

KINDS = ("pooling", "lstm")
MODELS = {
    ("pooling", "zh"): "sentiment-zh",
    ("lstm", "zh"): "lstm-zh",
    ("pooling", "en"): "sentiment-en",
    ("lstm", "en"): "lstm-en",
}


def pick_sentence(language: str) -> str:
    state.bind("sentiment_source", "source", "sample", state.choice(("sample", "own")))
    source = st.radio(
        t("sentiment.source"),
        ("sample", "own"),
        horizontal=True,
        format_func=labeler("sentiment.source_"),
        key="sentiment_source",
    )
    if source == "sample":
        samples = data.sample_sentences()[language]
        key = f"sentiment_sample_{language}"
        state.bind(
            key,
            "sample",
            samples[0],
            state.choice(samples, {s: str(i) for i, s in enumerate(samples)}),
        )
        state.drop_params("text")
        return st.selectbox(t("sentiment.sample"), samples, key=key)
    state.bind("sentiment_own", "text", "", state.text())
    state.drop_params("sample")
    sentence = st.text_area(
        t("sentiment.own"), placeholder=t("sentiment.own_placeholder"), key="sentiment_own"
    )
    if len(sentence) > state.MAX_URL_TEXT:
        st.caption(t("link.text_too_long", limit=state.MAX_URL_TEXT))
    return sentence


def language_notice(language: str, sentence: str) -> None:
    if classifier.other_language(language, sentence):
        st.warning(t(f"sentiment.other_language_{language}"), icon="🌐")


def show_model(kind: str, name: str, trace) -> None:
    label = t(f"sentiment.label.{trace.labels[trace.prediction]}")
    st.subheader(t(f"sentiment.model_{kind}"))
    st.metric(
        t("sentiment.prediction"),
        label,
        t("sentiment.probability", p=trace.probabilities[trace.prediction]),
        delta_color="off",
        delta_arrow="off",
    )
    charts.chart(
        figs.shaded_tokens(trace.tokens, trace.step.weights[0]), key=f"shaded_{kind}",
        name=f"{name}-weights", matrix=trace.step.weights, rows=[t("sentiment.weight")],
        cols=trace.tokens,
    )  # fmt: skip
    charts.chart(
        figs.probabilities([t(f"sentiment.label.{x}") for x in trace.labels], trace.probabilities),
        key=f"probabilities_{kind}",
        name=f"{name}-probabilities",
    )
    if trace.dropped:
        st.caption(t("sentiment.truncated", kept=len(trace.tokens), dropped=trace.dropped))
    scores = classifier.held_out(name)
    parts = [
        t("sentiment.held_out_part", **{**part, "domain": t(f"sentiment.domain.{part['domain']}")})
        for part in scores["data"]
    ]
    st.caption(t("sentiment.held_out", **scores, parts=t("sentiment.held_out_join").join(parts)))
    charts.trace_download(
        lambda: classifier.npz_arrays(trace), f"{name}-trace", key=f"sentiment_npz_{kind}"
    )


def show_agreement(traces: dict, language: str) -> None:
    pooling, lstm = traces["pooling"], traces["lstm"]
    a, b = (t(f"sentiment.label.{x.labels[x.prediction]}") for x in (pooling, lstm))
    if pooling.prediction == lstm.prediction:
        st.success(t("sentiment.agree", label=a))
    else:
        st.info(t("sentiment.disagree", pooling=a, lstm=b))
    weights = {t(f"sentiment.model_{k}"): traces[k].step.weights[0] for k in KINDS}
    charts.chart(
        figs.compare_weights(pooling.tokens, weights), key="compare",
        name=f"sentiment-{language}-compare", matrix=np.stack(list(weights.values())),
        rows=list(weights), cols=pooling.tokens,
    )  # fmt: skip
    st.caption(t("sentiment.overlap", value=figs.overlap(*weights.values())))


def show_breakdown(traces: dict) -> None:
    st.subheader(t("breakdown.title"))
    state.bind("sentiment_breakdown", "model", KINDS[0], state.choice(KINDS))
    kind = st.radio(
        t("sentiment.breakdown_model"),
        KINDS,
        horizontal=True,
        format_func=labeler("sentiment.model_"),
        key="sentiment_breakdown",
    )
    trace = traces[kind]
    st.caption(t(f"sentiment.vectors_{kind}"))
    render_breakdown(
        trace.step, trace.tokens, widget_key=f"sentiment_breakdown_{kind}",
        shown=present.steps("sentiment", len(present.STEPS)),
    )  # fmt: skip
    st.markdown(f"**{t('sentiment.logits_title')}**")
    st.latex(
        r"\mathrm{logits} = W\,\mathrm{context} + b,\quad p = \mathrm{softmax}(\mathrm{logits})"
    )
    present.table(
        pd.DataFrame(
            {
                t("sentiment.class"): [t(f"sentiment.label.{x}") for x in trace.labels],
                "W·context": trace.logits - trace.bias,
                "b": trace.bias,
                t("sentiment.logit"): trace.logits,
                t("sentiment.probability_column"): trace.probabilities,
            }
        ),
        hide_index=True,
    )


st.title(t("sentiment.title"))
if not present.active():
    st.markdown(t("sentiment.intro"))
inputs, main = present.frame(t("present.inputs"))
with inputs:
    state.bind("sentiment_language", "language", lang(), state.choice(("zh", "en")))
    language = st.segmented_control(
        t("sentiment.language"),
        ("zh", "en"),
        format_func=labeler("sentiment.language_"),
        key="sentiment_language",
        required=True,
    )
    sentence = pick_sentence(language)
with main:
    try:
        traces = {kind: cache.get_trace(MODELS[kind, language], sentence) for kind in KINDS}
    except InputError as exc:
        show_error(exc)
        st.stop()
    language_notice(language, sentence)
    for column, kind in zip(st.columns(2), KINDS, strict=True):
        with column:
            show_model(kind, MODELS[kind, language], traces[kind])
    show_agreement(traces, language)
    show_breakdown(traces)
    attribution_view.show_classifier(
        MODELS[st.session_state.sentiment_breakdown, language], sentence
    )
state.link_box()
