"""Open a trace: any model's attention from an uploaded .npz in the open format
(attnviz/opentrace.py), in the text page's views.

Only wiring: the trace and what is computed from it come from attnviz.ui.opened, figures from
attnviz.figures.opened (the text page's figures on the file's weights). The upload stays in
memory; it cannot be linked, the choices of view, layer and head can.
"""

import pandas as pd
import streamlit as st

from attnviz import attention, headstats, i18n, opentrace
from attnviz.errors import InputError
from attnviz.figures import opened as figs
from attnviz.figures.lines import lines_svg
from attnviz.figures.text import clicked_cell
from attnviz.ui import charts, opened, present, state, text_views
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import lang, show_error, t

VIEWS = ("heads", "overview", "lines", "stats", "rollout")
SELF_ONLY = ("stats", "rollout")  # views that need queries and keys to be the same tokens
language = lang()  # option labels are formatted outside the run under AppTest


def word(key: str) -> str:
    return i18n.t(key, language)


def chart(fig, key: str, *parts, **kwargs) -> None:
    charts.chart(fig, key=key, name="-".join([stem, *map(str, parts)]), **kwargs)


def open_clicked_head() -> None:
    """A click in the overview opens that head (once: the click stays in the chart's state)."""
    clicked = st.session_state.get("open_overview")
    points = (clicked or {}).get("selection", {}).get("points", []) if clicked else []
    if not points:
        st.session_state.pop("open_opened", None)
        return
    cell = clicked_cell(points[0], n_layers, n_heads)
    if cell is not None and cell != st.session_state.get("open_opened"):
        st.session_state.open_opened = cell
        st.session_state.open_layer, st.session_state.open_head = cell[0] + 1, cell[1] + 1


st.title(t("open.title"))
# The introduction and the note on links only before a file is there: with one, the first
# figure should be in view (a phone included).
waiting = st.session_state.get("open_upload") is None
if waiting and not present.active():
    st.markdown(t("open.intro"))
    st.caption(t("open.no_link"))
with present.fold(t("present.inputs")):
    upload = st.file_uploader(t("open.upload"), key="open_upload")
if upload is None:
    # Streamlit refuses a larger upload itself (server.maxUploadSize, .streamlit/config.toml).
    limit = min(opentrace.MAX_FILE_BYTES // 2**20, st.get_option("server.maxUploadSize"))
    st.info(t("open.upload_hint", limit=limit))
    state.link_box()
    st.stop()
try:
    with st.spinner(t("text.running")):
        digest, trace, notices = opened.analyse(upload.getvalue())
except InputError as exc:
    show_error(exc)
    st.stop()
for notice in notices:
    st.info(t(notice))

n_layers, n_heads, n_queries, n_keys = trace.attentions.shape
rows, cols = figs.labels(trace)
stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in trace.model)[:40] or "trace"
# st.text: the model's name and the labels come from the file, never read as Markdown or HTML
st.text(
    t("open.caption", model=trace.model or t("open.unnamed"), queries=n_queries, keys=n_keys,
      layers=n_layers, heads=n_heads)
)  # fmt: skip
st.text(" · ".join(cols))
if not trace.self_attention:
    st.caption(t("open.caption_cross"))
    st.text(" · ".join(rows))

open_clicked_head()
views = VIEWS if trace.self_attention else tuple(v for v in VIEWS if v not in SELF_ONLY)
view, layer, head, fixed = text_views.pickers("open", views, n_layers, n_heads, lang())
layer_options, head_options = list(range(1, n_layers + 1)), list(range(1, n_heads + 1))
if not trace.self_attention:
    st.caption(t("error.open_self_only"))


def head_map(key: str) -> None:
    chart(
        figs.head_map(trace, layer, head, lang(), fixed), key, "L", layer + 1, "H", head + 1,
        matrix=trace.attentions[layer, head], rows=rows, cols=cols,
    )  # fmt: skip


if view == "heads":
    figure_side, steps_side = (
        st.columns([3, 2]) if present.active() else (st.container(), st.container())
    )
    with figure_side:
        head_map("open_heatmap")
    with steps_side:
        st.subheader(t("text.breakdown_title"))
        if trace.layers is None:
            st.caption(t("open.no_qkv"))
        else:
            state.bind("open_query", "query", 0, state.choice(range(n_queries)))
            query = st.selectbox(
                t("text.query_pick"), range(n_queries), format_func=lambda i: f"{i}: {rows[i]}",
                key="open_query",
            )  # fmt: skip
            st.caption(t("text.breakdown_note", layer=layer + 1, head=head + 1))
            render_breakdown(
                attention.breakdown(trace.layers[layer], head, query), cols, query=0,
                widget_key="open_breakdown", shown=present.steps("open", len(present.STEPS)),
            )  # fmt: skip

elif view == "overview":
    st.caption(t("text.overview_help"))
    chart(
        figs.mark_overview(trace, layer, head, lang()), "open_overview", "overview",
        on_select="rerun", selection_mode="points",
    )  # fmt: skip
    st.markdown(f"**{t('text.opened', layer=layer + 1, head=head + 1)}**")
    head_map("open_opened_map")

elif view == "lines":
    st.caption(t("text.lines_help"))
    chosen = st.multiselect(
        t("text.lines_heads"), head_options, key="open_line_heads",
        default=None if "open_line_heads" in st.session_state else [head + 1],
    )  # fmt: skip
    heads = [h - 1 for h in chosen] or [head]

    def pick(row: int) -> None:
        """A click on a query's label shows only its lines, in every head drawn."""
        if row < n_queries:
            st.session_state.open_lines_only, st.session_state.open_lines_query = True, row

    query = None
    if st.toggle(t("text.lines_query_only"), key="open_lines_only"):
        query = st.selectbox(
            t("text.query_pick"), range(n_queries), format_func=lambda i: f"{i}: {rows[i]}",
            key="open_lines_query",
        )  # fmt: skip
    # as on the text page: hovering a label highlights its lines in every head, in the browser
    svg = lines_svg(
        trace.attentions[layer, heads], heads, rows, cols, query=query,
        head_word=t("text.head"),
    )  # fmt: skip
    charts.lines(svg, key="open_lines", name=f"{stem}-lines-L-{layer + 1}", on_query=pick)

elif view == "stats":
    st.caption(t("text.stats_intro"))
    stats = opened.get_stats(digest, trace)
    metric = st.selectbox(
        t("text.stats_metric"), headstats.METRICS, format_func=lambda m: word(f"text.metric.{m}"),
        key="open_metric",
    )  # fmt: skip
    st.caption(t(f"text.metric_help.{metric}"))
    values = stats.metric(metric)
    chart(
        figs.stats_map(values, metric, lang()), "open_stats_map", "stats", metric,
        matrix=values, rows=[f"L{i + 1}" for i in range(n_layers)],
        cols=[f"H{h + 1}" for h in range(n_heads)],
    )  # fmt: skip
    ranked = headstats.rank(stats, metric, top=10, largest=metric not in ("entropy", "spread"))
    st.markdown(f"**{t('text.stats_rank', metric=t(f'text.metric.{metric}'))}**")
    present.table(
        pd.DataFrame(
            {
                t("text.col_layer"): [r[0] + 1 for r in ranked],
                t("text.col_head"): [r[1] + 1 for r in ranked],
                t("text.col_value"): [round(r[2], 4) for r in ranked],
            }
        ),
        hide_index=True,
    )

elif view == "rollout":
    st.caption(t("text.rollout_help"))
    state.bind("open_ro", "upto", n_layers, state.choice(layer_options))
    upto = st.select_slider(t("text.rollout_layer"), layer_options, key="open_ro") - 1
    rolled = opened.get_rollout(digest, trace)
    chart(
        figs.rollout_map(rolled, trace, upto, lang(), fixed), "open_rollout", "rollout", upto + 1,
        matrix=rolled[upto], rows=rows, cols=cols,
    )  # fmt: skip

charts.trace_download(lambda: opentrace.arrays(trace), stem, key="open_npz")
st.caption(t("open.no_link"))
state.link_box()
