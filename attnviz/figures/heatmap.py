"""The attention heatmap every page uses: queries down, keys across, values on hover."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

# Tick labels longer than this are cut on the axis (the hover text keeps the whole label).
_TICK_CHARS = 12


def escape(label: str) -> str:
    """Plotly reads labels as a small subset of HTML; user text must stay text."""
    return label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ticks(labels: Sequence[str]) -> list[str]:
    short = [s if len(s) <= _TICK_CHARS else s[: _TICK_CHARS - 1] + "…" for s in labels]
    return [escape(s) for s in short]


def heatmap(
    weights: np.ndarray,
    x_labels: Sequence[str],
    y_labels: Sequence[str],
    *,
    title: str = "",
    x_title: str = "",
    y_title: str = "",
    zmin: float | None = 0.0,
    zmax: float | None = None,
    show_values: bool | None = None,
    colorscale: str = "Blues",
    height: int | None = None,
) -> go.Figure:
    """A (Tq, Tk) matrix as a heatmap with its labels.

    Args:
        weights: (Tq, Tk) numbers (attention weights, scores ...). -inf (masked) shows as blank.
        show_values: write each value in its cell; default: only when the matrix is small.
    """
    z = np.asarray(weights, dtype=np.float64)
    if z.ndim != 2 or z.shape != (len(y_labels), len(x_labels)):
        raise ValueError(f"weights {z.shape} do not match {len(y_labels)} x {len(x_labels)} labels")
    z = np.where(np.isfinite(z), z, np.nan)
    if show_values is None:
        show_values = z.size <= 144
    # Cells are addressed by position so repeated tokens ("the" twice) stay separate columns.
    xs, ys = np.arange(z.shape[1]), np.arange(z.shape[0])
    hover = [[f"{escape(y_labels[i])} → {escape(x_labels[j])}" for j in xs] for i in ys]
    fig = go.Figure(
        go.Heatmap(
            z=np.round(z, 4),
            x=xs,
            y=ys,
            customdata=hover,
            hovertemplate="%{customdata}<br>%{z:.4f}<extra></extra>",
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            texttemplate="%{z:.2f}" if show_values else None,
            xgap=1 if z.shape[1] <= 64 else 0,
            ygap=1 if z.shape[0] <= 64 else 0,
        )
    )
    fig.update_xaxes(
        tickmode="array", tickvals=xs, ticktext=_ticks(x_labels), title=x_title, side="top"
    )
    fig.update_yaxes(
        tickmode="array",
        tickvals=ys,
        ticktext=_ticks(y_labels),
        title=y_title,
        autorange="reversed",
    )
    fig.update_layout(
        title=title,
        margin=dict(l=10, r=10, t=60 if title else 30, b=10),
        height=height or max(260, min(900, 28 * len(y_labels) + 120)),
    )
    return fig
