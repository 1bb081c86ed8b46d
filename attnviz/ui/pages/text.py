"""Text attention: the real attention of MiniLM (English) and multilingual-E5 (Chinese and ~100
languages) on the user's sentence or sentence pair, in every view.

Only wiring: models and traces come from cached calls into attnviz.zoo.bert, figures from
attnviz.figures, numbers from attnviz.headstats / attnviz.rollout / attnviz.attention.
One view is drawn per rerun, so a 512-token input sends one large figure at most.
"""

import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import attention, headstats, i18n, loading
from attnviz.errors import InputError
from attnviz.figures import text as figs
from attnviz.figures.heatmap import heatmap
from attnviz.rollout import rollout
from attnviz.text import MAX_CHARS, visible
from attnviz.ui import cache
from attnviz.ui.common import lang, render_breakdown, show_error, t

SAMPLES = Path(__file__).resolve().parents[3] / "assets" / "samples_text.toml"
TEXT_MODELS = ("minilm", "e5")
VIEWS = ("heads", "overview", "lines", "stats", "rollout")
LINE_WINDOW = 64  # the line view draws at most this many tokens per column


@st.cache_data
def samples() -> list[dict]:
    return tomllib.loads(SAMPLES.read_text("utf-8"))["sample"]


@st.cache_resource(show_spinner=False)
def get_model(name: str):
    from attnviz.zoo import bert

    return cache.resident(bert.load(name))


def get_trace(name: str, text: str, pair: str | None):
    # In the server's byte-bounded cache (attnviz/ui/cache.py), not st.cache_data: a 512-token
    # trace is ~190 MB of read-only arrays, which cache_data would pickle on every hit.
    key = ("trace", name, text, pair)
    return cache.shared().get(key, lambda: get_model(name).trace(text, pair))


def get_units(name: str, text: str, pair: str | None, words: bool) -> dict:
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


def _units(trace, words: bool) -> dict:
    extras = trace.extras
    special = np.asarray(trace.special)
    segment = extras["segment"]  # (T,) 0 for sentence A, 1 for sentence B
    layers = [layer.weights for layer in trace.layers]  # L x (H, T, T)
    labels = [visible(token) for token in trace.tokens]
    if words:
        groups, labels = np.asarray(extras["word_index"]), [visible(w) for w in extras["words"]]
        first = np.unique(groups, return_index=True)[1]  # the first piece of every word
        layers = [figs.pool_words(weights, groups) for weights in layers]  # L x (H, W, W)
        special, segment = special[first], np.asarray(segment)[first]
        return dict(layers=layers, labels=labels, special=special, segment=segment, groups=groups)
    return dict(layers=layers, labels=labels, special=special, segment=np.asarray(segment))


def truncation_message(extras: dict, paired: bool) -> str:
    """Which sentence lost its end, and how many tokens (truncation is longest first)."""
    a, b = int(extras["dropped_a"]), int(extras["dropped_b"])
    if not paired:
        return t("text.truncated", dropped=a)
    if a and b:
        return t("text.truncated_both", a=a, b=b)
    return t("text.truncated_a", dropped=a) if a else t("text.truncated_b", dropped=b)


# Figures are small (the overview is at most 360 000 one-byte cells), so a count bounds them.
@st.cache_resource(max_entries=64, show_spinner=False)
def get_overview(name, text, pair, words, hide, direction, language):
    units = get_units(name, text, pair, words)
    return figs.overview_of(
        units["layers"], units["labels"], units["special"], units["segment"],
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
            result = figs.pool_words(result, get_units(name, text, pair, True)["groups"])
        return result

    return cache.shared().get(("rollout", name, text, pair, words), make)


# A heatmap is rebuilt only when what it shows changes (not when the breakdown's query or a
# toggle does): plotly's figure building was most of a rerun. At 512 tokens one holds ~1.2 MB
# (float32 cells and labels), so 64 entries stay under ~80 MB.
@st.cache_resource(max_entries=64, show_spinner=False)
def get_heatmap(name, text, pair, words, hide, direction, language, layer, head):
    """One head's map (`head` >= 0) or the rollout after `layer` (`head` None); None if empty."""
    units = get_units(name, text, pair, words)
    if head is None:
        matrix = get_rollout(name, text, pair, words)[layer]  # (T, T)
        title = i18n.t("text.rollout_title", language, layer=layer + 1)
    else:
        matrix = units["layers"][layer][head]  # (T, T)
        title = i18n.t("text.heatmap_title", language, layer=layer + 1, head=head + 1)
    view = figs.select(
        matrix, units["labels"], units["special"], units["segment"],
        direction=direction, hide_special=hide,
    )  # fmt: skip
    if view.matrix.size == 0:
        return None
    return heatmap(
        view.matrix, view.col_labels, view.row_labels, title=title, zmax=None,
        x_title=i18n.t("text.key_axis", language), y_title=i18n.t("text.query_axis", language),
    )  # fmt: skip


def heat(layer: int, head: int | None, key: str) -> None:
    fig = get_heatmap(name, text, pair, words, hide, direction, lang(), layer, head)
    if fig is None:
        st.info(t("text.empty_view"))
        return
    st.plotly_chart(fig, key=key)


def clamp(key: str, options: list) -> None:
    """Drop a remembered choice that the current model or text no longer offers."""
    if key in st.session_state and st.session_state[key] not in options:
        st.session_state[key] = options[-1] if isinstance(options[-1], int) else options[0]


def mark_own() -> None:
    st.session_state.text_sample = "own"  # edited text is no longer the sample it started as


def set_sample() -> None:
    chosen = next((s for s in samples() if s["id"] == st.session_state.text_sample), None)
    if chosen is not None:
        st.session_state.text_a = chosen["text"]
        st.session_state.text_b = chosen.get("pair", "")


# ---------------------------------------------------------------- input

# Option labels are formatted later (and, under AppTest, outside this script run), so they
# take the language of this run from here rather than from the session.
language = lang()


def word(key: str) -> str:
    return i18n.t(key, language)


st.title(t("text.title"))
st.markdown(t("text.intro"))

if "text_a" not in st.session_state:
    first = next(s for s in samples() if s["lang"] == lang())
    st.session_state.text_sample = first["id"]
    set_sample()
st.selectbox(
    t("text.sample_label"),
    ["own"] + [s["id"] for s in samples()],
    format_func=lambda i: word("text.own") if i == "own" else word(f"text.samples.{i}"),
    key="text_sample",
    on_change=set_sample,
)
col_a, col_b = st.columns(2)
text = col_a.text_area(
    t("text.input_a"), key="text_a", height=110, max_chars=MAX_CHARS, on_change=mark_own
)
pair = col_b.text_area(
    t("text.input_b"), key="text_b", height=110, max_chars=MAX_CHARS, on_change=mark_own
)
pair = pair if pair != "" else None

# The key follows the default, so E5 is preselected when Chinese text arrives, the user's own
# choice holds while the kind of text stays the same, and it survives a change of language.
default_model = "e5" if figs.prefers_multilingual(text + (pair or "")) else "minilm"
name = st.radio(
    t("text.model"),
    TEXT_MODELS,
    index=TEXT_MODELS.index(default_model),
    format_func=lambda n: word(f"text.model_{n}"),
    horizontal=True,
    key=f"text_model_{default_model}",
)
st.caption(t("text.model_auto"))

if not loading.installed(name):
    show_error(loading.ModelMissing(name))
    st.stop()
try:
    with st.spinner(t("text.loading")):
        get_model(name)
    with st.spinner(t("text.running")):
        trace = get_trace(name, text, pair)
except (InputError, loading.ModelMissing) as exc:
    show_error(exc)
    st.stop()

n_layers, n_heads = len(trace.layers), trace.layers[0].weights.shape[0]
tokens = [visible(token) for token in trace.tokens]  # a bidi override cannot turn the line
if bool(trace.extras.get("truncated", False)):
    st.warning(truncation_message(trace.extras, pair is not None), icon="✂️")
if int(trace.extras.get("removed", 0)):
    st.info(t("text.removed", count=int(trace.extras["removed"])))
st.caption(t("text.tokens_caption", count=len(tokens), layers=n_layers, heads=n_heads))
st.text(" · ".join(tokens))  # st.text: tokens are never read as Markdown or HTML

# ---------------------------------------------------------------- shared choices

c1, c2, c3 = st.columns(3)
words = (
    c1.radio(
        t("text.units"),
        ("tokens", "words"),
        format_func=lambda u: word(f"text.units_{u}"),
        key="text_units",
        horizontal=True,
    )
    == "words"
)
hide = c2.toggle(t("text.hide_special"), key="text_hide", help=t("text.hide_special_help"))
direction = "all"
if pair is not None:
    direction = c3.radio(
        t("text.direction"),
        figs.DIRECTIONS,
        format_func=lambda d: word(f"text.direction_{d}"),
        key="text_direction",
        horizontal=True,
    )

# A click in the all-heads overview opens that head: apply it before the pickers exist.
clicked = st.session_state.get("text_overview")
points = (clicked or {}).get("selection", {}).get("points", []) if clicked else []
if points:
    cell = figs.clicked_cell(points[0], n_layers, n_heads)
    # The click stays in the chart's state on later reruns: apply it once, so that a head
    # picked by hand afterwards is not pulled back to the clicked one.
    if cell is not None and cell != st.session_state.get("text_opened"):
        st.session_state.text_opened = cell
        st.session_state.text_layer, st.session_state.text_head = cell[0] + 1, cell[1] + 1
else:
    st.session_state.pop("text_opened", None)  # nothing selected: the next click counts again

layer_options, head_options = list(range(1, n_layers + 1)), list(range(1, n_heads + 1))
clamp("text_layer", layer_options)
clamp("text_head", head_options)
c1, c2, c3 = st.columns([1, 1, 4])
layer = c1.selectbox(t("text.layer"), layer_options, key="text_layer") - 1
head = c2.selectbox(t("text.head"), head_options, key="text_head") - 1
view_name = c3.radio(
    t("text.view"),
    VIEWS,
    format_func=lambda v: word(f"text.view_{v}"),
    key="text_view",
    horizontal=True,
)

units = get_units(name, text, pair, words)


def select(weights: np.ndarray) -> figs.View:
    return figs.select(
        weights, units["labels"], units["special"], units["segment"],
        direction=direction, hide_special=hide,
    )  # fmt: skip


# ---------------------------------------------------------------- views

if view_name == "heads":
    heat(layer, head, "text_heatmap")
    st.subheader(t("text.breakdown_title"))
    query = st.selectbox(
        t("text.query_pick"),
        range(len(tokens)),
        format_func=lambda i: f"{i}: {tokens[i]}",
        index=min(1, len(tokens) - 1),
        key=f"text_query_{name}_{len(tokens)}",
    )
    st.caption(t("text.breakdown_note", layer=layer + 1, head=head + 1))
    step = attention.breakdown(trace.layers[layer], head, query)
    render_breakdown(step, tokens, query=0, widget_key="text_breakdown")

elif view_name == "overview":
    fig, side = get_overview(name, text, pair, words, hide, direction, lang())
    if fig is None:
        st.info(t("text.empty_view"))
    else:
        st.caption(t("text.overview_help"))
        if side < len(units["labels"]):
            st.caption(t("text.overview_long", side=side))
        st.plotly_chart(
            figs.mark_cell(fig, layer, head),
            key="text_overview",
            on_select="rerun",
            selection_mode="points",
        )
        st.markdown(f"**{t('text.opened', layer=layer + 1, head=head + 1)}**")
        heat(layer, head, "text_opened_map")

elif view_name == "lines":
    st.caption(t("text.lines_help"))
    if "text_line_heads" in st.session_state:
        st.session_state.text_line_heads = [
            h for h in st.session_state.text_line_heads if h in head_options
        ]
    chosen = st.multiselect(
        t("text.lines_heads"),
        head_options,
        # Given only the first time: afterwards the remembered choice (in the session) rules.
        default=None if "text_line_heads" in st.session_state else [head + 1],
        key="text_line_heads",
    )
    heads = [h - 1 for h in chosen] or [head]
    view = select(units["layers"][layer][heads])  # (K, R, C)
    count = len(units["labels"])
    if count > LINE_WINDOW:
        start = st.slider(
            t("text.lines_window", size=LINE_WINDOW), 0, count - LINE_WINDOW, 0,
            key=f"text_window_{count}",
        )  # fmt: skip
        st.caption(t("text.lines_window_note"))
        view = figs.window(view, start, start + LINE_WINDOW)
    if view.matrix[0].size == 0:
        st.info(t("text.empty_view"))
    else:
        only = st.toggle(t("text.lines_query_only"), key="text_lines_only")
        query = None
        if only:
            query = st.selectbox(
                t("text.query_pick"),
                range(len(view.row_labels)),
                format_func=lambda i: f"{view.rows[i]}: {view.row_labels[i]}",
                key=f"text_lines_query_{count}",
            )
        fig = figs.head_lines(
            view.matrix, heads, view.row_labels, view.col_labels,
            query=query, head_word=t("text.head"),
        )  # fmt: skip
        st.plotly_chart(fig, key="text_lines")

elif view_name == "stats":
    st.caption(t("text.stats_intro"))
    stats = get_stats(name, text, pair)
    metric = st.selectbox(
        t("text.stats_metric"),
        headstats.METRICS,
        format_func=lambda m: word(f"text.metric.{m}"),
        key="text_metric",
    )
    st.caption(t(f"text.metric_help.{metric}"))
    left, right = st.columns([3, 2])
    left.plotly_chart(
        figs.stats_map(
            stats.metric(metric),
            title=t(f"text.metric.{metric}"),
            layer_word=t("text.layer"),
            head_word=t("text.head"),
        ),
        key="text_stats_map",
    )
    # Entropy, spread and distance are interesting when small; shares when large.
    largest = metric not in ("entropy", "spread")
    ranked = headstats.rank(stats, metric, top=10, largest=largest)
    right.markdown(f"**{t('text.stats_rank', metric=t(f'text.metric.{metric}'))}**")
    right.dataframe(
        pd.DataFrame(
            {
                t("text.col_layer"): [r[0] + 1 for r in ranked],
                t("text.col_head"): [r[1] + 1 for r in ranked],
                t("text.col_value"): [round(r[2], 4) for r in ranked],
            }
        ),
        hide_index=True,
    )
    st.markdown(f"**{t('text.stats_interesting')}**")
    found = headstats.interesting(stats, top=12)
    table = {
        t("text.col_layer"): [f[0] + 1 for f in found],
        t("text.col_head"): [f[1] + 1 for f in found],
        t("text.col_pattern"): [t(f"text.pattern.{f[2]}") for f in found],
        t("text.col_score"): [round(f[3], 3) for f in found],
    }
    for m in headstats.METRICS:
        table[t(f"text.metric.{m}")] = [round(float(stats.metric(m)[f[0], f[1]]), 3) for f in found]
    st.dataframe(pd.DataFrame(table), hide_index=True)

elif view_name == "rollout":
    st.caption(t("text.rollout_help"))
    clamp("text_ro", layer_options)
    upto = st.select_slider(t("text.rollout_layer"), layer_options, value=n_layers, key="text_ro")
    heat(upto - 1, None, "text_rollout")
