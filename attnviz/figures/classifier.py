"""Figures of the attention classifiers: tokens shaded by their weight, two models' weights
compared, and a digit with one feature-map position's attention laid over it.

Pure plotly on numpy: no torch, no streamlit. User text reaches plotly only escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.heatmap import escape, heatmap

TILE_CHARS = 10  # a longer word is cut in its tile (the hover text keeps it whole)


def tiles_per_row(tokens: Sequence[str]) -> int:
    """As many tiles to a row as fit a phone's half of a page (~340 px) with the longest word
    at 14 px (~8 px a character): the words stay readable and never run into each other."""
    longest = max((min(len(tok), TILE_CHARS) for tok in tokens), default=1)
    return min(10, max(3, 340 // (8 * longest + 16)))


def shaded_tokens(tokens: Sequence[str], weights: np.ndarray, *, title: str = "") -> go.Figure:
    """The tokens in reading order, `tiles_per_row` to a row, each shaded by its weight (T,)."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(tokens),):
        raise ValueError(f"weights {weights.shape} do not match {len(tokens)} tokens")
    per_row = tiles_per_row(tokens)
    rows = -(-len(tokens) // per_row)
    z = np.full(rows * per_row, np.nan)
    z[: len(tokens)] = weights
    short = [tok if len(tok) <= TILE_CHARS else tok[: TILE_CHARS - 1] + "…" for tok in tokens]
    blank = [""] * (rows * per_row - len(tokens))
    fig = go.Figure(
        go.Heatmap(
            z=z.reshape(rows, per_row).astype(np.float32),
            text=np.array([escape(s) for s in short] + blank, dtype=object).reshape(rows, per_row),
            customdata=np.array([escape(tok) for tok in tokens] + blank, dtype=object).reshape(
                rows, per_row
            ),
            texttemplate="%{text}",
            hovertemplate="%{customdata}<br>%{z:.4f}<extra></extra>",
            colorscale="Oranges",
            zmin=0.0,
            zmax=float(weights.max()) if len(weights) else 1.0,
            xgap=2,
            ygap=2,
        )
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, autorange="reversed")
    fig.update_layout(
        title=title, height=80 + 44 * rows, margin=dict(l=10, r=10, t=40 if title else 10, b=10)
    )
    return fig


def compare_weights(tokens: Sequence[str], rows: dict[str, np.ndarray]) -> go.Figure:
    """Several models' weights over the same tokens: one row per model, tokens across."""
    return heatmap(
        np.stack(list(rows.values())),
        list(tokens),
        list(rows),
        colorscale="Oranges",
        height=120 + 40 * len(rows),
    )


def overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Σ min(a_j, b_j) of two weight rows: 1 when they are equal, 0 when they share no token."""
    return float(np.minimum(a, b).sum())


def digit_attention(
    pixels: np.ndarray, weights: np.ndarray, side: int, query: int, *, size: int = 420
) -> go.Figure:
    """The digit (28, 28), the weights (P,) of position `query` over a side × side grid laid
    over it, the query outlined. The last trace has one invisible marker per position (what a
    click selects; see figures.image.clicked_patch)."""
    pixels = np.asarray(pixels, dtype=np.float32)
    n = pixels.shape[0]
    if weights.shape != (side * side,) or not 0 <= query < side * side:
        raise ValueError(f"weights {weights.shape} / query {query} do not fit a {side}² grid")
    cell = n / side
    centres = ((np.arange(side) + 0.5) * cell - 0.5).astype(np.float32)
    grid = weights.reshape(side, side).astype(np.float32)
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(z=pixels, colorscale="gray", showscale=False, hoverinfo="skip", name="digit")
    )
    fig.add_trace(
        go.Heatmap(
            z=grid,
            x=centres,
            y=centres,
            # transparent where the weight is 0, opaque red at the largest weight
            colorscale=[[0.0, "rgba(255,40,40,0)"], [1.0, "rgba(255,40,40,0.85)"]],
            zmin=0.0,
            zmax=float(grid.max()),
            hoverinfo="skip",
            name="weights",
        )
    )
    r, c = divmod(query, side)
    fig.add_shape(
        type="rect",
        x0=c * cell - 0.5,
        x1=(c + 1) * cell - 0.5,
        y0=r * cell - 0.5,
        y1=(r + 1) * cell - 0.5,
        line=dict(color="#00c8ff", width=3),
    )
    rows, cols = np.divmod(np.arange(side * side), side)
    fig.add_trace(
        go.Scatter(
            x=centres[cols],
            y=centres[rows],
            mode="markers",
            marker=dict(symbol="square", size=size / side - 6, color="rgba(0,0,0,0)"),
            selected=dict(marker=dict(opacity=1)),
            unselected=dict(marker=dict(opacity=1)),
            customdata=grid.reshape(-1),
            text=[f"({i}, {j})" for i, j in zip(rows, cols, strict=True)],
            hovertemplate="%{text}<br>%{customdata:.4f}<extra></extra>",
            name="positions",
        )
    )
    fig.update_xaxes(visible=False, range=[-0.5, n - 0.5])
    fig.update_yaxes(visible=False, range=[n - 0.5, -0.5], scaleanchor="x")
    fig.update_layout(width=size, height=size, margin=dict(l=5, r=5, t=5, b=5), showlegend=False)
    return fig


def probabilities(labels: Sequence[str], values: np.ndarray) -> go.Figure:
    """A bar per class."""
    fig = go.Figure(
        go.Bar(x=[escape(label) for label in labels], y=np.asarray(values, dtype=np.float32))
    )
    fig.update_yaxes(range=[0, 1])
    # categories: digits "0".."9" would otherwise be read as numbers and labelled every other one
    fig.update_xaxes(type="category")
    fig.update_layout(height=240, margin=dict(l=10, r=10, t=10, b=10))
    return fig
