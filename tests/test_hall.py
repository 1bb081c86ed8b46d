"""The lecture hall's pieces without a browser (issue 17): short links, cell numbers, word
tiles, the per-head grids' photo, clickable heatmap cells, the start page's previews."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from conftest import PAGES

from attnviz.figures import classifier, heatmap
from attnviz.figures import image as image_figs
from attnviz.ui import charts, handoff, previews


def test_short_links_resolve_to_their_view_without_present():
    view = {"lang": "zh", "layer": "6", "text": "猫坐在垫子上", "present": "1"}
    code = handoff.shorten("text", view)
    assert handoff.CODE.fullmatch(code)
    assert handoff.shorten("text", {k: v for k, v in view.items() if k != "present"}) == code
    page, params = handoff.resolve(code)
    assert page == "text" and params == {"lang": "zh", "layer": "6", "text": "猫坐在垫子上"}
    assert handoff.shorten("image", view) != code
    for bad in ("", "zzzzzzzz", code.upper(), code + "0", "../../x"):
        assert handoff.resolve(bad) is None


def test_qr_code_is_a_png():
    assert handoff.qr_png("http://127.0.0.1:8501/?go=0123abcd").startswith(b"\x89PNG")


def test_cell_numbers_are_short():
    z = np.array([[0.834, 1.0, 0.0], [-0.5, 2.345, -np.inf]])
    fig = heatmap.heatmap(z, list("abc"), list("xy"))
    assert fig.data[0].text.tolist() == [[".83", "1", "0"], ["-.50", "2.35", ""]]
    assert fig.data[1].text.tolist()[1][2] == "−∞"  # masked cells keep their label


@pytest.mark.parametrize("words", [["i", "love", "it"], ["smooth"] * 12, ["x" * 40] * 3])
def test_word_tiles_fit_a_phone(words):
    per_row = classifier.tiles_per_row(words)
    longest = min(max(map(len, words)), classifier.TILE_CHARS)
    assert 3 <= per_row <= 10 and per_row * (8 * longest + 16) <= 340 or per_row == 3
    fig = classifier.shaded_tokens(words, np.linspace(0.1, 1, len(words)))
    shown = [s for s in fig.data[0].text.ravel() if s]
    assert all(len(s) <= classifier.TILE_CHARS for s in shown)
    assert [s for s in fig.data[0].customdata.ravel() if s] == words  # hover: the whole word


def test_head_grids_lie_over_the_photo():
    photo = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    grids = np.random.default_rng(1).random((6, 16, 16))
    fig = image_figs.heads_figure(grids, titles=list("abcdef"), query=5, photo=photo)
    images = [d for d in fig.data if d.type == "image"]
    maps = [d for d in fig.data if d.type == "heatmap"]
    assert len(images) == len(maps) == 6
    for picture, grid in zip(images, maps, strict=True):
        assert (picture.xaxis, picture.yaxis) == (grid.xaxis, grid.yaxis)
        assert fig.data.index(picture) < fig.data.index(grid)  # the photo beneath
        assert grid.opacity == pytest.approx(0.6) and grid.dx == 224 / 16
    assert fig.layout.xaxis.range == (0, 224) and fig.layout.shapes[0].x1 == 6 * 14


def test_clickable_cells_keep_the_plot_and_carry_each_cell():
    z = np.arange(6, dtype=np.float32).reshape(2, 3) / 6
    spec = heatmap.heatmap(z, list("abc"), list("xy")).to_dict()
    charts._clickable(spec)
    markers = spec["data"][-1]
    assert markers["type"] == "scatter" and len(markers["x"]) == 6
    assert list(zip(markers["x"], markers["y"], strict=True))[4] == ("b", "y")
    assert spec["layout"]["xaxis"]["range"] == [-0.5, 2.5]
    assert spec["layout"]["yaxis"]["range"] == [1.5, -0.5]  # queries still read downwards
    assert spec["layout"]["clickmode"] == "event+select"
    go.Figure(spec)  # still a valid figure


def test_every_page_has_a_preview():
    for page in PAGES:
        svg = previews.svg(page)
        assert svg.startswith("<svg") and svg.count("<rect") >= 8 and len(svg) < 20_000
