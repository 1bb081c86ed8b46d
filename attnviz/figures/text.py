"""Figures of the text page: the all-heads overview, the token-to-token line view, head
statistics. Plotly on numpy; what is kept, pooled and downsampled comes from attnviz/views/text.py.

Long inputs (512 tokens, 12 x 12 heads) must stay light in the browser, so every figure sends
numpy arrays (plotly encodes them as compact typed arrays, not JSON number lists), downsampled
where a cell could never show the detail anyway, and never one string per cell.

Layers and heads are numbered from 1 in everything the user reads; indices in code start at 0.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.heatmap import escape
from attnviz.figures.lines import HEAD_COLOURS, segments
from attnviz.views import text as views

# ---------------------------------------------------------------- all-heads overview


def overview(
    attentions: np.ndarray,
    *,
    selected: tuple[int, int] | None = None,
    layer_word: str = "layer",
    head_word: str = "head",
    title: str = "",
    budget: int = 360_000,
) -> go.Figure:
    """Every layer x head as a small map in one heatmap (a mosaic), downsampled for long inputs.

    Each map is scaled to its own maximum, so the pattern of a diffuse head is as visible as that
    of a sharp one. Values are quantised to 0..255 (the shapes matter here, the exact numbers are
    one click away). Coordinates: head h spans x in [h + 0.5, h + 1.5), layer l spans y in
    [l + 0.5, l + 1.5), so a clicked point's round(x) - 1, round(y) - 1 are its head and layer
    (clicks select the invisible marker at (h + 1, l + 1), see below).

    attentions: (L, H, R, C).
    """
    n_layers, n_heads, n_rows, n_cols = attentions.shape
    side = views.overview_cell(n_layers, n_heads, n_rows, n_cols, budget)
    small = views.downsample(attentions, side)  # (L, H, r, c)
    r, c = small.shape[-2:]
    peak = small.max(axis=(-2, -1), keepdims=True)  # (L, H, 1, 1)
    small = np.divide(small, peak, out=np.zeros_like(small), where=peak > 0)
    image = (small * 255).round().astype(np.uint8)  # (L, H, r, c)
    # (L, r, H, c) -> (L*r, H*c): the mosaic, layer-major rows, head-major columns.
    mosaic = image.transpose(0, 2, 1, 3).reshape(n_layers * r, n_heads * c)
    x = (np.arange(n_heads * c) // c + 0.5 + (np.arange(n_heads * c) % c + 0.5) / c).astype(
        np.float32
    )  # (H*c,)
    y = (np.arange(n_layers * r) // r + 0.5 + (np.arange(n_layers * r) % r + 0.5) / r).astype(
        np.float32
    )  # (L*r,)
    fig = go.Figure(
        go.Heatmap(
            z=mosaic,
            x=x,
            y=y,
            colorscale="Blues",
            zmin=0,
            zmax=255,
            showscale=False,
            hoverinfo="skip",
        )
    )
    # Plotly cannot select a point of a heatmap, so clicks land on an invisible marker at the
    # centre of every head's map; with no hover distance limit the nearest centre, which is
    # the centre of the map under the mouse, takes the hover and the click.
    fig.add_trace(
        go.Scatter(
            x=np.tile(np.arange(1, n_heads + 1), n_layers),  # (L*H,)
            y=np.repeat(np.arange(1, n_layers + 1), n_heads),  # (L*H,)
            mode="markers",
            marker=dict(size=12, color="rgba(0,0,0,0)"),
            hovertemplate=f"{layer_word} %{{y}} · {head_word} %{{x}}<extra></extra>",
            showlegend=False,
        )
    )
    lines = [
        dict(type="line", x0=h + 0.5, x1=h + 0.5, y0=0.5, y1=n_layers + 0.5)
        for h in range(1, n_heads)
    ] + [
        dict(type="line", y0=row + 0.5, y1=row + 0.5, x0=0.5, x1=n_heads + 0.5)
        for row in range(1, n_layers)
    ]
    shapes = [dict(**line, line=dict(color="white", width=2)) for line in lines]
    if selected is not None:
        shapes.append(_frame(*selected))
    fig.update_layout(
        title=title,
        shapes=shapes,
        height=max(320, 56 * n_layers + 80),
        margin=dict(l=60, r=10, t=40 if title else 10, b=40),
        xaxis=dict(
            title=head_word,
            tickvals=list(range(1, n_heads + 1)),
            side="top",
            range=[0.5, n_heads + 0.5],
            showgrid=False,
            zeroline=False,
        ),
        yaxis=dict(
            title=layer_word,
            tickvals=list(range(1, n_layers + 1)),
            autorange="reversed",
            showgrid=False,
            zeroline=False,
        ),
        clickmode="event+select",
        hovermode="closest",
        hoverdistance=-1,
        dragmode=False,
    )
    return fig


def overview_of(
    layers,
    labels,
    special,
    segment,
    *,
    direction: str = "all",
    hide_special: bool = False,
    **words: str,
) -> tuple[go.Figure | None, int]:
    """`overview` of one (H, T, T) weights array per layer after `views.select` (through
    `views.overview_maps`, layer by layer). Returns (figure, side of one head's map), or (None, 0)
    when the selection is empty. `words` are `overview`'s layer_word and head_word.
    """
    maps, side = views.overview_maps(
        layers, labels, special, segment, direction=direction, hide_special=hide_special
    )
    return (None, 0) if maps is None else (overview(maps, **words), side)


def _frame(layer: int, head: int) -> dict:
    """The red frame around one head's map in `overview` (0-based layer and head)."""
    return dict(
        type="rect",
        x0=head + 0.5,
        x1=head + 1.5,
        y0=layer + 0.5,
        y1=layer + 1.5,
        line=dict(color="#d62728", width=3),
    )


def mark_cell(fig: go.Figure, layer: int, head: int) -> go.Figure:
    """A copy of an `overview` figure with a frame around one head: the cached figure is
    shared by every session, so it is never changed in place."""
    marked = go.Figure(fig)
    marked.add_shape(**_frame(layer, head))
    return marked


def clicked_cell(point: dict, n_layers: int, n_heads: int) -> tuple[int, int] | None:
    """(layer, head), 0-based, of a point a user clicked in `overview` (None when outside)."""
    try:
        head = int(np.floor(float(point["x"]) + 0.5)) - 1
        layer = int(np.floor(float(point["y"]) + 0.5)) - 1
    except (KeyError, TypeError, ValueError):
        return None
    if 0 <= layer < n_layers and 0 <= head < n_heads:
        return layer, head
    return None


# ---------------------------------------------------------------- line view


def head_lines(
    weights: np.ndarray,
    heads,
    row_labels,
    col_labels,
    *,
    min_weight: float = 0.02,
    top: int = 5,
    query: int | None = None,
    head_word: str = "head",
    levels: int = 6,
) -> go.Figure:
    """The line view as a plotly figure (the notebook API's; the pages draw `lines.lines_svg`,
    which answers the pointer): the same lines (`lines.segments`).

    Plotly cannot vary opacity along one trace, so the lines of a head are binned into `levels`
    opacity levels, one trace each.

    Args:
        weights: (K, R, C) weights of the K chosen heads.
        heads: the K heads' indices (0-based), for colours and the legend.
        query: draw only this row's lines (index into the rows).
    """
    n_rows, n_cols = np.shape(weights)[-2:]
    fig = go.Figure()
    kept = segments(weights, top=top, min_weight=min_weight, query=query)
    for head, (rows, cols, strength) in zip(heads, kept, strict=True):
        bins = np.minimum((strength * levels).astype(int), levels - 1)  # (N,) 0..levels-1
        colour = HEAD_COLOURS[head % len(HEAD_COLOURS)]
        shown = False
        for level in range(levels - 1, -1, -1):
            pick = bins == level
            if not pick.any():
                continue
            count = int(pick.sum())
            # Segments (0, row) -> (1, col) separated by NaN gaps, as float32 typed arrays.
            xs = np.tile(np.array([0.0, 1.0, np.nan], np.float32), count)
            ys = np.empty(3 * count, np.float32)
            ys[0::3], ys[1::3], ys[2::3] = rows[pick], cols[pick], np.nan
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=ys,
                    mode="lines",
                    line=dict(color=colour, width=2),
                    opacity=(level + 1) / levels,
                    name=f"{head_word} {head + 1}",
                    legendgroup=str(head),
                    showlegend=not shown,
                    hoverinfo="skip",
                )
            )
            shown = True
        if not shown:  # keep the head in the legend even when no line passes the threshold
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="lines",
                    line=dict(color=colour, width=2),
                    name=f"{head_word} {head + 1}",
                    legendgroup=str(head),
                )
            )
    # queries in a column on the left, keys on the right
    for x, labels, position in ((0, row_labels, "middle left"), (1, col_labels, "middle right")):
        fig.add_trace(
            go.Scatter(
                x=np.full(len(labels), x, np.float32),
                y=np.arange(len(labels), dtype=np.float32),
                text=[escape(label) for label in labels],
                mode="text",
                textposition=position,
                hoverinfo="skip",
                showlegend=False,
            )
        )
    height = 22 * max(n_rows, n_cols, 1) + 90
    fig.update_layout(
        height=min(height, 12_000),
        margin=dict(l=10, r=10, t=30, b=10),
        xaxis=dict(visible=False, range=[-0.9, 1.9], fixedrange=True),
        yaxis=dict(visible=False, autorange="reversed", fixedrange=True),
        legend=dict(orientation="h", y=1.0, yanchor="bottom"),
        plot_bgcolor="rgba(0,0,0,0)",
        dragmode=False,
    )
    return fig


# ---------------------------------------------------------------- head statistics


def stats_map(
    values: np.ndarray,
    *,
    title: str = "",
    layer_word: str = "layer",
    head_word: str = "head",
    colorscale: str = "Viridis",
) -> go.Figure:
    """One metric of every head as an L x H map, the value on hover (1-based numbering)."""
    n_layers, n_heads = values.shape
    fig = go.Figure(
        go.Heatmap(
            z=np.asarray(values, dtype=np.float32),
            x=np.arange(1, n_heads + 1),
            y=np.arange(1, n_layers + 1),
            colorscale=colorscale,
            hovertemplate=(
                f"{layer_word} %{{y}} · {head_word} %{{x}}<br>%{{z:.3f}}<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title=title,
        height=max(260, 30 * n_layers + 100),
        margin=dict(l=60, r=10, t=40 if title else 10, b=40),
        xaxis=dict(title=head_word, dtick=1),
        yaxis=dict(title=layer_word, dtick=1, autorange="reversed"),
    )
    return fig


def figure_bytes(fig: go.Figure) -> int:
    """Size of the JSON streamlit sends for a figure (it calls plotly.io.to_json the same way)."""
    import plotly.io

    return len(plotly.io.to_json(fig, validate=False).encode("utf-8"))
