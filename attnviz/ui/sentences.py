"""Where the text page's numbers come from: the models (loaded once per server), their traces
and what is computed from them (in the server's byte-bounded cache, attnviz/ui/cache.py), and
the figures of one view, cached while what they show is unchanged.

A module, not the page: the page's script runs on every rerun, and a cached function defined
there is wrapped anew each time (Streamlit reads its source to key the cache).
"""

import dataclasses
import tomllib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from attnviz import headstats, i18n, shipped
from attnviz.figures import text as figs
from attnviz.figures.heatmap import heatmap
from attnviz.rollout import rollout
from attnviz.text import visible
from attnviz.trace import TextTrace
from attnviz.ui import cache
from attnviz.ui.cache import get_model
from attnviz.views import text as views


@st.cache_data
def samples() -> list[dict]:
    path = shipped.folder("assets") / "samples_text.toml"
    return tomllib.loads(path.read_text("utf-8"))["sample"]


def get_trace(name: str, text: str, pair: str | None):
    # In the server's byte-bounded cache (attnviz/ui/cache.py), not st.cache_data: a 512-token
    # trace is ~190 MB of read-only arrays, which cache_data would pickle on every hit.
    key = ("trace", name, text, pair)
    return cache.shared().get(key, lambda: get_model(name).trace(text, pair))


@dataclass(frozen=True, eq=False)
class Units:
    """What the views draw over: tokens, or words (a word's pieces pooled)."""

    layers: list[np.ndarray]  # L x (H, U, U) weights of every head
    labels: list[str]  # (U,) as the axes show them
    special: np.ndarray  # (U,) bool: [CLS]/[SEP]/<s>/</s>
    segment: np.ndarray  # (U,) 0 for sentence A, 1 for sentence B
    groups: np.ndarray | None = None  # (T,) each token's word, for words; None for tokens


def get_units(name: str, text: str, pair: str | None, words: bool) -> Units:
    """Weights of every head over tokens, or over words when `words`, with their labels.

    `layers` holds one (H, U, U) array per layer: for tokens the trace's own arrays (no copy:
    a 512-token E5 trace already holds 150 MB of weights), for words their pooled versions,
    which are cached beside the trace.
    """
    if not words:
        return _units(get_trace(name, text, pair), False)
    return cache.shared().get(
        ("words", name, text, pair), lambda: _units(get_trace(name, text, pair), True)
    )


def _units(trace: TextTrace, words: bool) -> Units:
    special = np.asarray(trace.special)
    segment = np.asarray(trace.segment)  # (T,) 0 for sentence A, 1 for sentence B
    layers = [layer.weights for layer in trace.layers]  # L x (H, T, T)
    labels = [visible(token) for token in trace.tokens]
    if words:
        groups, labels = np.asarray(trace.word_index), [visible(w) for w in trace.words]
        first = np.unique(groups, return_index=True)[1]  # the first piece of every word
        layers = [views.pool_words(weights, groups) for weights in layers]  # L x (H, W, W)
        return Units(layers, labels, special[first], segment[first], groups)
    return Units(layers, labels, special, segment)


# Figures are small (the overview is at most 360 000 one-byte cells), so a count bounds them.
@st.cache_resource(max_entries=64, show_spinner=False)
def get_overview(name, text, pair, words, hide, direction, language):
    units = get_units(name, text, pair, words)
    return figs.overview_of(
        units.layers, units.labels, units.special, units.segment,
        direction=direction, hide_special=hide,
        layer_word=i18n.t("text.layer", language), head_word=i18n.t("text.head", language),
    )  # fmt: skip


def get_stats(name: str, text: str, pair: str | None) -> headstats.HeadStats:
    return cache.shared().get(
        ("stats", name, text, pair), lambda: headstats.trace_stats(get_trace(name, text, pair))
    )


def get_rollout(name: str, text: str, pair: str | None, words: bool) -> np.ndarray:
    def make() -> np.ndarray:
        layers = [layer.weights for layer in get_trace(name, text, pair).layers]  # L x (H, T, T)
        result = rollout(layers).astype(np.float32)  # (L, T, T)
        if words:  # rows still sum to 1
            result = views.pool_words(result, get_units(name, text, pair, True).groups)
        return result

    return cache.shared().get(("rollout", name, text, pair, words), make)


# A heatmap is rebuilt only when what it shows changes (not when the breakdown's query or a
# toggle does): plotly's figure building was most of a rerun. At 512 tokens one holds ~1.2 MB
# (float32 cells and labels), so 64 entries stay under ~80 MB.
@st.cache_resource(max_entries=64, show_spinner=False)
def get_heatmap(name, text, pair, words, hide, direction, language, layer, head, fixed):
    """(figure or None if empty, view) of one head (`head` >= 0) or of the rollout after `layer`
    (`head` None); `fixed`: colours over 0-1 instead of the map's own range."""
    units = get_units(name, text, pair, words)
    if head is None:
        matrix = get_rollout(name, text, pair, words)[layer]  # (T, T)
        title = i18n.t("text.rollout_title", language, layer=layer + 1)
    else:
        matrix = units.layers[layer][head]  # (T, T)
        title = i18n.t("text.heatmap_title", language, layer=layer + 1, head=head + 1)
    view = views.select(
        matrix, units.labels, units.special, units.segment,
        direction=direction, hide_special=hide,
    )  # fmt: skip
    # Its own copy of the (T, T) map: a numpy view would keep the trace's whole (H, T, T) layer
    # alive in this cache long after the trace left the byte cache (64 entries of a 512-token
    # E5 layer pinned ~800 MB for the rest of a lecture).
    view = dataclasses.replace(view, matrix=np.array(view.matrix))
    if view.matrix.size == 0:
        return None, view
    fig = heatmap(
        view.matrix, view.col_labels, view.row_labels, title=title,
        x_title=i18n.t("text.key_axis", language), y_title=i18n.t("text.query_axis", language),
        zmax=1.0 if fixed else None,
        scale_title=i18n.t(f"range.title_{'fixed' if fixed else 'head'}", language),
    )  # fmt: skip
    return fig, view
