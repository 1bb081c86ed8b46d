"""The step-by-step breakdown of one query, as every page shows it: formula, q, a table of the
keys (scores, scaled, masked, softmax, weights), the softmax sums and the context."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pyarrow as pa
import streamlit as st

from attnviz.trace import AttentionStep
from attnviz.ui import present
from attnviz.ui.common import lang, t

# torch (through attention) is imported by the function that needs it: the start page and the
# playground's first draw should not wait ~1.2 s for it (issue 13, `python -X importtime`).

# Rows of the breakdown table shown before "show every key" (257 image patches would be a wall).
TOP_KEYS = 16


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
    notation: Mapping[str, str] | None = None,
    skipped: Collection[str] = (),
    formulas: Sequence[str] = (),
) -> None:
    """Every step of one query: formula, q, per-key table, softmax sums and the context.

    Args:
        shown: how many of the five steps (score, scale, mask, softmax, weighted sum) to show;
            presentation mode reveals them one per click (`attnviz.ui.present.steps`).
        extra: more columns (name -> one text per key), shown beside the weights.
        notation: an article's symbols (our name -> symbol; "q" the query's label) for the
            headers and lines; `formulas` (LaTeX, in that notation) replace ours.
        skipped: stages whose columns would only repeat the scores ("scaled", "masked").
    """
    from attnviz import attention
    from attnviz.figures import breakdown

    explained = attention.explain(step, query)
    for formula in formulas or [breakdown.SCORE_LATEX[step.score]]:
        st.latex(formula)
    if shown >= 4 and not formulas:
        st.latex(breakdown.SOFTMAX_LATEX)
    said = breakdown.lines(
        step, explained.row_max, explained.total, lang(), query=query, notation=notation
    )
    if step.score == "linear":  # the gate w·k + b never reads q: no query vector to show
        st.text(t("steps.no_query"))
    else:
        st.text(said["query"])
    columns = breakdown.breakdown_columns(
        step, explained.exp, explained.contributions, key_labels, query=query
    )
    names = breakdown.visible(shown, skipped)
    if extra and shown >= 4:  # beside the weights
        names[names.index("weights") + 1 : names.index("weights") + 1] = list(extra)
        columns.update(extra)
    headers = breakdown.headers(lang(), notation, skipped) | {name: name for name in extra or ()}
    rows = np.arange(len(key_labels))
    if len(rows) > TOP_KEYS and not st.toggle(t("breakdown.show_all"), key=f"{widget_key}_all"):
        rows = np.argsort(-step.weights[query], kind="stable")[:TOP_KEYS]
        st.caption(t("breakdown.top_only", shown=TOP_KEYS, total=len(key_labels)))
    # Every cell as the text it should read, right-aligned for numbers, in an Arrow table: a
    # pandas Styler took ~15 ms a table and a plain DataFrame ~6 ms, most of a rerun's table.
    numbers = [name for name in names if isinstance(columns[name], np.ndarray)]
    table = pa.table(
        {
            headers[name]: [_cell(x) for x in columns[name][rows]]
            if name in numbers
            else [str(columns[name][i]) for i in rows]
            for name in names
        }
    )
    right = st.column_config.TextColumn(alignment="right")
    present.table(
        table,
        hide_index=True,
        width="stretch",
        column_config=dict.fromkeys((headers[name] for name in numbers), right),
    )
    if shown >= 3 and np.isneginf(step.masked[query]).any():
        st.caption(t("breakdown.masked_note"))
    if shown >= 4:
        st.text(said["softmax"])
    if shown >= 5:
        st.text(said["context"])
