"""The image page's numpy and plotly layers, views/image.py and figures/image.py, on synthetic
data: geometry, overlay alignment, small payloads (the page itself: test_image_page.py)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from attnviz.figures import image as fig_image
from attnviz.figures import patches
from attnviz.views import image as image_views

G, S, P = 16, 224, 14
LABELS = [f"patch ({r}, {c})" for r in range(G) for c in range(G)]


def _weights(seed: int = 0, heads: int = 6) -> np.ndarray:
    """Random row-stochastic (H, T, T) weights over T = 1 + 16×16 tokens."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(heads, 1 + G * G, 1 + G * G))
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def _photo(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(S, S, 3), dtype=np.uint8)


def test_patch_map_drops_cls_and_is_row_major():
    row = np.arange(1 + G * G, dtype=float)  # token i has value i
    grid = image_views.patch_map(row)
    assert grid.shape == (G, G)
    # patch (r, c) is token 1 + r*G + c
    assert grid[0, 0] == 1 and grid[0, 1] == 2 and grid[1, 0] == 1 + G and grid[15, 15] == G * G


def test_attention_row_mean_over_heads_sums_to_one():
    w = _weights()
    mean = image_views.attention_row(w, query=5)
    assert mean.shape == (1 + G * G,)
    assert mean.sum() == pytest.approx(1.0)
    assert np.allclose(mean, w[:, 5, :].mean(axis=0))
    assert np.array_equal(image_views.attention_row(w, query=5, head=3), w[3, 5])


def test_patch_box_is_the_patch_pixel_block():
    for patch in (0, 17, 100, 255):
        r, c = divmod(patch, G)  # patch index = r * G + c, row-major like the conv's flatten
        assert patches.patch_box(patch, G, S) == (c * P, r * P, (c + 1) * P, (r + 1) * P)


def test_overlay_heatmap_cells_cover_their_patches():
    """In the figure itself, the map's cell (r, c) spans exactly patch (r, c)'s pixels."""
    grid = np.zeros((G, G))
    grid[3, 7] = 1.0
    fig = fig_image.overlay(_photo(), grid, labels=LABELS, value_name="weight", opacity=0.5)
    photo, heat, click = fig.data
    assert photo.type == "image" and heat.type == "heatmap" and click.type == "scatter"
    # the photo covers [0, 224]: pixel i is centred at i + 0.5
    assert (photo.x0, photo.y0, photo.dx, photo.dy) == (0.5, 0.5, 1, 1)
    # cell j is centred at x0 + j*dx and is dx wide: [j*14, (j+1)*14]
    assert (heat.x0, heat.dx, heat.y0, heat.dy) == (7.0, 14.0, 7.0, 14.0)
    r, c = np.argwhere(np.asarray(heat.z) == 1.0)[0]
    assert (r, c) == (3, 7)
    left, right = heat.x0 + c * heat.dx - heat.dx / 2, heat.x0 + c * heat.dx + heat.dx / 2
    top, bottom = heat.y0 + r * heat.dy - heat.dy / 2, heat.y0 + r * heat.dy + heat.dy / 2
    assert (left, top, right, bottom) == patches.patch_box(3 * G + 7, G, S)
    assert heat.opacity == 0.5
    # y grows downwards, as the photo's rows do
    assert tuple(fig.layout.yaxis.range) == (S, 0)
    # the click marker of patch (3, 7) sits at the centre of that patch
    assert (click.x[3 * G + 7], click.y[3 * G + 7]) == (7 * P + 7, 3 * P + 7)
    assert click.customdata[3 * G + 7] == 1.0


def test_overlay_sends_the_photo_once_as_a_jpeg():
    photo = _photo()
    fig = fig_image.overlay(photo, np.random.rand(G, G), labels=LABELS, value_name="w")
    uri = fig.data[0].source
    assert uri.startswith("data:image/jpeg;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert decoded.shape == (S, S, 3)
    # no pixel list travels next to it, and the whole figure stays small
    assert fig.data[0].z is None
    assert len(fig.to_json()) < 120_000


def test_clean_map_mask_and_clip():
    grid = np.full((G, G), 0.001)
    grid.reshape(-1)[[5, 40]] = [0.5, 0.3]  # two artifacts
    grid.reshape(-1)[100] = 0.02  # the largest ordinary patch
    masked = image_views.clean_map(grid, [5, 40], "mask")
    assert np.isnan(masked.reshape(-1)[[5, 40]]).all()
    assert np.isfinite(np.delete(masked.reshape(-1), [5, 40])).all()
    clipped = image_views.clean_map(grid, [5, 40], "clip")
    assert clipped.max() == pytest.approx(0.02)
    assert clipped.reshape(-1)[5] == pytest.approx(0.02)
    assert np.array_equal(image_views.clean_map(grid, [5, 40], "show"), grid)
    assert grid.reshape(-1)[5] == 0.5  # the input is untouched
    with pytest.raises(ValueError):
        image_views.clean_map(grid, [5], "hide")


def test_top_patches_skips_cls_and_excluded():
    row = np.zeros(1 + G * G)
    row[0] = 0.9  # CLS: never a patch
    row[1 + 10], row[1 + 20], row[1 + 30] = 0.05, 0.04, 0.03
    assert list(image_views.top_patches(row, 2)) == [10, 20]
    assert list(image_views.top_patches(row, 2, exclude=[10])) == [20, 30]


def test_topk_figure_outlines_ranked_patches():
    fig = fig_image.topk_figure(_photo(), [10, 20, 30], query=0)
    boxes = [(s.x0, s.y0, s.x1, s.y1) for s in fig.layout.shapes]
    assert boxes[:3] == [patches.patch_box(p, G, S) for p in (10, 20, 30)]
    assert boxes[3] == patches.patch_box(0, G, S)  # the query, last so it is on top
    assert [a.text for a in fig.layout.annotations] == ["1", "2", "3"]


def test_grid_figure_and_click_parsing():
    grid = np.random.rand(G, G)
    fig = fig_image.grid_figure(grid, labels=LABELS, value_name="w", query=17, artifacts=[3])
    assert fig.data[0].type == "heatmap" and fig.data[-1].type == "scatter"
    assert len(fig.data[-1].x) == G * G
    # Streamlit's selection of a click on marker 42 of the last trace
    click = {"points": [{"curve_number": 1, "point_index": 42, "x": 10.5, "y": 2.5}]}
    assert fig_image.clicked_patch(click, fig) == 42
    assert fig_image.clicked_patch({"points": [{"curve_number": 0, "point_index": 3}]}, fig) is None
    assert fig_image.clicked_patch({"points": []}, fig) is None
    assert fig_image.clicked_patch(None, fig) is None


def test_heads_figure_one_panel_per_head():
    w = _weights()
    grids = np.stack([image_views.patch_map(w[h, 0]) for h in range(6)])
    fig = fig_image.heads_figure(grids, titles=[f"head {h + 1}" for h in range(6)], query=None)
    assert len(fig.data) == 6
    assert {d.xaxis for d in fig.data} == {"x", "x2", "x3", "x4", "x5", "x6"}
    for h, d in enumerate(fig.data):
        assert np.allclose(np.asarray(d.z), grids[h], atol=1e-6)


def test_saliency_is_pooled_and_aligned():
    saliency = np.zeros((S, S))
    saliency[8:12, 100:104] = 1.0  # exactly one 4×4 block
    fig = fig_image.saliency_figure(_photo(), saliency, value_name="saliency", factor=4)
    heat = fig.data[1]
    z = np.asarray(heat.z)
    assert z.shape == (56, 56)
    assert np.argwhere(z == 1.0).tolist() == [[2, 25]]
    assert (heat.x0, heat.dx) == (2.0, 4.0)  # cell 25 spans [100, 104]


def test_no_streamlit_colour_placeholders_in_figures():
    """Streamlit's theme rewrites #000001..#000010 in a figure's JSON (Inferno starts #000004)."""
    w = _weights()
    grid = image_views.patch_map(w[0, 0])
    figures = [
        fig_image.overlay(_photo(), grid, labels=LABELS, value_name="w"),
        fig_image.grid_figure(grid, labels=LABELS, value_name="w", log=True),
        fig_image.heads_figure(np.stack([grid] * 6), titles=list("abcdef")),
        fig_image.saliency_figure(_photo(), np.random.rand(S, S), value_name="s"),
    ]
    for fig in figures:
        spec = json.loads(fig.to_json())
        spec["layout"].pop("template", None)  # Streamlit's own template uses them on purpose
        text = json.dumps(spec).lower()
        assert not [f"#0000{i:02d}" for i in range(1, 11) if f"#0000{i:02d}" in text]


def test_log_map_floors_log_decades_below_the_top():
    grid = np.full((G, G), 1e-9)
    grid[0, 0] = 0.5
    grid[1, 1] = np.nan
    z, zmin, zmax = patches.log_map(grid)
    assert zmax == pytest.approx(np.log10(0.5))
    assert zmin == pytest.approx(np.log10(0.5) - patches.LOG_DECADES)
    assert z[2, 2] == pytest.approx(zmin) and np.isnan(z[1, 1])
    fig = fig_image.grid_figure(grid, labels=LABELS, value_name="w", log=True)
    # the hover layer keeps the real weights, not their logarithm
    assert fig.data[-1].customdata[0] == pytest.approx(0.5)


def test_padding_share_sums_the_weight_on_padding_patches():
    row = np.full(1 + G * G, 1 / (1 + G * G))  # (T,) even weights
    content = np.ones(G * G)
    content[: 2 * G] = 0.0  # two rows of padding at the top
    content[2 * G] = 0.4  # mostly padding: counts as padding
    assert image_views.padding_share(row, content) == pytest.approx((2 * G + 1) / (1 + G * G))
    assert image_views.padding_share(row, np.ones(G * G)) == 0.0
