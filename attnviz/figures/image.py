"""Figures of a vision transformer's attention on a photo (the image page): plotly on numpy,
built from the parts in patches.py (its docstring has the geometry); the maps and rows they draw
come from attnviz/views/image.py.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.patches import (
    QUERY_COLOR,
    TOPK_COLOR,
    click_trace,
    finish,
    jpeg_uri,
    map_trace,
    outline,
    patch_box,
    photo_trace,
    pixel_layout,
    square_map,
)
from attnviz.views import image as views


def overlay(
    photo: np.ndarray | None,
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
        photo: uint8 (S, S, 3), the image the model saw; None: the map alone (`grid_figure`).
        grid: (G, G) values per patch; NaN cells are left transparent.
        labels: G² hover labels of the patches, row-major.
        value_name: what the values are, for the hover text ("weight").
        opacity: of the map over the photo, 0 (photo only) .. 1 (map only).
        query: patch index to outline (the query), or None (CLS is the query).
        artifacts: patch indices to outline dashed.
        size: figure width in screen pixels.
        log: colour by log10 of the values (hover still shows the values).
    """
    grid, side = square_map(grid, labels)
    if photo is None:  # axes in grid cells, the map opaque
        pixels, under, opacity = side, [], 1.0
    else:
        photo = np.asarray(photo)
        pixels = photo.shape[0]
        if photo.shape != (pixels, pixels, 3):
            raise ValueError(f"photo must be (S, S, 3), got {photo.shape}")
        under = [photo_trace(photo)]
    data = [
        *under,
        map_trace(grid, pixels, opacity, log=log),
        click_trace(grid, pixels, labels, value_name, size),
    ]
    return finish(data, side, pixels, size, title, query, artifacts)


def grid_figure(grid: np.ndarray, **options) -> go.Figure:
    """The (G, G) patch-grid heatmap alone (no photo), clickable patch by patch; `options` are
    `overlay`'s (but opacity)."""
    return overlay(None, grid, **options)


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
        trace = map_trace(grid, extent, 1.0 if thumb is None else opacity, colorbar=False, log=log)
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
            box = outline(query, side, extent, QUERY_COLOR, width=2)
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
    outlines = [outline(patch, side, pixels, TOPK_COLOR, width=2) for patch in patches]
    return finish([photo_trace(photo)], side, pixels, size, title, query, (), outlines, ranks)


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
    trace = map_trace(pooled, pixels, opacity)
    trace.update(hovertemplate=value_name + ": %{z:.3f}<extra></extra>")
    trace.hoverinfo = None
    return go.Figure([photo_trace(photo), trace], pixel_layout(pixels, size, title))


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
