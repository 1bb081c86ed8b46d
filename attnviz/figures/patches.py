"""The parts every figure of a photo cut into patches is made of: plotly on numpy (+ PIL for
JPEG). The figures themselves are in image.py (the image page) and classifier.py (the digits).

Geometry: the photo the model saw is S×S pixels (224) cut into a G×G grid (16) of p×p patches
(14). Axes are in pixels, x to the right and y downwards, with the photo covering [0, S] × [0, S];
patch (row r, col c) covers x in [c·p, (c+1)·p] and y in [r·p, (r+1)·p]. Token 0 of a trace is
CLS; patch (r, c) is token 1 + r·G + c.

The photo travels once per figure as a JPEG data URI (a few kB), not as S×S×3 numbers; maps are
sent at patch resolution (G×G values), so a figure stays small.

Plotly heatmaps cannot be clicked in Streamlit (selection events only work on scatter points),
so clickable figures carry a layer of invisible square markers, one per patch, on top
(`click_trace`; `image.clicked_patch` reads a click).
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
import plotly.graph_objects as go
from PIL import Image
from plotly.colors import sequential

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


# ---- traces and layout -------------------------------------------------------------------------


def pixel_layout(pixels: int, size: int, title: str | None, shapes=(), annotations=()) -> dict:
    """Square pixel axes with y downwards, as an image is read; the figure's whole layout.

    Figures are built with their layout in one go: plotly's update_* methods cost ~1 ms per
    property path, a good part of a rerun.
    """
    figure = dict(
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
        figure["title"] = dict(text=title, x=0.5, xanchor="center", font=dict(size=14))
    if shapes:
        figure["shapes"] = list(shapes)
    if annotations:
        figure["annotations"] = list(annotations)
    return figure


def photo_trace(photo: np.ndarray) -> go.Image:
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


def map_trace(grid: np.ndarray, pixels: int, opacity: float, colorbar=True, log=False):
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


def click_trace(grid: np.ndarray, pixels: int, labels, value_name: str, size: int) -> go.Scatter:
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


def outline(patch: int, side: int, pixels: int, color: str, width=2, dash=None) -> dict:
    """A rectangle around one patch (a layout shape)."""
    x0, y0, x1, y1 = patch_box(patch, side, pixels)
    return dict(
        type="rect", x0=x0, y0=y0, x1=x1, y1=y1, line=dict(color=color, width=width, dash=dash)
    )


def finish(
    data, side, pixels, size, title, query, artifacts=(), shapes=(), annotations=()
) -> go.Figure:
    """The figure of `data` with `shapes`, then the artifact and query patches outlined."""
    shapes = [*shapes]
    shapes += [outline(p, side, pixels, ARTIFACT_COLOR, width=1.5, dash="dot") for p in artifacts]
    if query is not None:
        shapes.append(outline(query, side, pixels, QUERY_COLOR, width=3))
    return go.Figure(data, pixel_layout(pixels, size, title, shapes, annotations))


def square_map(grid: np.ndarray, labels) -> tuple[np.ndarray, int]:
    """A (G, G) float map and G, checked against its G² patch labels."""
    grid = np.asarray(grid, dtype=np.float64)
    side = grid.shape[0]
    if grid.shape != (side, side) or len(labels) != side * side:
        raise ValueError(f"map {grid.shape} and {len(labels)} labels do not match")
    return grid, side
