"""attnviz/ui/charts.py: the styling written into a figure's JSON is what plotly's own update
methods set (they are the reference: the JSON route only skips their validation, for speed)."""

import json

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.utils import PlotlyJSONEncoder

from attnviz.figures import image as image_figs
from attnviz.figures import seq2seq as seq2seq_figs
from attnviz.figures import text as text_figs
from attnviz.figures.heatmap import heatmap
from attnviz.ui.charts import style_spec


def by_plotly(fig: go.Figure, ink: str, projector: bool) -> dict:
    """The styling done through plotly's update methods, on a copy."""
    fig = go.Figure(fig)
    body, ticks = (18, 16) if projector else (14, 13)
    fig.update_layout(font=dict(size=body, color=ink), title_font=dict(size=body + 4))
    fig.update_xaxes(tickfont=dict(size=ticks, color=ink), title_font=dict(size=body, color=ink))
    fig.update_yaxes(tickfont=dict(size=ticks, color=ink), title_font=dict(size=body, color=ink))
    fig.update_traces(
        colorbar=dict(tickfont=dict(size=ticks, color=ink)), selector=dict(type="heatmap")
    )
    least = 14 if projector else 12  # no text under 12 px (14 on a projector)
    fig.update_traces(
        textfont=dict(size=least), selector=lambda tr: tr.type == "heatmap" and tr.texttemplate
    )
    for note in fig.layout.annotations:
        note.font.size = ticks if projector else max(note.font.size or body, least)
    return fig.to_dict()


def figures() -> dict[str, go.Figure]:
    rng = np.random.default_rng(0)
    grid = rng.random((16, 16))
    labels = [str(p) for p in range(256)]
    photo = (rng.random((224, 224, 3)) * 255).astype(np.uint8)
    weights = rng.random((4, 5))
    return {
        "heatmap": heatmap(weights, list("abcde"), list("wxyz"), title="t", x_title="keys"),
        "untitled heatmap": heatmap(weights, list("abcde"), list("wxyz")),
        "photo overlay": image_figs.overlay(
            photo, grid, labels=labels, value_name="w", opacity=0.6, title="t", query=3
        ),
        "12 panels": image_figs.heads_figure(
            [grid] * 12, titles=[str(i) for i in range(12)], query=3, cols=6, size=192
        ),
        "alignment": seq2seq_figs.alignment(weights, list("abcde"), list("wxyz"), step=1),
        "overview": text_figs.overview(rng.random((2, 3, 5, 5)), selected=(1, 2)),
    }


@pytest.mark.parametrize("projector", [False, True])
@pytest.mark.parametrize("ink", ["#111111", "#f0f2f6"])
@pytest.mark.parametrize("name", list(figures()))
def test_json_styling_equals_plotlys_update_methods(name, ink, projector):
    fig = figures()[name]
    before = fig.to_dict()
    assert as_json(style_spec(fig.to_dict(), ink, projector)) == as_json(
        by_plotly(fig, ink, projector)
    )
    assert as_json(fig.to_dict()) == as_json(before)  # never changed (caches share figures)


def as_json(spec: dict) -> str:
    """A figure's JSON, comparable (cells' text comes as numpy arrays, which `==` cannot)."""
    return json.dumps(spec, cls=PlotlyJSONEncoder, sort_keys=True)
