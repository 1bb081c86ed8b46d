"""Streamlit helpers shared by every page: the current language, errors, the breakdown widget."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import streamlit as st

from attnviz import i18n
from attnviz.errors import InputError, incident
from attnviz.trace import AttentionStep

# torch (through attention and loading) is imported by the functions that need it: the start
# page and the playground's first draw should not wait ~1.2 s for it (issue 13,
# `python -X importtime`).

# Rows of the breakdown table shown before "show every key" (257 image patches would be a wall).
TOP_KEYS = 16


def lang() -> str:
    """The current UI language; app.py sets it before any page runs."""
    return st.session_state.get("lang", "en")


def t(key: str, **params: object) -> str:
    return i18n.t(key, lang(), **params)


def labeler(prefix: str):
    """A widget's format_func: option -> catalog text of `prefix + option` in today's language.

    The language is read now, not when the label is drawn: AppTest calls format_func outside the
    script run, where session state is not available.
    """
    current = lang()
    return lambda option: i18n.t(f"{prefix}{option}", current)


def show_error(exc: Exception) -> None:
    """A clear message in the user's language instead of a traceback."""
    from attnviz.loading import ModelMissing

    if isinstance(exc, InputError):
        st.error(t(exc.key, **exc.params), icon="⚠️")
    elif isinstance(exc, ModelMissing):
        st.warning(t("model.missing", name=exc.name), icon="📦")
        st.code(exc.install, language="bash")
    else:
        raise exc


def show_unexpected(exc: Exception) -> None:
    """The last resort: one line in the user's language with an incident id; the traceback goes
    to the server's log under the same id (errors.incident), never to the browser."""
    st.error(t("error.unexpected", id=incident(exc)), icon="🛑")


# Columns of the breakdown table visible after each step (key, k, scores | scaled | masked |
# exp, weights | weights × v): score -> scale -> mask -> softmax -> weighted sum.
_STEP_COLUMNS = (3, 4, 5, 7, 8)


def _cell(x: float) -> str:
    """How a number of the table reads: −∞ for a masked score, — for no value (NaN)."""
    if np.isnan(x):
        return "—"
    return "−∞" if np.isneginf(x) else f"{x:.6g}"


def render_breakdown(
    step: AttentionStep,
    key_labels: Sequence[str],
    *,
    query: int = 0,
    widget_key: str = "breakdown",
    shown: int = 5,
    extra: dict[str, Sequence[str]] | None = None,
) -> None:
    """Every step of one query: formula, q, per-key table, softmax sums and the context.

    Args:
        shown: how many of the five steps (score, scale, mask, softmax, weighted sum) to show;
            presentation mode reveals them one per click (`attnviz.ui.present.steps`).
        extra: more columns (name -> one text per key), shown beside the weights.
    """
    from attnviz import attention
    from attnviz.figures.breakdown import (
        SCORE_LATEX,
        SOFTMAX_LATEX,
        breakdown_columns,
        vector_text,
    )

    explained = attention.explain(step, query)
    st.latex(SCORE_LATEX[step.score])
    if shown >= 4:
        st.latex(SOFTMAX_LATEX)
    if step.score == "linear":  # the gate w·k never reads q: no query vector to show
        st.text(t("steps.no_query"))
    else:
        st.text(t("breakdown.query", vector=vector_text(step.q[query], limit=8)))
    columns = breakdown_columns(step, explained, key_labels, lang(), query=query)
    names = list(columns)[: _STEP_COLUMNS[shown - 1]]
    if extra and shown >= 4:  # beside the weights
        names[7:7] = list(extra)
        columns.update(extra)
    rows = np.arange(len(key_labels))
    if len(rows) > TOP_KEYS and not st.toggle(t("breakdown.show_all"), key=f"{widget_key}_all"):
        rows = np.argsort(-step.weights[query], kind="stable")[:TOP_KEYS]
        st.caption(t("breakdown.top_only", shown=TOP_KEYS, total=len(key_labels)))
    # Every cell as the text it should read, right-aligned for numbers, in an Arrow table: a
    # pandas Styler took ~15 ms a table and a plain DataFrame ~6 ms, most of a rerun's table.
    numbers = [name for name in names if isinstance(columns[name], np.ndarray)]
    table = pa.table(
        {
            name: [_cell(x) for x in columns[name][rows]]
            if name in numbers
            else [str(columns[name][i]) for i in rows]
            for name in names
        }
    )
    right = st.column_config.TextColumn(alignment="right")
    st.dataframe(
        table, hide_index=True, width="stretch", column_config=dict.fromkeys(numbers, right)
    )
    if shown >= 3 and np.isneginf(step.masked[query]).any():
        st.caption(t("breakdown.masked_note"))
    if shown >= 4:
        st.text(
            t(
                "breakdown.softmax_line",
                row_max=explained.row_max,
                total=explained.total,
                weight_sum=float(step.weights[query].sum()),
            )
        )
    if shown >= 5:
        st.text(t("breakdown.context", vector=vector_text(step.context[query], limit=8)))
