"""Figures of an open trace (attnviz/opentrace.py), for the open page and `attnviz.view`: the
text page's heatmap, all-heads overview, line view, head statistics and rollout, on any model's
weights. Pure numpy + plotly; words from the catalog in the language asked for.

Layers and heads are numbered from 1 in everything the user reads; indices here start at 0.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from attnviz import i18n
from attnviz.figures import text as figs
from attnviz.figures.heatmap import heatmap
from attnviz.opentrace import OpenTrace
from attnviz.text import visible


def labels(trace: OpenTrace) -> tuple[list[str], list[str]]:
    """(query labels, key labels) as the pages show them (a bidi override cannot turn a line)."""
    return [visible(s) for s in trace.queries], [visible(s) for s in trace.keys]


def matrix_map(
    matrix: np.ndarray, trace: OpenTrace, title: str, lang: str, fixed: bool = False
) -> go.Figure:
    """One (Tq, Tk) matrix of the trace (a head's weights, a rollout) as the text page's heatmap;
    `fixed`: colours over 0-1 instead of the map's own range."""
    rows, cols = labels(trace)
    return heatmap(
        matrix, cols, rows, title=title,
        x_title=i18n.t("text.key_axis", lang), y_title=i18n.t("text.query_axis", lang),
        zmax=1.0 if fixed else None,
        scale_title=i18n.t(f"range.title_{'fixed' if fixed else 'head'}", lang),
    )  # fmt: skip


def head_map(trace: OpenTrace, layer: int, head: int, lang: str, fixed: bool = False) -> go.Figure:
    title = i18n.t("text.heatmap_title", lang, layer=layer + 1, head=head + 1)
    return matrix_map(trace.attentions[layer, head], trace, title, lang, fixed)


def rollout_map(rolled: np.ndarray, trace: OpenTrace, layer: int, lang: str, fixed=False):
    """The rollout after `layer`; `rolled` (L, T, T) is attnviz.rollout.rollout's result."""
    title = i18n.t("text.rollout_title", lang, layer=layer + 1)
    return matrix_map(rolled[layer], trace, title, lang, fixed)


def overview(trace: OpenTrace, lang: str) -> go.Figure:
    """Every layer × head as a small map (clicks give the head, see figures.text.overview)."""
    return figs.overview(
        trace.attentions,
        layer_word=i18n.t("text.layer", lang),
        head_word=i18n.t("text.head", lang),
    )


def mark_overview(trace: OpenTrace, layer: int, head: int, lang: str) -> go.Figure:
    """The overview with a frame around one head."""
    return figs.mark_cell(overview(trace, lang), layer, head)


def lines(
    trace: OpenTrace, layer: int, heads: list[int], lang: str, query: int | None = None
) -> go.Figure:
    """The token-to-token lines of some heads of one layer (figures.text.head_lines)."""
    rows, cols = labels(trace)
    return figs.head_lines(
        trace.attentions[layer, heads], heads, rows, cols,
        query=query, head_word=i18n.t("text.head", lang),
    )  # fmt: skip


def stats_map(values: np.ndarray, metric: str, lang: str) -> go.Figure:
    """One head statistic (attnviz.headstats) of every head as an L × H map."""
    return figs.stats_map(
        values,
        title=i18n.t(f"text.metric.{metric}", lang),
        layer_word=i18n.t("text.layer", lang),
        head_word=i18n.t("text.head", lang),
    )
