"""Playground: edit q, k, v, pick the score function, temperature and mask; every step live."""

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import attention
from attnviz.errors import InputError
from attnviz.figures.heatmap import heatmap
from attnviz.matrices import MAX_CHARS, frame_to_matrix, matrix_text, parse_matrix, parse_vector
from attnviz.ui.common import labeler, render_breakdown, show_error, t

# Three tokens with four features: q1 is close to k1, q3 to k3, so the weights show a pattern.
DEFAULT = {
    "q": np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]),
    "k": np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [2.0, 2.0, 0.0, 1.0]]),
    "v": np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
}
MASKS = ("none", "causal", "hide")


def matrix_input(name: str, mode: str) -> np.ndarray:
    """One matrix, from the table editor or from typed text; InputError on bad cells."""
    label = t(f"step.{name}")
    if mode == "text":
        text = st.text_area(
            label, matrix_text(DEFAULT[name]), key=f"{name}_text", max_chars=MAX_CHARS
        )
        return parse_matrix(text, name)
    frame = pd.DataFrame(
        DEFAULT[name], columns=[f"{name}{i + 1}" for i in range(DEFAULT[name].shape[1])]
    )
    st.caption(label)
    edited = st.data_editor(frame, num_rows="dynamic", key=f"{name}_table", width="stretch")
    return frame_to_matrix(edited, name)


def params_input(score: str, dq: int, dk: int) -> dict[str, np.ndarray]:
    """The learned parameters a score function needs, editable, reset when the shapes change."""
    defaults = attention.example_params(score, dq, dk)
    if not defaults:
        return {}
    params = {}
    with st.expander(t("playground.params", score=t(f"score.{score}")), expanded=False):
        for name, value in defaults.items():
            text = st.text_area(
                name,
                matrix_text(value),
                key=f"param_{score}_{name}_{dq}_{dk}",
                max_chars=MAX_CHARS,
            )
            # A vector is typed as one row; a matrix typed in its place is refused, not flattened.
            params[name] = (parse_vector if value.ndim == 1 else parse_matrix)(text, name)
    return params


def show_step(step, labels_q, labels_k, title: str, key: str) -> None:
    st.markdown(f"**{title}**")
    st.plotly_chart(
        heatmap(
            step.masked, labels_k, labels_q, title=t("step.masked"), zmin=None, colorscale="RdBu_r"
        ),
        key=f"{key}_masked",
    )
    st.plotly_chart(
        heatmap(step.weights, labels_k, labels_q, title=t("step.weights"), zmax=1.0), key=f"{key}_w"
    )
    st.caption(t("step.context"))
    st.dataframe(
        pd.DataFrame(
            step.context,
            index=labels_q,
            columns=[f"c{i + 1}" for i in range(step.context.shape[1])],
        ),
        width="stretch",
    )


st.title(t("playground.title"))
st.markdown(t("playground.intro"))
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

    left, middle, right = st.columns(3)
    score = left.selectbox(
        t("playground.score"),
        attention.SCORES,
        index=1,
        format_func=labeler("score."),
        key="score",
    )
    compare = left.toggle(t("playground.compare"), key="compare")
    other = (
        left.selectbox(
            t("playground.score_other"),
            attention.SCORES,
            index=2,
            format_func=labeler("score."),
            key="score_other",
        )
        if compare
        else None
    )
    temperature = middle.slider(
        t("playground.temperature"),
        0.05,
        5.0,
        1.0,
        0.05,
        help=t("playground.temperature_help"),
        key="temperature",
    )
    mask = right.radio(
        t("playground.mask"), MASKS, format_func=labeler("playground.mask_"), key="mask"
    )
    hidden = (
        right.multiselect(
            t("playground.hide_keys"), range(len(k)), format_func=lambda j: labels_k[j], key="hide"
        )
        if mask == "hide"
        else []
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

for column, (name, step) in zip(st.columns(len(steps)), steps.items(), strict=True):
    with column:
        show_step(step, labels_q, labels_k, t(f"score.{name}"), key=f"fig_{name}")

st.subheader(t("breakdown.title"))
query = st.selectbox(
    t("playground.query"), range(len(q)), format_func=lambda i: labels_q[i], key="query"
)
for column, (name, step) in zip(st.columns(len(steps)), steps.items(), strict=True):
    with column:
        st.markdown(f"**{t(f'score.{name}')}**")
        render_breakdown(step, labels_k, query=query, widget_key=f"breakdown_{name}")
