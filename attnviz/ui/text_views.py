"""The views of the text page, one function each (heads, overview, lines, stats, rollout), on a
frozen `Selection`: the page reads the input and the shared choices, then calls one of them.

Only wiring, as in the page: traces and cached figures come from attnviz.ui.sentences, arrays
from attnviz.views.text, figures from attnviz.figures, numbers from attnviz.headstats and
attnviz.attention. Widget keys are the page's (`text_...`): links and the tests read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import attention, headstats, i18n
from attnviz.figures import text as figs
from attnviz.figures.heatmap import unique_labels
from attnviz.figures.lines import lines_svg
from attnviz.trace import TextTrace
from attnviz.ui import charts, present, state
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import t
from attnviz.ui.sentences import Units, get_heatmap, get_overview, get_stats
from attnviz.views import text as views

LINE_WINDOW = 64  # the line view draws at most this many tokens per column
RANGES = ("head", "fixed")  # colour range of the weights: per head, or fixed 0-1
PICKS = ("heads", "overview", "lines")  # the views that layer and head act on
RANGED = ("heads", "overview", "rollout")  # the views drawn on a colour range


def pickers(
    prefix: str, views_shown, n_layers: int, n_heads: int, language: str, start=(0, 0)
) -> tuple[str, int, int, bool]:
    """The view, layer, head and colour-range controls above a text-style view, bound to the
    URL (widget keys `{prefix}_view`, `_layer`, `_head`, `_range`): (view, layer and head
    0-based, fixed range). Layer and head are drawn only for the views they act on; `start` is
    their default (0-based)."""
    layer_options, head_options = list(range(1, n_layers + 1)), list(range(1, n_heads + 1))
    c1, c2, c3, c4 = st.columns([1, 1, 4, 2])
    with c3:
        state.bind(f"{prefix}_view", "view", "heads", state.choice(views_shown))
        st.radio(
            t("text.view"), views_shown, key=f"{prefix}_view", horizontal=True,
            format_func=lambda v: i18n.t(f"text.view_{v}", language),
        )  # fmt: skip
        view = st.session_state[f"{prefix}_view"]
    layer, head = start
    if view in PICKS:
        with c1:
            state.bind(f"{prefix}_layer", "layer", layer + 1, state.choice(layer_options))
            layer = st.selectbox(t("text.layer"), layer_options, key=f"{prefix}_layer") - 1
        with c2:
            state.bind(f"{prefix}_head", "head", head + 1, state.choice(head_options))
            head = st.selectbox(t("text.head"), head_options, key=f"{prefix}_head") - 1
    fixed = False
    if view in RANGED:
        with c4:
            state.bind(f"{prefix}_range", "range", "head", state.choice(RANGES))
            fixed = st.radio(
                t("range.label"), RANGES, key=f"{prefix}_range",
                format_func=lambda r: i18n.t(f"range.{r}", language),
            ) == "fixed"  # fmt: skip
    return view, layer, head, fixed


@dataclass(frozen=True, eq=False)
class Selection:
    """What the views read: the model, the input and its trace, and the choices made above them
    (layer and head 0-based). Built once per run by the page."""

    name: str
    text: str
    pair: str | None
    trace: TextTrace
    tokens: tuple[str, ...]  # (T,) as the user reads them
    units: Units  # tokens or words, as chosen
    words: bool
    hide: bool
    direction: str
    layer: int
    head: int
    taught: tuple[int, int, int, str] | None  # (layer, head, query, note) of a sample, 1-based
    # Option labels are formatted later (and, under AppTest, outside the script run), so they
    # take the language of this run from here rather than from the session.
    language: str

    @property
    def n_layers(self) -> int:
        return len(self.trace.layers)

    @property
    def n_heads(self) -> int:
        return self.trace.layers[0].weights.shape[0]

    def word(self, key: str) -> str:
        return i18n.t(key, self.language)

    def file_name(self, *parts) -> str:
        return "-".join([self.name, *map(str, parts)])

    def select(self, weights: np.ndarray) -> views.View:
        units = self.units
        return views.select(
            weights, units.labels, units.special, units.segment,
            direction=self.direction, hide_special=self.hide,
        )  # fmt: skip

    def unit_of(self) -> np.ndarray:
        """(T,) the unit (word or token) of every token."""
        return np.asarray(self.units.groups) if self.words else np.arange(len(self.tokens))


def heat(sel: Selection, layer: int, head: int | None, key: str, **kwargs) -> views.View:
    """One head's heatmap (the rollout after `layer` when `head` is None) with its downloads;
    returns what it shows. `kwargs` go to st.plotly_chart (a click's selection)."""
    fixed = st.session_state.get("text_range") == "fixed"
    fig, view = get_heatmap(
        sel.name, sel.text, sel.pair, sel.words, sel.hide, sel.direction, sel.language,
        layer, head, fixed,
    )  # fmt: skip
    if fig is None:
        st.info(t("text.empty_view"))
    else:
        parts = ("rollout", layer + 1) if head is None else ("L", layer + 1, "H", head + 1)
        charts.chart(
            fig, key=key, name=sel.file_name(*parts), matrix=view.matrix,
            rows=view.row_labels, cols=view.col_labels, **kwargs,
        )  # fmt: skip
    return view


def clicked_query(sel: Selection, view: views.View) -> int | None:
    """The token of the heatmap row a user clicked, as in bertviz: a row picks the query of the
    breakdown. A click is applied once (it stays in the chart's state on later reruns), so that
    a query picked by hand afterwards is not pulled back."""
    points = (st.session_state.get("text_heatmap") or {}).get("selection", {}).get("points", [])
    if not points:
        st.session_state.pop("text_row_opened", None)
        return None
    labels = unique_labels(view.row_labels)
    y = points[0].get("y")
    if y not in labels or y == st.session_state.get("text_row_opened"):
        return None
    st.session_state.text_row_opened = y
    unit = int(view.rows[labels.index(y)])
    return int(np.flatnonzero(sel.unit_of() == unit)[0])


def shown_weights(sel: Selection, view: views.View, query: int) -> list[str]:
    """For each key token: its weight as the heatmap shows it for `query`'s unit ("—" if the
    filters leave it out), so the breakdown can give both numbers."""
    unit_of = sel.unit_of()
    rows = {int(u): i for i, u in enumerate(view.rows)}
    cols = {int(u): j for j, u in enumerate(view.cols)}
    row = rows.get(int(unit_of[query]))
    out = []
    for key_token in range(len(sel.tokens)):
        col = cols.get(int(unit_of[key_token]))
        out.append("—" if row is None or col is None else f"{view.matrix[row, col]:.4f}")
    return out


def ranked_heads(ranked, value_name: str) -> pd.DataFrame:
    """(layer, head, value) triples, 0-based, as a table counted from 1 as people do."""
    return pd.DataFrame(
        {
            t("text.col_layer"): [r[0] + 1 for r in ranked],
            t("text.col_head"): [r[1] + 1 for r in ranked],
            value_name: [round(r[2], 4) for r in ranked],
        }
    )


def open_head(layer: int, head: int) -> None:
    st.session_state.text_layer, st.session_state.text_head = layer + 1, head + 1
    st.session_state.text_view = "heads"


def find_heads(sel: Selection) -> None:
    """Every head ranked by the weight from one chosen token to another."""
    tokens = sel.tokens
    st.markdown(f"**{t('teach.find_title')}**")
    st.caption(t("teach.find_help"))
    positions = list(range(len(tokens)))
    a, b = st.columns(2)
    with a:
        state.bind("text_find_q", "from", min(1, len(tokens) - 1), state.choice(positions))
        source = st.selectbox(
            t("teach.find_from"), positions, format_func=lambda i: f"{i}: {tokens[i]}",
            key="text_find_q",
        )  # fmt: skip
    with b:
        state.bind("text_find_k", "to", 0, state.choice(positions))
        target = st.selectbox(
            t("teach.find_to"), positions, format_func=lambda i: f"{i}: {tokens[i]}",
            key="text_find_k",
        )  # fmt: skip
    ranked = headstats.rank_heads(sel.trace.attentions[:, :, source, target])
    st.button(t("teach.find_open"), on_click=open_head, args=ranked[0][:2], key="text_find_open")
    present.table(ranked_heads(ranked, t("teach.col_weight")), hide_index=True, height=300)


# ---------------------------------------------------------------- the views


def heads(sel: Selection) -> None:
    """One head's heatmap, and the breakdown of one query below it."""
    # The breakdown goes below the heatmap at full width (beside it, its scores and weights
    # were cut off); in presentation each step press scrolls it into view (present.steps).
    tokens, layer, head = sel.tokens, sel.layer, sel.head
    head_view = heat(
        sel, layer, head, "text_heatmap", on_select="rerun", selection_mode="points",
        click_cells=True,
    )  # fmt: skip
    st.subheader(t("text.breakdown_title"))
    query_key = "text_query"
    picked = clicked_query(sel, head_view)
    if picked is not None:
        st.session_state[query_key] = picked
    query_default = sel.taught[2] if sel.taught else min(1, len(tokens) - 1)
    state.bind(query_key, "query", query_default, state.choice(range(len(tokens))))
    query = st.selectbox(
        t("text.query_pick"),
        range(len(tokens)),
        format_func=lambda i: f"{i}: {tokens[i]}",
        key=query_key,
    )
    st.caption(t("text.breakdown_note", layer=layer + 1, head=head + 1))
    step = attention.breakdown(sel.trace.layers[layer], head, query)
    extra = None
    if sel.words or sel.hide or sel.direction != "all":
        st.caption(t("teach.breakdown_raw", column=t("teach.col_shown")))
        extra = {t("teach.col_shown"): shown_weights(sel, head_view, query)}
    render_breakdown(
        step, list(tokens), query=0, widget_key="text_breakdown",
        shown=present.steps("text", len(present.STEPS)), extra=extra,
    )  # fmt: skip


def overview(sel: Selection) -> None:
    """Every layer x head as a small map (a click opens one), and the opened head below."""
    fig, side = get_overview(
        sel.name, sel.text, sel.pair, sel.words, sel.hide, sel.direction, sel.language
    )
    if fig is None:
        st.info(t("text.empty_view"))
        return
    st.caption(t("text.overview_help"))
    if side < len(sel.units.labels):
        st.caption(t("text.overview_long", side=side))
    charts.chart(
        figs.mark_cell(fig, sel.layer, sel.head), key="text_overview",
        name=sel.file_name("overview"), on_select="rerun", selection_mode="points",
    )  # fmt: skip
    st.markdown(f"**{t('text.opened', layer=sel.layer + 1, head=sel.head + 1)}**")
    heat(sel, sel.layer, sel.head, "text_opened_map")


def lines(sel: Selection) -> None:
    """Token-to-token lines of some heads of the chosen layer, a window of a long input."""
    st.caption(t("text.lines_help"))
    head_options = list(range(1, sel.n_heads + 1))
    if "text_line_heads" in st.session_state:
        st.session_state.text_line_heads = [
            h for h in st.session_state.text_line_heads if h in head_options
        ]
    chosen = st.multiselect(
        t("text.lines_heads"),
        head_options,
        # Given only the first time: afterwards the remembered choice (in the session) rules.
        default=None if "text_line_heads" in st.session_state else [sel.head + 1],
        key="text_line_heads",
    )
    heads = [h - 1 for h in chosen] or [sel.head]
    view = sel.select(sel.units.layers[sel.layer][heads])  # (K, R, C)
    count = len(sel.units.labels)
    if count > LINE_WINDOW:
        start = st.slider(
            t("text.lines_window", size=LINE_WINDOW), 0, count - LINE_WINDOW, 0,
            key=f"text_window_{count}",
        )  # fmt: skip
        st.caption(t("text.lines_window_note"))
        view = views.window(view, start, start + LINE_WINDOW)
    if view.matrix[0].size == 0:
        st.info(t("text.empty_view"))
        return
    query_key = f"text_lines_query_{count}"

    def pick(row: int) -> None:
        """A click on a query's label shows only its lines, in every head drawn."""
        if row < len(view.row_labels):
            st.session_state.text_lines_only, st.session_state[query_key] = True, row

    only = st.toggle(t("text.lines_query_only"), key="text_lines_only")
    query = None
    if only:
        query = st.selectbox(
            t("text.query_pick"),
            range(len(view.row_labels)),
            format_func=lambda i: f"{view.rows[i]}: {view.row_labels[i]}",
            key=query_key,
        )
    # hovering a label highlights its lines in every head (as bertviz does), in the browser
    svg = lines_svg(
        view.matrix, heads, view.row_labels, view.col_labels,
        query=query, head_word=t("text.head"),
    )  # fmt: skip
    name = sel.file_name("lines", "L", sel.layer + 1)
    charts.lines(svg, key="text_lines", name=name, on_query=pick)


def stats(sel: Selection) -> None:
    """One statistic of every head as a map, the heads it ranks first, the clear patterns."""
    n_layers, n_heads = sel.n_layers, sel.n_heads
    st.caption(t("text.stats_intro"))
    per_head = get_stats(sel.name, sel.text, sel.pair)
    metric = st.selectbox(
        t("text.stats_metric"),
        headstats.METRICS,
        format_func=lambda m: sel.word(f"text.metric.{m}"),
        key="text_metric",
    )
    st.caption(t(f"text.metric_help.{metric}"))
    left, right = st.columns([3, 2])
    with left:
        values = per_head.metric(metric)
        charts.chart(
            figs.stats_map(
                values,
                title=t(f"text.metric.{metric}"),
                layer_word=t("text.layer"),
                head_word=t("text.head"),
            ),
            key="text_stats_map",
            name=sel.file_name("stats", metric),
            matrix=values,
            rows=[f"L{i + 1}" for i in range(n_layers)],
            cols=[f"H{h + 1}" for h in range(n_heads)],
        )
    # Entropy, spread and distance are interesting when small; shares when large.
    largest = metric not in ("entropy", "spread")
    ranked = headstats.rank(per_head, metric, top=10, largest=largest)
    right.markdown(f"**{t('text.stats_rank', metric=t(f'text.metric.{metric}'))}**")
    with right:
        present.table(ranked_heads(ranked, t("text.col_value")), hide_index=True)
    st.markdown(f"**{t('text.stats_interesting')}**")
    # Only heads with a clear pattern: "mixed" and "broad" (near uniform) are left out.
    found = [
        f
        for f in headstats.interesting(per_head, top=n_layers * n_heads)
        if f[2] not in ("mixed", "broad")
    ][:12]
    if not found:
        st.info(t("teach.none_clear"))
    table = {
        t("text.col_layer"): [f[0] + 1 for f in found],
        t("text.col_head"): [f[1] + 1 for f in found],
        t("text.col_pattern"): [t(f"text.pattern.{f[2]}") for f in found],
        t("text.col_score"): [round(f[3], 3) for f in found],
    }
    for m in headstats.METRICS:
        column = per_head.metric(m)  # (L, H)
        table[t(f"text.metric.{m}")] = [round(float(column[f[0], f[1]]), 3) for f in found]
    present.table(pd.DataFrame(table), hide_index=True)
    find_heads(sel)


def rollout(sel: Selection) -> None:
    """The attention rollout after a chosen layer, as a heatmap."""
    st.caption(t("text.rollout_help"))
    layer_options = list(range(1, sel.n_layers + 1))
    state.bind("text_ro", "upto", sel.n_layers, state.choice(layer_options))
    upto = st.select_slider(t("text.rollout_layer"), layer_options, key="text_ro")
    heat(sel, upto - 1, None, "text_rollout")


# The page's views in the order of its radio; the page draws one per rerun.
VIEWS = {"heads": heads, "overview": overview, "lines": lines, "stats": stats, "rollout": rollout}
