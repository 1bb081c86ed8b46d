"""Text attention: the real attention of MiniLM (English) and multilingual-E5 (Chinese and ~100
languages) on the user's sentence or sentence pair, in every view.

Only wiring: models, traces and cached figures come from attnviz.ui.sentences, figures from
attnviz.figures, numbers from attnviz.headstats / attnviz.rollout / attnviz.attention.
One view is drawn per rerun, so a 512-token input sends one large figure at most.
"""

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import attention, headstats, i18n, loading
from attnviz.errors import InputError
from attnviz.figures import text as figs
from attnviz.figures.heatmap import unique_labels
from attnviz.text import MAX_CHARS, visible
from attnviz.ui import charts, present, state
from attnviz.ui.common import lang, render_breakdown, show_error, t
from attnviz.ui.sentences import (
    get_heatmap,
    get_model,
    get_overview,
    get_stats,
    get_trace,
    get_units,
    samples,
)
from attnviz.zoo import bert

TEXT_MODELS = ("minilm", "e5")
VIEWS = ("heads", "overview", "lines", "stats", "rollout")
LINE_WINDOW = 64  # the line view draws at most this many tokens per column
WORDS = {"tokens": "0", "words": "1"}  # the `words` URL parameter
RANGES = ("head", "fixed")  # colour range of the weights: per head, or fixed 0-1


def truncation_message(trace, paired: bool) -> str:
    """Which sentence lost its end, and how many tokens (truncation is longest first)."""
    a, b = trace.dropped_a, trace.dropped_b
    if not paired:
        return t("text.truncated", dropped=a)
    if a and b:
        return t("text.truncated_both", a=a, b=b)
    return t("text.truncated_a", dropped=a) if a else t("text.truncated_b", dropped=b)


def heat(layer: int, head: int | None, key: str, **kwargs) -> figs.View:
    """One head's heatmap (the rollout after `layer` when `head` is None) with its downloads;
    returns what it shows. `kwargs` go to st.plotly_chart (a click's selection)."""
    fixed = st.session_state.get("text_range") == "fixed"
    fig, view = get_heatmap(name, text, pair, words, hide, direction, lang(), layer, head, fixed)
    if fig is None:
        st.info(t("text.empty_view"))
    else:
        parts = ("rollout", layer + 1) if head is None else ("L", layer + 1, "H", head + 1)
        charts.chart(
            fig, key=key, name=file_name(*parts), matrix=view.matrix,
            rows=view.row_labels, cols=view.col_labels, **kwargs,
        )  # fmt: skip
    return view


def clicked_query(view: figs.View) -> int | None:
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
    unit_of = units.groups if words else np.arange(len(tokens))
    return int(np.flatnonzero(np.asarray(unit_of) == unit)[0])


def mark_own() -> None:
    st.session_state.text_sample = "own"  # edited text is no longer the sample it started as


def set_sample() -> None:
    chosen = sample(st.session_state.text_sample)
    if chosen is not None:
        st.session_state.text_a = chosen["text"]
        st.session_state.text_b = chosen.get("pair", "")
        # a new sample opens on its own head and query (see `teaching`)
        state.forget("text_layer", "text_head", "text_query")
        state.drop_params("layer", "head", "query")


def sample(ident: str) -> dict | None:
    return next((s for s in samples() if s["id"] == ident), None)


def teaching(trace, text: str, pair: str | None) -> tuple[int, int, int, str] | None:
    """(layer, head, query token, note) a sample opens on, when the text is that sample's.

    The rule: the head with the largest weight from the sample's declared query to its declared
    key (headstats.span_weights: summed over the key's pieces, averaged over the query's).
    """
    chosen = sample(st.session_state.get("text_sample", "own"))
    if chosen is None or (chosen["text"], chosen.get("pair")) != (text, pair):
        return None
    tokens = list(trace.tokens)
    q_span = headstats.find_span(tokens, chosen["query"])
    k_span = headstats.find_span(tokens, chosen["key"])
    if q_span is None or k_span is None:
        return None
    layer, head, weight = headstats.rank_heads(
        headstats.span_weights(trace.attentions, q_span, k_span)
    )[0]
    note = t(
        "teach.note", source=chosen["query"], target=chosen["key"], layer=layer + 1, head=head + 1,
        weight=weight,
    )  # fmt: skip
    return layer + 1, head + 1, q_span[0], note


def select(weights: np.ndarray) -> figs.View:
    return figs.select(
        weights, units.labels, units.special, units.segment,
        direction=direction, hide_special=hide,
    )  # fmt: skip


def file_name(*parts) -> str:
    return "-".join([name, *map(str, parts)])


def shown_weights(view: figs.View, query: int) -> list[str]:
    """For each key token: its weight as the heatmap shows it for `query`'s unit ("—" if the
    filters leave it out), so the breakdown can give both numbers."""
    unit_of = units.groups if words else np.arange(len(tokens))
    rows = {int(u): i for i, u in enumerate(view.rows)}
    cols = {int(u): j for j, u in enumerate(view.cols)}
    row = rows.get(int(unit_of[query]))
    out = []
    for key_token in range(len(tokens)):
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


def find_heads() -> None:
    """Every head ranked by the weight from one chosen token to another."""
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
    ranked = headstats.rank_heads(trace.attentions[:, :, source, target])
    st.button(t("teach.find_open"), on_click=open_head, args=ranked[0][:2], key="text_find_open")
    st.dataframe(ranked_heads(ranked, t("teach.col_weight")), hide_index=True, height=300)


# ---------------------------------------------------------------- input

# Option labels are formatted later (and, under AppTest, outside this script run), so they
# take the language of this run from here rather than from the session.
language = lang()


def word(key: str) -> str:
    return i18n.t(key, language)


st.title(t("text.title"))
if not present.active():
    st.markdown(t("text.intro"))

first = next(s for s in samples() if s["lang"] == lang())
sample_ids = ["own"] + [s["id"] for s in samples()]
inputs, main = present.frame(t("present.inputs"))
with inputs:
    sample_id = state.bind("text_sample", "sample", first["id"], state.choice(sample_ids))
    opening = sample(sample_id) or {"text": ""}
    state.bind("text_a", "text", opening["text"], state.text())
    state.bind("text_b", "pair", opening.get("pair", ""), state.text())
    if sample_id != "own" and (opening["text"], opening.get("pair", "")) != (
        st.session_state.text_a,
        st.session_state.text_b,
    ):  # a link with its own text: not the sample any more
        st.session_state.text_sample = "own"
        state.bind("text_sample", "sample", "own", state.choice(sample_ids))
    st.selectbox(
        t("text.sample_label"),
        sample_ids,
        format_func=lambda i: word("text.own") if i == "own" else word(f"text.samples.{i}"),
        key="text_sample",
        on_change=set_sample,
    )
    # one above the other: the inputs' column is narrow (present.frame)
    text = st.text_area(
        t("text.input_a"), key="text_a", height=110, max_chars=MAX_CHARS, on_change=mark_own
    )
    pair = st.text_area(
        t("text.input_b"), key="text_b", height=110, max_chars=MAX_CHARS, on_change=mark_own
    )
    pair = pair if pair != "" else None
    if len(text) + len(pair or "") > state.MAX_URL_TEXT:
        st.caption(t("link.text_too_long", limit=state.MAX_URL_TEXT))

    # The key follows the default, so E5 is preselected when Chinese text arrives, the user's own
    # choice holds while the kind of text stays the same, and it survives a change of language.
    default_model = "e5" if figs.prefers_multilingual(text + (pair or "")) else "minilm"
    model_key = f"text_model_{default_model}"
    state.bind(model_key, "model", default_model, state.choice(TEXT_MODELS))
    name = st.radio(
        t("text.model"),
        TEXT_MODELS,
        format_func=lambda n: word(f"text.model_{n}"),
        horizontal=True,
        key=model_key,
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
    if trace.truncated:
        st.warning(truncation_message(trace, pair is not None), icon="✂️")
    if trace.removed:
        st.info(t("text.removed", count=trace.removed))
    st.caption(t("text.tokens_caption", count=len(tokens), layers=n_layers, heads=n_heads))
    st.text(" · ".join(tokens))  # st.text: tokens are never read as Markdown or HTML

    # ---------------------------------------------------------------- shared choices

    state.bind("text_units", "words", "tokens", state.choice(("tokens", "words"), WORDS))
    words = (
        st.radio(
            t("text.units"),
            ("tokens", "words"),
            format_func=lambda u: word(f"text.units_{u}"),
            key="text_units",
            horizontal=True,
        )
        == "words"
    )
    state.bind("text_hide", "hide", False, state.flag())
    hide = st.toggle(t("text.hide_special"), key="text_hide", help=t("text.hide_special_help"))
    direction = "all"
    if pair is not None:
        state.bind("text_direction", "dir", "all", state.choice(figs.DIRECTIONS))
        direction = st.radio(
            t("text.direction"),
            figs.DIRECTIONS,
            format_func=lambda d: word(f"text.direction_{d}"),
            key="text_direction",
            horizontal=True,
        )

with main:
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

    taught = teaching(trace, text, pair)
    layer_options, head_options = list(range(1, n_layers + 1)), list(range(1, n_heads + 1))
    c1, c2, c3, c4 = st.columns([1, 1, 4, 2])
    with c3:
        view_name = state.bind("text_view", "view", "heads", state.choice(VIEWS))
        st.radio(
            t("text.view"),
            VIEWS,
            format_func=lambda v: word(f"text.view_{v}"),
            key="text_view",
            horizontal=True,
        )
        view_name = st.session_state.text_view
    # Layer and head act on the heatmap, the opened head and the lines; not on statistics or
    # rollout.
    picks = view_name in ("heads", "overview", "lines")
    layer, head = (taught[0] - 1, taught[1] - 1) if taught else (0, 0)
    if picks:
        with c1:
            layer = state.bind("text_layer", "layer", layer + 1, state.choice(layer_options))
            layer = st.selectbox(t("text.layer"), layer_options, key="text_layer") - 1
        with c2:
            head = state.bind("text_head", "head", head + 1, state.choice(head_options))
            head = st.selectbox(t("text.head"), head_options, key="text_head") - 1
    if view_name in ("heads", "overview", "rollout"):
        with c4:
            state.bind("text_range", "range", "head", state.choice(RANGES))
            st.radio(
                t("range.label"), RANGES, format_func=lambda r: word(f"range.{r}"), key="text_range"
            )
    if taught and picks:
        st.caption(taught[3])

    units = get_units(name, text, pair, words)

    # ---------------------------------------------------------------- views

    if view_name == "heads":
        # The breakdown goes below the heatmap at full width (beside it, its scores and weights
        # were cut off); in presentation each step press scrolls it into view (present.steps).
        head_view = heat(
            layer, head, "text_heatmap", on_select="rerun", selection_mode="points",
            click_cells=True,
        )  # fmt: skip
        st.subheader(t("text.breakdown_title"))
        query_key = "text_query"
        picked = clicked_query(head_view)
        if picked is not None:
            st.session_state[query_key] = picked
        query_default = taught[2] if taught else min(1, len(tokens) - 1)
        state.bind(query_key, "query", query_default, state.choice(range(len(tokens))))
        query = st.selectbox(
            t("text.query_pick"),
            range(len(tokens)),
            format_func=lambda i: f"{i}: {tokens[i]}",
            key=query_key,
        )
        st.caption(t("text.breakdown_note", layer=layer + 1, head=head + 1))
        step = attention.breakdown(trace.layers[layer], head, query)
        extra = None
        if words or hide or direction != "all":
            st.caption(t("teach.breakdown_raw", column=t("teach.col_shown")))
            extra = {t("teach.col_shown"): shown_weights(head_view, query)}
        render_breakdown(
            step, tokens, query=0, widget_key="text_breakdown",
            shown=present.steps("text", len(present.STEPS)), extra=extra,
        )  # fmt: skip

    elif view_name == "overview":
        fig, side = get_overview(name, text, pair, words, hide, direction, lang())
        if fig is None:
            st.info(t("text.empty_view"))
        else:
            st.caption(t("text.overview_help"))
            if side < len(units.labels):
                st.caption(t("text.overview_long", side=side))
            charts.chart(
                figs.mark_cell(fig, layer, head), key="text_overview", name=file_name("overview"),
                on_select="rerun", selection_mode="points",
            )  # fmt: skip
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
        view = select(units.layers[layer][heads])  # (K, R, C)
        count = len(units.labels)
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
            query_key = f"text_lines_query_{count}"
            # A click on a query's label shows only its lines, in every head drawn (as bertviz
            # does on hover); applied once, like the overview's click.
            points = (st.session_state.get("text_lines") or {}).get("selection", {})
            points = points.get("points", [])
            row = figs.clicked_query_row(points[0]) if points else None
            if row is None:
                st.session_state.pop("text_lines_opened", None)
            elif row < len(view.row_labels) and row != st.session_state.get("text_lines_opened"):
                st.session_state.text_lines_opened = row
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
            fig = figs.head_lines(
                view.matrix, heads, view.row_labels, view.col_labels,
                query=query, head_word=t("text.head"),
            )  # fmt: skip
            charts.chart(
                fig, key="text_lines", name=file_name("lines", "L", layer + 1),
                on_select="rerun", selection_mode="points",
            )  # fmt: skip

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
        with left:
            values = stats.metric(metric)
            charts.chart(
                figs.stats_map(
                    values,
                    title=t(f"text.metric.{metric}"),
                    layer_word=t("text.layer"),
                    head_word=t("text.head"),
                ),
                key="text_stats_map",
                name=file_name("stats", metric),
                matrix=values,
                rows=[f"L{i + 1}" for i in range(n_layers)],
                cols=[f"H{h + 1}" for h in range(n_heads)],
            )
        # Entropy, spread and distance are interesting when small; shares when large.
        largest = metric not in ("entropy", "spread")
        ranked = headstats.rank(stats, metric, top=10, largest=largest)
        right.markdown(f"**{t('text.stats_rank', metric=t(f'text.metric.{metric}'))}**")
        right.dataframe(ranked_heads(ranked, t("text.col_value")), hide_index=True)
        st.markdown(f"**{t('text.stats_interesting')}**")
        # Only heads with a clear pattern: "mixed" and "broad" (near uniform) are left out.
        found = [
            f
            for f in headstats.interesting(stats, top=n_layers * n_heads)
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
            table[t(f"text.metric.{m}")] = [
                round(float(stats.metric(m)[f[0], f[1]]), 3) for f in found
            ]
        st.dataframe(pd.DataFrame(table), hide_index=True)
        find_heads()

    elif view_name == "rollout":
        st.caption(t("text.rollout_help"))
        state.bind("text_ro", "upto", n_layers, state.choice(layer_options))
        upto = st.select_slider(t("text.rollout_layer"), layer_options, key="text_ro")
        heat(upto - 1, None, "text_rollout")

charts.trace_download(lambda: bert.npz_arrays(trace), file_name("trace"), key="text_npz")
state.link_box()
