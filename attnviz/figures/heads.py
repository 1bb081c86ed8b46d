"""Figures of the heads page: a layer × head map, clean vs ablated next tokens, and attention
beside attribution per token. Pure plotly on numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.heatmap import DIVERGING, escape, heatmap, unique_labels

CLEAN, ABLATED = "#1f77b4", "#d62728"
METHOD_COLOURS = ("#7f7f7f", "#ff7f0e", "#2ca02c")  # attention, leave-one-out, gradient × input


def head_map(
    values: np.ndarray, *, title: str, layer_word: str, head_word: str, scale_title: str,
    signed: bool = False,
) -> go.Figure:  # fmt: skip
    """An (L, H) map of one number per head, layer 1 at the top; signed values on a diverging
    scale centred on 0. Clicks select a cell (figures.text.clicked_cell reads it)."""
    n_layers, n_heads = values.shape
    spread = float(np.abs(values).max()) or 1.0
    fig = heatmap(
        values, [str(h + 1) for h in range(n_heads)], [str(i + 1) for i in range(n_layers)],
        title=title, x_title=head_word, y_title=layer_word, show_values=False,
        zmin=-spread if signed else 0.0, zmax=spread if signed else None,
        zmid=0.0 if signed else None, colorscale=DIVERGING if signed else "Viridis",
        scale_title=scale_title, height=max(320, 18 * n_layers + 120),
    )  # fmt: skip
    # Plotly cannot select a point of a heatmap: a click lands on an invisible marker at the
    # centre of every cell (with no hover distance limit, the one under the mouse).
    fig.add_trace(
        go.Scatter(
            x=[str(h + 1) for h in np.tile(np.arange(n_heads), n_layers)],  # (L*H,)
            y=[str(i + 1) for i in np.repeat(np.arange(n_layers), n_heads)],  # (L*H,)
            customdata=np.asarray(values, dtype=np.float32).ravel(),
            mode="markers",
            marker=dict(size=12, color="rgba(0,0,0,0)"),
            hovertemplate=f"{escape(layer_word)} %{{y}} · {escape(head_word)} %{{x}}"
            "<br>%{customdata:.4f}<extra></extra>",
            showlegend=False,
        )
    )
    fig.update_layout(
        clickmode="event+select", dragmode=False, hovermode="closest", hoverdistance=-1
    )
    return fig


def next_tokens(
    labels: Sequence[str], clean: np.ndarray, ablated: np.ndarray, *, clean_word: str,
    ablated_word: str, prob_word: str,
) -> go.Figure:  # fmt: skip
    """Grouped horizontal bars: each candidate's probability, clean and ablated (most likely
    clean candidate on top)."""
    y = unique_labels([repr(label) for label in labels])  # quotes show leading spaces
    fig = go.Figure(
        [
            go.Bar(x=p, y=y, orientation="h", name=escape(word), marker_color=colour,
                   hovertemplate=f"%{{y}}<br>{escape(word)} %{{x:.4f}}<extra></extra>")
            for p, word, colour in ((clean, clean_word, CLEAN), (ablated, ablated_word, ABLATED))
        ]
    )  # fmt: skip
    fig.update_layout(
        barmode="group",
        height=34 * len(labels) + 110,
        margin=dict(l=10, r=20, t=30, b=40),
        xaxis=dict(title=escape(prob_word), range=[0, 1]),
        yaxis=dict(autorange="reversed", type="category"),
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    return fig


def attribution(
    tokens: Sequence[str], values: dict[str, np.ndarray], *, token_word: str, title: str
) -> go.Figure:
    """Grouped bars per token, one group member per method, each method scaled by its largest
    absolute value (the methods have different units; their shapes are what compare)."""
    x = unique_labels(tokens)
    bars = []
    for (name, v), colour in zip(values.items(), METHOD_COLOURS, strict=False):
        v = np.nan_to_num(np.asarray(v, dtype=np.float64))
        top = float(np.abs(v).max()) or 1.0
        bars.append(
            go.Bar(x=x, y=v / top, name=escape(name), marker_color=colour, customdata=v,
                   hovertemplate=f"%{{x}}<br>{escape(name)} %{{customdata:.4g}}<extra></extra>")
        )  # fmt: skip
    fig = go.Figure(bars)
    fig.update_layout(
        title=escape(title),
        barmode="group",
        height=380,
        margin=dict(l=10, r=10, t=60, b=40),
        xaxis=dict(title=escape(token_word), type="category"),
        yaxis=dict(range=[-1.05, 1.05]),
        legend=dict(orientation="h", y=1.0, yanchor="bottom", x=0),
    )
    return fig
