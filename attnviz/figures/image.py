"""Figures of a vision transformer's attention on a photo: plotly on numpy (+ PIL for JPEG);
the maps and rows they draw come from attnviz/views/image.py.

Geometry, shared by every figure here: the photo the model saw is S×S pixels (224) cut into a
G×G grid (16) of p×p patches (14). Axes are in pixels, x to the right and y downwards, with the
photo covering [0, S] × [0, S]; patch (row r, col c) covers x in [c·p, (c+1)·p] and y in
[r·p, (r+1)·p]. Token 0 of a trace is CLS; patch (r, c) is token 1 + r·G + c.

The photo travels once per figure as a JPEG data URI (a few kB), not as S×S×3 numbers; maps are
sent at patch resolution (G×G values), so a figure stays small.

Plotly heatmaps cannot be clicked in Streamlit (selection events only work on scatter points),
so clickable figures carry a layer of invisible square markers, one per patch, on top.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import sequential

from attnviz.views import image as views

# Plotly's Inferno, but starting at #000000: Streamlit's chart theme uses the colours #000001 ..
# #000010 as placeholders and replaces them in the figure's JSON, which turned Inferno's first
# colour (#000004) into the theme's pink.
COLORSCALE = [
    [i / (len(sequential.Inferno) - 1), "#000000" if color == "#000004" else color]
    for i, color in enumerate(sequential.Inferno)
]
QUERY_COLOR = "#00e5ff"  # the query patch: cyan stands out on every inferno colour
TOPK_COLOR = "#7CFC00"
ARTIFACT_COLOR = "#ff2d95"
LOG_DECADES = 3


# ---- arrays -------------------------------------------------------------------------------------


def jpeg_uri(photo: np.ndarray, quality: int = 85) -> str:
    """A uint8 (S, S, 3) photo as a `data:image/jpeg;base64,...` URI."""
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(photo, dtype=np.uint8), mode="RGB").save(
        buffer, format="JPEG", quality=quality
    )
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def patch_box(patch: int, side: int, pixels: int) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in pixels of a patch index on a side×side grid over pixels×pixels."""
    p = pixels / side
    r, c = divmod(int(patch), side)
    return c * p, r * p, (c + 1) * p, (r + 1) * p


# ---- figures ------------------------------------------------------------------------------------


def _layout(pixels: int, size: int, title: str | None, shapes=(), annotations=()) -> dict:
    """Square pixel axes with y downwards, as an image is read; the figure's whole layout.

    Figures are built with their layout in one go: plotly's update_* methods cost ~1 ms per
    property path, a good part of a rerun.
    """
    layout = dict(
        xaxis=dict(range=[0, pixels], visible=False, constrain="domain"),
        yaxis=dict(range=[pixels, 0], visible=False, scaleanchor="x", constrain="domain"),
        width=size,
        height=size + (30 if title else 0),
        margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        showlegend=False,
        dragmode=False,
        hovermode="closest",
    )
    if title:
        layout["title"] = dict(text=title, x=0.5, xanchor="center", font=dict(size=14))
    if shapes:
        layout["shapes"] = list(shapes)
    if annotations:
        layout["annotations"] = list(annotations)
    return layout


def _photo_trace(photo: np.ndarray) -> go.Image:
    # x0 = y0 = 0.5 puts pixel i's centre at i + 0.5, so the photo covers exactly [0, S].
    return go.Image(
        source=jpeg_uri(photo), x0=0.5, y0=0.5, dx=1, dy=1, hoverinfo="skip", name="photo"
    )


def log_map(grid: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(log10 of the map, zmin, zmax) for a log colour scale, floored LOG_DECADES below the top.

    Attention is peaked: one patch can hold 0.3 while most hold 0.001. A log scale shows both;
    the floor keeps exact zeros (and float noise) from stretching the scale to -infinity.
    """
    grid = np.asarray(grid, dtype=np.float64)
    finite = grid[np.isfinite(grid)]
    top = float(finite.max()) if finite.size else 0.0
    if top <= 0:
        return np.zeros_like(grid), -1.0, 0.0
    floor = top * 10.0**-LOG_DECADES
    with np.errstate(invalid="ignore"):  # NaN (masked) cells stay NaN
        z = np.log10(np.where(np.isnan(grid), np.nan, np.maximum(grid, floor)))
    return z, float(np.log10(floor)), float(np.log10(top))


def _map_trace(grid: np.ndarray, pixels: int, opacity: float, colorbar=True, log=False):
    side = grid.shape[0]
    p = pixels / side
    bar = dict(thickness=10, len=0.8)
    if log:
        z, zmin, zmax = log_map(grid)
        decades = np.arange(math.ceil(zmin), math.floor(zmax) + 1)
        bar.update(tickvals=decades.tolist(), ticktext=[f"1e{d}" for d in decades])
    else:
        finite = grid[np.isfinite(grid)]
        z, zmin, zmax = grid, 0.0, float(finite.max()) if finite.size else 1.0
    return go.Heatmap(
        z=np.asarray(z, dtype=np.float32),
        # cell (r, c) centred at ((c + ½)p, (r + ½)p), so it covers its patch exactly
        x0=p / 2,
        dx=p,
        y0=p / 2,
        dy=p,
        zmin=zmin,
        zmax=zmax if zmax > zmin else zmin + 1.0,
        colorscale=COLORSCALE,
        opacity=float(opacity),
        hoverinfo="skip",  # the click layer above carries the hover text
        showscale=colorbar,
        colorbar=bar,
        name="map",
    )


def _click_trace(grid: np.ndarray, pixels: int, labels, value_name: str, size: int) -> go.Scatter:
    """One invisible square marker per patch: what Streamlit's point selection can click."""
    side = grid.shape[0]
    p = pixels / side
    rows, cols = np.divmod(np.arange(side * side), side)  # (P,), (P,)
    return go.Scatter(
        x=((cols + 0.5) * p).astype(np.float32),
        y=((rows + 0.5) * p).astype(np.float32),
        mode="markers",
        marker=dict(symbol="square", size=max(size / side - 2, 4), color="rgba(0,0,0,0)"),
        # a clicked patch must not dim the others (plotly's default for unselected points)
        selected=dict(marker=dict(opacity=1)),
        unselected=dict(marker=dict(opacity=1)),
        customdata=grid.reshape(-1).astype(np.float32),
        text=list(labels),
        hovertemplate="%{text}<br>" + value_name + ": %{customdata:.4f}<extra></extra>",
        name="patches",
    )


def _outline(patch: int, side: int, pixels: int, color: str, width=2, dash=None) -> dict:
    """A rectangle around one patch (a layout shape)."""
    x0, y0, x1, y1 = patch_box(patch, side, pixels)
    return dict(
        type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=color, width=width, dash=dash)
    )


def _finish(
    data, side, pixels, size, title, query, artifacts=(), shapes=(), annotations=()
) -> go.Figure:
    """The figure of `data` with `shapes`, then the artifact and query patches outlined."""
    shapes = [*shapes]
    shapes += [_outline(p, side, pixels, ARTIFACT_COLOR, width=1.5, dash="dot") for p in artifacts]
    if query is not None:
        shapes.append(_outline(query, side, pixels, QUERY_COLOR, width=3))
    return go.Figure(data, _layout(pixels, size, title, shapes, annotations))


def _square_map(grid: np.ndarray, labels) -> tuple[np.ndarray, int]:
    """A (G, G) float map and G, checked against its G² patch labels."""
    grid = np.asarray(grid, dtype=np.float64)
    side = grid.shape[0]
    if grid.shape != (side, side) or len(labels) != side * side:
        raise ValueError(f"map {grid.shape} and {len(labels)} labels do not match")
    return grid, side


def overlay(
    photo: np.ndarray,
    grid: np.ndarray,
    *,
    labels,
    value_name: str,
    opacity: float = 0.6,
    title: str | None = None,
    query: int | None = None,
    artifacts=(),
    size: int = 448,
    log: bool = False,
) -> go.Figure:
    """The photo with a (G, G) patch map laid over it, clickable patch by patch.

    Args:
        photo: uint8 (S, S, 3), the image the model saw.
        grid: (G, G) values per patch; NaN cells are left transparent.
        labels: G² hover labels of the patches, row-major.
        value_name: what the values are, for the hover text ("weight").
        opacity: of the map over the photo, 0 (photo only) .. 1 (map only).
        query: patch index to outline (the query), or None (CLS is the query).
        artifacts: patch indices to outline dashed.
        size: figure width in screen pixels.
        log: colour by log10 of the values (hover still shows the values).
    """
    photo = np.asarray(photo)
    pixels = photo.shape[0]
    if photo.shape != (pixels, pixels, 3):
        raise ValueError(f"photo must be (S, S, 3), got {photo.shape}")
    grid, side = _square_map(grid, labels)
    data = [
        _photo_trace(photo),
        _map_trace(grid, pixels, opacity, log=log),
        _click_trace(grid, pixels, labels, value_name, size),
    ]
    return _finish(data, side, pixels, size, title, query, artifacts)


def grid_figure(
    grid: np.ndarray,
    *,
    labels,
    value_name: str,
    title: str | None = None,
    query: int | None = None,
    artifacts=(),
    size: int = 448,
    log: bool = False,
) -> go.Figure:
    """The (G, G) patch-grid heatmap alone (no photo), clickable patch by patch."""
    grid, side = _square_map(grid, labels)
    data = [
        _map_trace(grid, side, 1.0, log=log),
        _click_trace(grid, side, labels, value_name, size),
    ]
    return _finish(data, side, side, size, title, query, artifacts)


def heads_figure(
    grids: np.ndarray,
    *,
    titles,
    query: int | None = None,
    cols: int = 3,
    size: int = 150,
    log: bool = False,
    photo: np.ndarray | None = None,
    opacity: float = 0.6,
) -> go.Figure:
    """Small multiples: one (G, G) map per head, each on its own colour scale; with `photo`
    (S, S, 3), each map lies over the photo at `opacity`, so a panel shows *what* it looks at.

    Each head gets its own scale because heads differ by orders of magnitude in how peaked they
    are; one shared scale would leave most of them black.
    """
    grids = np.asarray(grids, dtype=np.float64)  # (H, G, G)
    heads, side = grids.shape[0], grids.shape[1]
    # Panel coordinates: the photo's pixels (patch p covers its pixels), or the grid's cells.
    extent = side if photo is None else photo.shape[0]
    # Half the photo's pixels are plenty for a small panel, and keep the JSON small: the same
    # picture goes under every panel.
    thumb = None if photo is None else jpeg_uri(np.ascontiguousarray(np.asarray(photo)[::2, ::2]))
    rows = math.ceil(heads / cols)
    gap_x, gap_y = 0.04, 0.12  # gap_y leaves room for each panel's title
    w = (1 - gap_x * (cols - 1)) / cols
    h = (1 - gap_y * (rows - 1)) / rows
    data, titled, shapes = [], [], []
    layout = dict(
        width=cols * size,
        height=rows * (size + 24),
        margin=dict(l=0, r=0, t=24, b=0),
        showlegend=False,
        dragmode=False,
    )
    for i, grid in enumerate(grids):
        r, c = divmod(i, cols)
        n = "" if i == 0 else str(i + 1)
        if thumb is not None:
            data.append(
                go.Image(
                    source=thumb, x0=1, y0=1, dx=2, dy=2, hoverinfo="skip", name="photo",
                    xaxis=f"x{n}", yaxis=f"y{n}",
                )
            )  # fmt: skip
        trace = _map_trace(grid, extent, 1.0 if thumb is None else opacity, colorbar=False, log=log)
        trace.update(xaxis=f"x{n}", yaxis=f"y{n}", hovertemplate="%{z:.4f}<extra></extra>")
        if log:  # z holds log10 then: hover shows the values, sent beside it
            trace.update(
                customdata=grid.astype(np.float32),
                hovertemplate="%{customdata:.4f}<extra></extra>",
            )
        trace.hoverinfo = None
        data.append(trace)
        x0 = c * (w + gap_x)
        y1 = 1 - r * (h + gap_y)
        layout[f"xaxis{n}"] = dict(
            domain=[max(x0, 0.0), min(x0 + w, 1.0)],
            range=[0, extent],
            visible=False,
            anchor=f"y{n}",
        )
        layout[f"yaxis{n}"] = dict(
            domain=[max(y1 - h, 0.0), min(y1, 1.0)],
            range=[extent, 0],
            visible=False,
            anchor=f"x{n}",
            scaleanchor=f"x{n}",
        )
        titled.append(
            dict(
                text=titles[i],
                x=x0 + w / 2,
                y=y1,
                xref="paper",
                yref="paper",
                yanchor="bottom",
                showarrow=False,
                font=dict(size=12),
            )
        )
        if query is not None:
            box = _outline(query, side, extent, QUERY_COLOR, width=2)
            shapes.append(dict(box, xref=f"x{n}", yref=f"y{n}"))
    layout["annotations"] = titled
    if shapes:
        layout["shapes"] = shapes
    return go.Figure(data, layout)


def topk_figure(
    photo: np.ndarray,
    patches,
    *,
    side: int = 16,
    title: str | None = None,
    query: int | None = None,
    size: int = 448,
) -> go.Figure:
    """The photo with the top-k patches outlined and numbered by rank (1 = largest weight)."""
    photo = np.asarray(photo)
    pixels = photo.shape[0]
    ranks = []
    for rank, patch in enumerate(patches, start=1):
        x0, y0, _, _ = patch_box(patch, side, pixels)
        ranks.append(
            dict(
                x=x0 + 1,
                y=y0 + 1,
                text=str(rank),
                showarrow=False,
                xanchor="left",
                yanchor="top",
                font=dict(color="black", size=10),
                bgcolor=TOPK_COLOR,
                borderpad=0,
            )
        )
    outlines = [_outline(patch, side, pixels, TOPK_COLOR, width=2) for patch in patches]
    return _finish([_photo_trace(photo)], side, pixels, size, title, query, (), outlines, ranks)


def saliency_figure(
    photo: np.ndarray,
    saliency: np.ndarray,
    *,
    value_name: str,
    opacity: float = 0.6,
    title: str | None = None,
    factor: int = 4,
    size: int = 448,
) -> go.Figure:
    """The saliency map (S, S) over the photo, averaged over factor×factor blocks to stay small."""
    photo = np.asarray(photo)
    pixels = photo.shape[0]
    if np.asarray(saliency).shape != (pixels, pixels):
        raise ValueError(f"saliency {np.asarray(saliency).shape} does not match the photo")
    pooled = views.pool(saliency, factor)  # (S/factor, S/factor)
    trace = _map_trace(pooled, pixels, opacity)
    trace.update(hovertemplate=value_name + ": %{z:.3f}<extra></extra>")
    trace.hoverinfo = None
    return go.Figure([_photo_trace(photo), trace], _layout(pixels, size, title))


def clicked_patch(selection, fig: go.Figure) -> int | None:
    """The patch index a Streamlit plotly selection of `fig` points at, or None.

    Only clicks on the invisible patch markers count (the last trace of `overlay` and
    `grid_figure`); their point index is the patch index.
    """
    curve = len(fig.data) - 1
    patches = len(fig.data[curve].x)
    points = (selection or {}).get("points") or []
    for point in reversed(points):
        index = point.get("point_index", point.get("point_number"))
        on_markers = point.get("curve_number", curve) == curve
        if on_markers and isinstance(index, int) and 0 <= index < patches:
            return index
    return None
