"""Text attention: the real attention of MiniLM (English) and multilingual-E5 (Chinese and ~100
languages) on the user's sentence or sentence pair, in every view.

Only input and dispatch: the text, the model and the shared choices become a frozen
text_views.Selection, and one view of attnviz/ui/text_views.py draws it (one per rerun, so a
512-token input sends one large figure at most).
"""

import streamlit as st

from attnviz import headstats, i18n
from attnviz.errors import InputError
from attnviz.figures import text as figs
from attnviz.text import MAX_CHARS, visible
from attnviz.ui import charts, present, state, text_views
from attnviz.ui.common import lang, show_error, t
from attnviz.ui.sentences import get_model, get_trace, get_units, samples
from attnviz.views import text as views
from attnviz.zoo import bert, registry

TEXT_MODELS = ("minilm", "e5")
VIEWS = tuple(text_views.VIEWS)
WORDS = {"tokens": "0", "words": "1"}  # the `words` URL parameter


def truncation_message(trace, paired: bool) -> str:
    """Which sentence lost its end, and how many tokens (truncation is longest first)."""
    a, b = trace.dropped_a, trace.dropped_b
    if not paired:
        return t("text.truncated", dropped=a)
    if a and b:
        return t("text.truncated_both", a=a, b=b)
    return t("text.truncated_a", dropped=a) if a else t("text.truncated_b", dropped=b)


def sample(ident: str) -> dict | None:
    return next((s for s in samples() if s["id"] == ident), None)


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
    default_model = "e5" if views.prefers_multilingual(text + (pair or "")) else "minilm"
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

    if not registry.installed(name):
        show_error(registry.ModelMissing(name))
        st.stop()
    try:
        with st.spinner(t("text.loading")):
            get_model(name)
        with st.spinner(t("text.running")):
            trace = get_trace(name, text, pair)
    except (InputError, registry.ModelMissing) as exc:
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
        state.bind("text_direction", "dir", "all", state.choice(views.DIRECTIONS))
        direction = st.radio(
            t("text.direction"),
            views.DIRECTIONS,
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
    start = (taught[0] - 1, taught[1] - 1) if taught else (0, 0)
    view_name, layer, head, _ = text_views.pickers(
        "text", VIEWS, n_layers, n_heads, language, start
    )
    picks = view_name in text_views.PICKS
    if taught and picks:
        st.caption(taught[3])

    selection = text_views.Selection(
        name=name, text=text, pair=pair, trace=trace, tokens=tuple(tokens),
        units=get_units(name, text, pair, words), words=words, hide=hide, direction=direction,
        layer=layer, head=head, taught=taught, language=language,
    )  # fmt: skip
    text_views.VIEWS[view_name](selection)

charts.trace_download(lambda: bert.npz_arrays(trace), f"{name}-trace", key="text_npz")
state.link_box()
