"""Figures of the generate page: the next-token candidates, and where the newest query looks."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.heatmap import escape, unique_labels

KEPT, CUT, CHOSEN = "#1f77b4", "#c7c7c7", "#d62728"


def top_ids(probs: np.ndarray, n: int) -> np.ndarray:
    """(n,) ids of the n most likely tokens, most likely first (ties: the lower id first).

    Only the tokens at least as likely as the n-th are sorted: the same ids as a stable sort of
    the whole vocabulary (49 152 tokens), in a tenth of the time."""
    p = np.asarray(probs)
    if n >= len(p):
        return np.argsort(-p, kind="stable")
    nth = np.partition(p, len(p) - n)[len(p) - n]  # the n-th largest value
    near = np.flatnonzero(p >= nth)  # ascending ids: a stable sort keeps ties in id order
    return near[np.argsort(-p[near], kind="stable")][:n]


def candidates(
    ids: np.ndarray,
    labels: Sequence[str],
    probs: np.ndarray,
    final: np.ndarray | None,
    *,
    chosen: int | None = None,
    prob_word: str = "probability",
    final_word: str = "after the filters",
    cut_word: str = "cut",
) -> go.Figure:
    """Horizontal bars of the candidates `ids` (most likely on top): the model's probability at
    the temperature; when sampling, grey where top-k/top-p cut a token and the renormalised
    probability of the kept ones written beside (greedy cuts nothing: `final` None). Each bar
    carries its token id (customdata) for a click to pick it.

    Args:
        probs, final: (V,) from `generation.distribution`.
        chosen: the id that was picked at this step, outlined in red.
    """
    p = probs[ids]
    if final is None:
        colours, text = [KEPT] * len(ids), [f"{a:.1%}" for a in p]
    else:
        f = final[ids]
        colours = [CUT if v == 0 else KEPT for v in f]
        text = [
            f"{a:.1%} → {b:.1%}" if b > 0 else f"{a:.1%} ({cut_word})"
            for a, b in zip(p, f, strict=True)
        ]
    y = unique_labels([repr(label) for label in labels])  # quotes show leading spaces
    fig = go.Figure(
        go.Bar(
            x=p,
            y=y,
            orientation="h",
            marker=dict(
                color=colours,
                line=dict(
                    color=[CHOSEN if int(i) == chosen else "rgba(0,0,0,0)" for i in ids], width=3
                ),
            ),
            text=text,
            textposition="outside",
            cliponaxis=False,
            customdata=np.asarray(ids, dtype=np.int64),
            hovertemplate=(
                f"%{{y}}<br>{escape(prob_word)} %{{x:.4f}}<br>id %{{customdata}}<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        height=26 * len(ids) + 80,
        margin=dict(l=10, r=90, t=30, b=30),
        xaxis=dict(
            title=prob_word if final is None else f"{prob_word} (→ {final_word})",
            range=[0, max(1e-9, p.max()) * 1.35],
        ),
        yaxis=dict(autorange="reversed", type="category"),
        clickmode="event+select",
        dragmode=False,
    )
    return fig


def clicked_token(selection, ids: np.ndarray) -> int | None:
    """The token id of a clicked bar of `candidates` drawn for `ids` (None: nothing clicked)."""
    try:
        index = ((selection or {}).get("selection") or {}).get("points")[0]["point_index"]
    except (AttributeError, IndexError, KeyError, TypeError):
        return None
    # a crafted selection may carry anything (1e309, NaN, "0", True): only a whole number in
    # range picks a bar, checked in this order so that int() never sees an infinity
    number = isinstance(index, int | float) and not isinstance(index, bool)
    if not (number and 0 <= index < len(ids) and index == int(index)):
        return None
    return int(ids[int(index)])
