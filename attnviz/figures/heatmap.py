"""The attention heatmap every page uses: queries down, keys across, values on hover."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

# Weights: a perceptually uniform, colour-blind-safe scale; scores: diverging, centred on 0.
COLORSCALE = "Viridis"
DIVERGING = "RdBu_r"
MASKED_COLOUR = "#9e9e9e"  # grey: neither end of either scale
# Tick labels longer than this are cut on the axis (the hover text keeps the whole label).
_TICK_CHARS = 12


def escape(label: str) -> str:
    """Plotly reads labels as a small subset of HTML; user text must stay text."""
    return label.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unique_labels(labels: Sequence[str]) -> list[str]:
    """Escaped labels, repeated ones told apart by an invisible suffix, so that a categorical
    axis keeps "the" and "the" as two columns that read the same.

    The n-th repeat gets a zero-width space and then n in binary, written with two more
    invisible characters (zero-width non-joiner = 0, word joiner = 1): short even when a
    word comes back hundreds of times.
    """
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        count = seen.get(label, 0)
        seen[label] = count + 1
        suffix = ""
        if count:
            bits = format(count, "b").replace("0", "\u200c").replace("1", "\u2060")
            suffix = "\u200b" + bits
        out.append(escape(label) + suffix)
    return out


def _axis(values: list[str], labels: Sequence[str]) -> dict:
    """Category axis; short matrices get every tick, cut to a readable length before escaping."""
    if len(values) > 64:
        return dict(type="category")  # plotly thins the ticks itself
    short = [s if len(s) <= _TICK_CHARS else s[: _TICK_CHARS - 1] + "…" for s in labels]
    return dict(
        type="category", tickmode="array", tickvals=values, ticktext=[escape(s) for s in short]
    )


def _short_values(z: np.ndarray) -> np.ndarray:
    """Each cell's value as it is written in the cell: two decimals without the leading zero
    (".83", "-.5" stays "-.50", "1"), so that it fits a narrow cell at 12 px."""

    def short(x: float) -> str:
        if np.isnan(x):
            return ""
        text = f"{x:.2f}"
        if text in ("0.00", "-0.00"):
            return "0"
        if text.endswith(".00"):
            return text[:-3]
        return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text

    return np.array([[short(x) for x in row] for row in z.tolist()], dtype=object)


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
    zmid: float | None = None,
    show_values: bool | None = None,
    colorscale: str = COLORSCALE,
    scale_title: str = "",
    height: int | None = None,
) -> go.Figure:
    """A (Tq, Tk) matrix as a heatmap with its labels, light enough for 512 x 512.

    Values go as float32 and the hover text comes from the two axes (one string per row and
    column, not one per cell: 512 x 512 per-cell strings were ~9 MB of JSON per rerun).

    Args:
        weights: (Tq, Tk) numbers (attention weights, scores ...). -inf (masked) cells are drawn
            grey and labelled −∞.
        zmid: centre of a diverging colour scale (0 for scores: 0 is then the neutral colour).
        show_values: write each value in its cell; default: only when the matrix is small.
        scale_title: the colour bar's title, e.g. which range it spans.
    """
    z = np.asarray(weights)
    if z.ndim != 2 or z.shape != (len(y_labels), len(x_labels)):
        raise ValueError(f"weights {z.shape} do not match {len(y_labels)} x {len(x_labels)} labels")
    masked = np.isneginf(z)  # (Tq, Tk)
    z = np.where(np.isfinite(z), z, np.nan).astype(np.float32)  # (Tq, Tk)
    if show_values is None:
        show_values = z.size <= 144
    xs, ys = unique_labels(x_labels), unique_labels(y_labels)
    gaps = dict(xgap=1 if z.shape[1] <= 64 else 0, ygap=1 if z.shape[0] <= 64 else 0)
    data = [
        go.Heatmap(
            z=z,
            x=xs,
            y=ys,
            hovertemplate="%{y} → %{x}<br>%{z:.4f}<extra></extra>",
            colorscale=colorscale,
            zmin=zmin,
            zmax=zmax,
            zmid=zmid,
            colorbar=dict(title=dict(text=scale_title, side="right")) if scale_title else None,
            text=_short_values(z) if show_values else None,
            texttemplate="%{text}" if show_values else None,
            **gaps,
        )
    ]
    if masked.any():
        data.append(
            go.Heatmap(
                z=np.where(masked, 1.0, np.nan).astype(np.float32),
                x=xs,
                y=ys,
                colorscale=[[0, MASKED_COLOUR], [1, MASKED_COLOUR]],
                showscale=False,
                text=np.where(masked, "−∞", "") if show_values else None,
                texttemplate="%{text}" if show_values else None,
                hovertemplate="%{y} → %{x}<br>−∞<extra></extra>",
                **gaps,
            )
        )
    # Room on top for the title, the key axis title and the key labels (rotated when long), so
    # that the title never runs into them; plotly's automargin only ever adds to this.
    longest = max((min(len(s), _TICK_CHARS) for s in x_labels), default=1)
    label_px = 26 if longest * 9 * len(x_labels) < 640 else 10 * longest + 22
    top = (40 if title else 0) + (34 if x_title else 0) + label_px
    # The whole layout in one go: plotly's update_* methods cost ~1 ms per property path.
    layout = dict(
        xaxis=dict(title=dict(text=x_title), side="top", **_axis(xs, x_labels)),
        yaxis=dict(title=dict(text=y_title), autorange="reversed", **_axis(ys, y_labels)),
        title=dict(text=title, yref="container", y=1, yanchor="top", pad=dict(t=8)),
        margin=dict(l=10, r=10, t=top, b=10),
        height=height or max(260, min(900, 28 * len(y_labels) + top + 30)),
    )
    return go.Figure(data, layout)
