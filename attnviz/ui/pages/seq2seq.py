"""Cross-attention on the job: two GRU seq2seq models (additive and general attention) rewrite a
date as ISO; their alignments side by side, an animation, and any decoder step broken down.

Only wiring: models and traces come from cached calls into attnviz.zoo.seq2seq, figures from
attnviz.figures, the breakdown from ui.breakdown.render_breakdown.
"""

from datetime import date

import streamlit as st

from attnviz import dateforms, i18n
from attnviz.figures import seq2seq as figs
from attnviz.figures.breakdown import vector_text
from attnviz.ui import cache, charts, present, state
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import labeler, lang, show_error, t
from attnviz.zoo import seq2seq

SCORES = ("additive", "general")
SAMPLE_DAY = date(2026, 11, 22)
EXTRAS = {
    "extra_impossible": "31 Feb 2026",
    "extra_outside": "22-Nov-2026",
    "extra_mixed": "2026年 Nov 22日",
}


def sample_text(sample: str) -> str:
    if sample in EXTRAS:
        return EXTRAS[sample]
    return dateforms.render(sample, SAMPLE_DAY)


def set_sample() -> None:
    if st.session_state.s2s_sample != "own":
        st.session_state.s2s_text = sample_text(st.session_state.s2s_sample)


def mark_own() -> None:
    st.session_state.s2s_sample = "own"  # edited text is no longer the sample it started as


language = lang()  # option labels are formatted outside this run under AppTest


def sample_label(sample: str) -> str:
    if sample == "own":
        return i18n.t("seq2seq.own", language)
    if sample in EXTRAS:
        return i18n.t(f"seq2seq.samples.{sample}", language)
    return f"{sample_text(sample)}  ·  {i18n.t(f'seq2seq.forms.{sample}', language)}"


st.title(t("seq2seq.title"))
if not present.active():
    st.markdown(t("seq2seq.intro"))

samples = ["own", *dateforms.FORMS, *EXTRAS]
with present.fold(t("present.inputs")):
    first_sample = "zh_numerals" if language == "zh" else "month_dth_yyyy"
    sample = state.bind("s2s_sample", "sample", first_sample, state.choice(samples))
    opening = "" if sample == "own" else sample_text(sample)
    state.bind("s2s_text", "text", opening, state.text())
    if sample != "own" and st.session_state.s2s_text != opening:  # a link with its own text
        st.session_state.s2s_sample = "own"
        state.bind("s2s_sample", "sample", "own", state.choice(samples))
    # side by side: one row of inputs keeps the first figure above the fold
    left, right = st.columns(2)
    left.selectbox(
        t("seq2seq.sample_label"),
        samples,
        format_func=sample_label,
        key="s2s_sample",
        on_change=set_sample,
    )
    text = right.text_input(
        t("seq2seq.text_label"), key="s2s_text", on_change=mark_own, help=t("seq2seq.text_help")
    )

traces = {}
try:
    for score in SCORES:
        traces[score] = cache.get_trace(f"dates-{score}", text)
except Exception as exc:  # InputError / ModelMissing become messages; anything else re-raises
    show_error(exc)
    st.stop()

first = traces[SCORES[0]]
if first.unknown:
    st.warning(t("seq2seq.unknown_label"), icon="⚠️")
    st.code(" ".join(first.unknown), language=None)

steps = len(first.output_tokens)
state.bind("s2s_step", "step", 1, state.integer(1, steps))
step = st.slider(t("seq2seq.step_label"), 1, steps, key="s2s_step") - 1

for column, score in zip(st.columns(len(SCORES)), SCORES, strict=True):
    trace = traces[score]
    with column:
        # name and output in two short lines, the form read under the figure: the figure
        # starts above the fold at 1366×768
        st.markdown(f"**{t(f'seq2seq.model.{score}')}** · {t('seq2seq.output')}")
        st.code(trace.prediction, language=None)
        for key in trace.notices():
            if key != "seq2seq.notice.unknown_chars":  # said once above the columns
                st.warning(t(key), icon="⚠️")
        fig = figs.alignment(
            trace.weights, trace.input_tokens, trace.output_tokens, step=step,
            x_title=t("seq2seq.input_axis"), y_title=t("seq2seq.output_axis"),
        )  # fmt: skip
        charts.chart(
            fig, key=f"s2s_alignment_{score}", name=f"dates-{score}", matrix=trace.weights,
            rows=trace.output_tokens, cols=trace.input_tokens,
        )  # fmt: skip
        if trace.form is not None:
            st.caption(t("seq2seq.form", form=t(f"seq2seq.forms.{trace.form}")))

state.bind("s2s_breakdown_model", "model", SCORES[0], state.choice(SCORES))
chosen = st.radio(
    t("seq2seq.breakdown_model"),
    SCORES,
    format_func=labeler("seq2seq.model."),
    horizontal=True,
    key="s2s_breakdown_model",
)
trace = traces[chosen]
st.subheader(t("seq2seq.breakdown_title", step=step + 1, model=t(f"seq2seq.model.{chosen}")))
st.caption(
    t(
        "seq2seq.step_caption",
        step=step + 1,
        char=trace.output_tokens[step],
        probability=float(trace.confidence[step]),
        previous=step,
    )
)
st.text(t("seq2seq.state", previous=step, vector=vector_text(trace.step.q[step], limit=8)))
render_breakdown(
    trace.step, trace.input_tokens, query=step, widget_key="s2s_breakdown",
    shown=present.steps("seq2seq", len(present.STEPS)),
)  # fmt: skip

st.caption(t("seq2seq.animation"))
charts.chart(
    figs.animation(
        trace.weights,
        trace.input_tokens,
        trace.output_tokens,
        play=t("seq2seq.play"),
        pause=t("seq2seq.pause"),
        x_title=t("seq2seq.input_axis"),
        y_title=t("seq2seq.output_axis"),
    ),  # fmt: skip
    key="s2s_animation",
    name=f"dates-{chosen}-animation",
    matrix=trace.weights,
    rows=trace.output_tokens,
    cols=trace.input_tokens,
)
charts.trace_download(lambda: seq2seq.npz_arrays(trace), f"dates-{chosen}-trace", key="s2s_npz")
state.link_box()
