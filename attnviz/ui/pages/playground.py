"""Playground: edit q, k, v, pick the score function, temperature and mask; every step live."""

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import attention
from attnviz.errors import InputError
from attnviz.figures.heatmap import DIVERGING, heatmap
from attnviz.matrices import MAX_CHARS, frame_to_matrix, matrix_text, parse_matrix, parse_vector
from attnviz.ui import charts, present, state
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import labeler, show_error, t

# Three tokens with four features: q1 is close to k1, q3 to k3, so the weights show a pattern.
DEFAULT = {
    "q": np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]),
    "k": np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [2.0, 2.0, 0.0, 1.0]]),
    "v": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
}
MASKS = ("none", "causal", "hide")
# On the slider's grid of 0.05 steps, so a linked value is one the slider can show.
TEMPERATURE = state.Codec(
    parse=lambda raw: round(round(float(raw) / 0.05) * 0.05, 2),
    check=lambda v: isinstance(v, float) and 0.05 <= v <= 5.0,
    dump=lambda v: f"{v:g}",
)


def matrix_codec(name: str) -> state.Codec:
    """A matrix in the URL as typed text (rows on lines); a broken one is refused."""

    def parse(raw: str) -> str:
        parse_matrix(raw, name)  # raises InputError for a broken matrix
        return raw

    return state.Codec(parse=parse, check=lambda v: isinstance(v, str), longest=4000)


def current_text(name: str) -> str:
    """The matrix as text: last seen on this page, else from the link, else the default."""
    return state.recall(f"pg_{name}", name, matrix_text(DEFAULT[name]), matrix_codec(name))


def matrix_input(name: str, mode: str) -> np.ndarray:
    """One matrix, from the table editor or from typed text; InputError on bad cells."""
    label = t(f"step.{name}")
    codec = matrix_codec(name)
    if mode == "text":
        state.bind(f"{name}_text", name, current_text(name), codec)
        matrix = parse_matrix(st.text_area(label, key=f"{name}_text", max_chars=MAX_CHARS), name)
    else:
        # The editor keeps its edits relative to the table it was first given: that table
        # stays the same while the editor lives (a page switch or the text mode end it).
        if f"{name}_table" not in st.session_state:
            st.session_state[f"pg_base_{name}"] = parse_matrix(current_text(name), name)
        base = st.session_state[f"pg_base_{name}"]
        frame = pd.DataFrame(base, columns=[f"{name}{i + 1}" for i in range(base.shape[1])])
        st.caption(label)
        edited = st.data_editor(frame, num_rows="dynamic", key=f"{name}_table", width="stretch")
        matrix = frame_to_matrix(edited, name)
    state.remember(f"pg_{name}", name, matrix_text(matrix), codec)
    return matrix


def param_codec(name: str, value: np.ndarray) -> state.Codec:
    """A learned parameter in the URL as typed text; one of another shape is refused."""
    read = parse_vector if value.ndim == 1 else parse_matrix

    def parse(raw: str) -> str:
        if read(raw, name).shape != value.shape:  # InputError for a broken one
            raise ValueError(f"{name}: shape {value.shape} expected")
        return raw

    return state.Codec(parse=parse, check=lambda v: isinstance(v, str), longest=4000)


def params_input(score: str, dq: int, dk: int) -> dict[str, np.ndarray]:
    """The learned parameters a score function needs, editable, reset when the shapes change;
    in the link as `general_W`, `additive_W1`, ... (a link's value of another shape is refused)."""
    defaults = attention.example_params(score, dq, dk)
    if not defaults:
        return {}
    params = {}
    with st.expander(t("playground.params", score=t(f"score.{score}")), expanded=False):
        for name, value in defaults.items():
            key = f"param_{score}_{name}_{dq}_{dk}"
            state.bind(key, f"{score}_{name}", matrix_text(value), param_codec(name, value))
            text = st.text_area(name, key=key, max_chars=MAX_CHARS)
            # A vector is typed as one row; a matrix typed in its place is refused, not flattened.
            params[name] = (parse_vector if value.ndim == 1 else parse_matrix)(text, name)
    return params


def show_step(step, labels_q, labels_k, title: str, key: str, bound: float) -> None:
    """The masked scores (diverging, 0 in the middle, ±bound shared by the compared score
    functions, masked cells −∞) and the weights (fixed 0–1) of one score function."""
    st.markdown(f"**{title}**")
    scales = {
        "masked": dict(
            zmin=-bound, zmax=bound, zmid=0.0, colorscale=DIVERGING,
            scale_title=t("range.shared") if compare else "",
        ),
        "weights": dict(zmin=0.0, zmax=1.0, scale_title=t("range.title_fixed")),
    }  # fmt: skip
    for field, scale in scales.items():
        matrix = getattr(step, field)
        charts.chart(
            heatmap(matrix, labels_k, labels_q, title=t(f"step.{field}"), **scale),
            key=f"{key}_{field}",
            name=f"playground-{key}-{field}",
            matrix=matrix,
            rows=labels_q,
            cols=labels_k,
        )
    st.caption(t("step.context"))
    present.table(
        pd.DataFrame(
            step.context,
            index=labels_q,
            columns=[f"c{i + 1}" for i in range(step.context.shape[1])],
        ),
        width="stretch",
    )


def score_bound(steps) -> float:
    """The largest |masked score| over every compared step: one symmetric range for all."""
    finite = [np.abs(s.masked[np.isfinite(s.masked)]) for s in steps]
    top = max((float(f.max()) for f in finite if f.size), default=0.0)
    return top if top > 0 else 1.0


st.title(t("playground.title"))
if not present.active():
    st.markdown(t("playground.intro"))
fold = present.fold(t("present.inputs"))
with fold:
    state.bind("mode_text", "typed", False, state.flag())
    mode = "text" if st.toggle(t("playground.mode_text"), key="mode_text") else "table"

    matrices = {}
    for column, name in zip(st.columns(3), ("q", "k", "v"), strict=True):
        with column:
            try:
                matrices[name] = matrix_input(name, mode)
            except InputError as exc:
                show_error(exc)
if len(matrices) < 3:
    st.stop()

try:
    q, k, v = matrices["q"], matrices["k"], matrices["v"]
    labels_q = [f"q{i + 1}" for i in range(len(q))]
    labels_k = [f"k{j + 1}" for j in range(len(k))]

    with fold:
        left, middle, right = st.columns(3)
        with left:
            state.bind("score", "score", "scaled_dot", state.choice(attention.SCORES))
            score = st.selectbox(
                t("playground.score"), attention.SCORES, format_func=labeler("score."), key="score"
            )
            state.bind("compare", "compare", False, state.flag())
            compare = st.toggle(t("playground.compare"), key="compare")
            other = None
            if compare:
                state.bind("score_other", "other", "cosine", state.choice(attention.SCORES))
                other = st.selectbox(
                    t("playground.score_other"),
                    attention.SCORES,
                    format_func=labeler("score."),
                    key="score_other",
                )
                if other == score:  # one function against itself: nothing to compare
                    st.info(t("playground.same_choice"), icon="ℹ️")
                    other = None
        with middle:
            state.bind("temperature", "temp", 1.0, TEMPERATURE)
            temperature = st.slider(
                t("playground.temperature"),
                0.05,
                5.0,
                step=0.05,
                help=t("playground.temperature_help"),
                key="temperature",
            )
        with right:
            state.bind("mask", "mask", "none", state.choice(MASKS))
            mask = st.radio(
                t("playground.mask"), MASKS, format_func=labeler("playground.mask_"), key="mask"
            )
            hidden = []
            if mask == "hide":
                state.bind("hide", "hidden", [], state.many(state.choice(range(len(k)))))
                hidden = st.multiselect(
                    t("playground.hide_keys"),
                    range(len(k)),
                    format_func=lambda j: labels_k[j],
                    key="hide",
                )
        allowed = np.ones((len(q), len(k)), dtype=bool)
        allowed[:, list(hidden)] = False

        chosen = [score] + ([other] if other else [])
        steps = {
            name: attention.attend(
                q,
                k,
                v,
                score=name,
                temperature=temperature,
                allowed=allowed,
                causal=mask == "causal",
                params=params_input(name, q.shape[1], k.shape[1]),
            )
            for name in chosen
        }
except InputError as exc:
    show_error(exc)
    st.stop()

bound = score_bound(steps.values())
for column, (name, step) in zip(st.columns(len(steps)), steps.items(), strict=True):
    with column:
        show_step(step, labels_q, labels_k, t(f"score.{name}"), key=f"fig_{name}", bound=bound)

st.subheader(t("breakdown.title"))
state.bind("query", "query", 0, state.choice(range(len(q))))
query = st.selectbox(
    t("playground.query"), range(len(q)), format_func=lambda i: labels_q[i], key="query"
)
shown = present.steps("playground", len(present.STEPS))
for column, (name, step) in zip(st.columns(len(steps)), steps.items(), strict=True):
    with column:
        st.markdown(f"**{t(f'score.{name}')}**")
        render_breakdown(step, labels_k, query=query, widget_key=f"breakdown_{name}", shown=shown)
state.link_box()
