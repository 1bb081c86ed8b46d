"""Generate: SmolLM2-135M continues a prompt token by token, every step's attention shown.

The server's one engine (attnviz/engine.py) owns every session's generation and advances them
all in one batch; a session keeps only its handle (`gen_handle`) and reads snapshots, so a run
that arrives while another streams never writes the same generation twice. Widgets only wire:
the numbers come from attnviz.generation and the figures.
"""

from __future__ import annotations

import math
import re
import time

import numpy as np
import streamlit as st

from attnviz import attention, generation
from attnviz.bpe import MAX_CHARS
from attnviz.errors import InputError
from attnviz.figures import generate as figs
from attnviz.figures.breakdown import vector_text
from attnviz.figures.heatmap import heatmap
from attnviz.figures.lines import lines_svg
from attnviz.figures.text import clicked_cell, mark_cell, overview
from attnviz.ui import cache, charts, present, replay, turns
from attnviz.ui import state as links
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import labeler, lang, show_error, t
from attnviz.zoo.registry import ModelMissing

CANDIDATES = 15  # bars in the next-token chart
# seconds between redraws of a generation's text while it streams: a class's redraws take the
# processor from the engine (issue 18, 20 students: the slowest done in 3.1-3.3x a lone
# student's time at 1 s, 3.4-3.9x at 0.5 s; BENCHMARKS.md, "Fifth pass")
STREAM_EVERY = 1.0
state = st.session_state
DEFAULT_NEW = 24  # new tokens of the example a first visit opens on

MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:&])")


def plain(text: str) -> str:
    """Text (a token) to put inside a Markdown string (a heading, a help line): every character
    Markdown would act on is escaped, so `__.__` shows as written, not in bold."""
    return MARKDOWN.sub(r"\\\1", text)


def bounded(kind: type, low: float, high: float) -> links.Codec:
    """In a link: a `kind` in [low, high], else the default and a notice. Typed in its box: any
    number (the page says what is wrong with it, see generation.Sampling)."""

    def parse(raw: str):
        value = kind(raw)
        if not (math.isfinite(value) and low <= value <= high):
            raise ValueError(raw)
        return value

    return links.Codec(
        parse=parse, check=lambda v: isinstance(v, int | float), dump=lambda v: f"{v:g}"
    )


st.title(t("generate.title"))
if not present.active():
    st.caption(t("generate.intro"))
try:
    with st.spinner(t("generate.loading")):
        decoder = cache.get_model("smollm2")
except ModelMissing as exc:
    show_error(exc)
    st.stop()
engine, tokenizer, config = cache.get_engine(), decoder.tokenizer, decoder.config

# ---------------------------------------------------------------- input

# The prompt with its settings folded into a popover beside it, and the buttons in one row: the
# step's chart starts above the fold at 1366x768 (issue 17), on a phone the two stack.
with present.fold(t("present.inputs")):
    links.bind("gen_text", "text", t("generate.sample_prompt"), links.text())
    prompt_box, settings_box = st.columns([3, 1], vertical_alignment="bottom")
    text = prompt_box.text_area(
        t("generate.prompt"), max_chars=MAX_CHARS, key="gen_text", height=68
    )
    if len(text) > links.MAX_URL_TEXT:
        st.caption(t("link.text_too_long", limit=links.MAX_URL_TEXT))
    links.bind("gen_mode", "mode", "plain", links.choice(("plain", "chat")))
    links.bind("gen_decoding", "decoding", "greedy", links.choice(("greedy", "sample")))
    links.bind("gen_temperature", "temp", 1.0, bounded(float, 0.05, 2.0))
    links.bind("gen_top_k", "top_k", 50, bounded(int, 1, config.vocab))
    links.bind("gen_top_p", "top_p", 0.95, bounded(float, 1e-6, 1.0))
    links.bind("gen_max_new", "max_new", DEFAULT_NEW, bounded(int, 1, generation.MAX_NEW))
    links.bind("gen_seed", "seed", 0, bounded(int, 0, 2**32 - 1))
    with settings_box.popover(t("generate.settings"), icon="⚙️", width="stretch"):
        mode = st.segmented_control(
            t("generate.mode"), ("plain", "chat"), format_func=labeler("generate.mode_"),
            required=True, key="gen_mode",
        )  # fmt: skip
        decoding = st.segmented_control(
            t("generate.decoding"), ("greedy", "sample"),
            format_func=labeler("generate.decoding_"), required=True, key="gen_decoding",
        )  # fmt: skip
        greedy = decoding == "greedy"
        temperature = st.slider(
            t("generate.temperature"), 0.0, 2.0, step=0.05, disabled=greedy,
            key="gen_temperature", help=t("generate.temperature_help"),
        )  # fmt: skip
        c1, c2 = st.columns(2)
        top_k = c1.number_input(
            t("generate.top_k"), step=1, disabled=greedy, key="gen_top_k",
            help=t("generate.top_k_help"),
        )  # fmt: skip
        top_p = c2.number_input(
            t("generate.top_p"), step=0.05, format="%.2f", disabled=greedy, key="gen_top_p",
            help=t("generate.top_p_help"),
        )  # fmt: skip
        max_new = c1.number_input(
            t("generate.max_new"), step=1, key="gen_max_new",
            help=t("generate.max_new_help", limit=generation.MAX_NEW),
        )  # fmt: skip
        seed = c2.number_input(t("generate.seed"), step=1, disabled=greedy, key="gen_seed")
        st.page_link(
            "attnviz/ui/pages/heads.py", label=t("heads.generate_link"), icon="🔌",
            query_params={"from": "generate", "text": text[: links.MAX_URL_TEXT]},
        )  # fmt: skip

try:
    sampling = generation.Sampling(
        greedy=greedy, temperature=float(temperature), top_k=int(top_k), top_p=float(top_p)
    )
    generation.check_max_new(int(max_new))
    replay.start(engine, decoder, text, mode == "chat", sampling, int(max_new), int(seed))
except InputError as exc:
    show_error(exc)
    st.stop()

buttons = st.container(horizontal=True)
if buttons.button(t("generate.start"), type="primary", key="gen_start"):
    try:  # checked before the old generation goes: a bad value keeps what is shown
        prompt = decoder.prompt(text, chat=mode == "chat")
        generation.check_seed(int(seed))
    except InputError as exc:
        show_error(exc)
        st.stop()
    if "gen_handle" in state:
        engine.cancel(state.gen_handle.job)
    state.gen_handle = engine.submit(prompt, sampling, int(max_new), int(seed))
    state.gen_dropped, state.gen_step = prompt.dropped, generation.MAX_NEW  # the last step
    replay.bump()
if buttons.button(t("generate.stop"), key="gen_stop") and "gen_handle" in state:
    engine.cancel(state.gen_handle.job)

handle = state.get("gen_handle")
if handle is not None:
    gen = engine.read(handle)  # a snapshot: the engine alone changes the generation
elif (text, mode, greedy, int(max_new)) == (
    t("generate.sample_prompt"),
    "plain",
    True,
    DEFAULT_NEW,
):
    # a first visit opens on an example, made once per server
    gen = cache.default_generation(lang(), DEFAULT_NEW)
else:
    st.info(t("generate.none"))
    replay.link_note(None, False)
    st.stop()
if state.get("gen_dropped"):
    st.warning(t("generate.cut", dropped=state.gen_dropped, kept=gen.prompt_length), icon="✂️")

# ---------------------------------------------------------------- streaming

P = gen.prompt_length
text_box = st.empty()


def show_text(upto: int) -> None:
    """The prompt and the new tokens up to `upto` (user text: st.text, never markdown)."""
    # side by side (stacked on a phone): the box stays low, the chart above the fold
    read, made = text_box.container(border=True).columns(2)
    read.caption(t("generate.prompt_read", tokens=P))
    read.text(generation.readable(tokenizer, gen.ids[:P]))
    made.caption(t("generate.continuation", tokens=upto))
    made.text(generation.readable(tokenizer, gen.ids[P : P + upto]) or "…")


def chart(step: int, key: str, *, clickable: bool = True):
    """The candidates of `step`, at the sampling that made this generation's text (a click
    picks a bar if `clickable`)."""
    logits = gen.steps[step].logits
    probs, final = generation.distribution(logits, gen.sampling)
    ids = figs.top_ids(probs, CANDIDATES)
    chosen = gen.ids[P + step] if P + step < len(gen.ids) else None
    fig = figs.candidates(
        ids, [tokenizer.labels([i])[0] for i in ids], probs,
        None if gen.sampling.greedy else final, chosen=chosen,
        prob_word=t("generate.prob"), final_word=t("generate.prob_final"),
        cut_word=t("generate.prob_cut"),
    )  # fmt: skip
    name = f"smollm2-step{step}-candidates"
    if not clickable:
        return charts.chart(fig, key=key, name=name), ids
    return charts.chart(fig, key=key, name=name, on_select="rerun", selection_mode="points"), ids


if gen.live:
    # Streaming is the text only, redrawn at most every STREAM_EVERY seconds: a class's pages
    # redrawing every chart at every token took the processor from the engine (40 students: ten
    # times slower than one batch), and even the first step's chart, drawn once while streaming,
    # made a class's last page 10-20 % later (BENCHMARKS.md, issue 18). A page looks at
    # the engine when there is something to draw: the first step (with the first new token) as
    # soon as it comes, then the newest no sooner than STREAM_EVERY after the last draw, and the
    # end at once (each look takes a turn from the other sessions' runs; a fixed sleep made a
    # lone student wait).
    with st.spinner(t("generate.running")):
        drawn, due = 0, 0.0  # steps shown; when the text may be redrawn next
        while gen.live:
            if gen.place:
                text_box.info(t("generate.queued", place=gen.place))
            elif len(gen.steps) > drawn:
                show_text(len(gen.new_ids))
                drawn = len(gen.steps)
                due = time.monotonic() + STREAM_EVERY  # the next text no sooner
            with turns.aside():  # waiting for the engine lets the other sessions run
                gen = engine.result(handle, max(0.0, due - time.monotonic()))  # the end, or due
                if gen.live:
                    gen = engine.wait(handle, drawn)  # then a step not drawn yet
    # the whole page follows in this run: a rerun ran the inputs again first, and a class's
    # last pages are drawn one after another (issue 18)
    replay.bump()

# ---------------------------------------------------------------- one step

if gen.status == "failed":
    st.error(t("error.generate_failed"))
if not gen.steps:  # failed, or stopped before its prompt was read
    st.info(t("generate.stopped", tokens=0))
    replay.link_note(None, False)
    st.stop()
last = len(gen.steps) - 1
eos = tokenizer.eos
if not generation.ended(gen.ids, P, eos, gen.target):
    st.info(t("generate.stopped", tokens=last))
elif gen.new_ids and gen.new_ids[-1] == eos:
    st.caption(t("generate.ended_eos"))
# the example opens on step 0, the first new token (where the model's choice teaches most); one's
# own generation on its last step (the whole text), a branch on the token picked, a link on its own
replay.notice(gen)
replay.pending()
if "gen_step" in state:
    state.gen_step = min(state.gen_step, last)
links.bind("gen_step", "step", 0, links.integer(0, last))
scrub, *buttons = st.columns([5, 1, 1], vertical_alignment="bottom")  # one row: the fold
step = (
    scrub.slider(t("generate.step"), 0, last, help=t("generate.step_help"), key="gen_step")
    if last > 0
    else 0
)
replay.controls(engine, gen, handle, step, last, buttons)
show_text(step)
T = P + step  # positions the newest query of this step sees
query = T - 1
labels = tokenizer.labels(gen.ids)
seen = list(labels[:T])

st.subheader(t("generate.candidates_title", step=step, token=plain(repr(seen[-1]))))
if not present.active():  # on the projector the lecturer says it; the chart stays above the fold
    st.caption(t("generate.greedy_help" if gen.sampling.greedy else "generate.candidates_help"))
if not (gen.sampling.greedy and sampling.greedy) and gen.sampling != sampling:
    st.caption(t("generate.sampling_changed"))
clickable = generation.can_branch(gen, step, eos)
event, ids = chart(
    step, f"gen_candidates_{state.get('gen_version', 0)}_{step}", clickable=clickable
)
if clickable:
    picked = figs.clicked_token(event, ids)
    if picked is not None and handle is None:  # the shared example: the branch is one's own copy
        handle = engine.fork(gen, step, picked)
        branched = handle is not None
    else:
        branched = picked is not None and engine.branch(handle, step, picked)
    if branched:
        state.gen_handle, state.gen_step = handle, step + 1  # open on the token just picked
        replay.bump()
        st.rerun()
else:  # a branch here would go past the token limit or end-of-text
    st.caption(t("generate.branch_end", limit=gen.target))

# ---------------------------------------------------------------- attention of this step

weights = generation.attentions(gen, step)  # (L, H, T, T)
n_layers, n_heads = config.layers, config.heads
clicked = (state.get("gen_overview") or {}).get("selection", {}).get("points", [])
if clicked:
    cell = clicked_cell(clicked[0], n_layers, n_heads)
    if cell is not None and cell != state.get("gen_opened"):
        state.gen_opened = cell
        state.gen_layer, state.gen_head = cell[0] + 1, cell[1] + 1
else:
    state.pop("gen_opened", None)
links.bind("gen_layer", "layer", 1, links.integer(1, n_layers))
links.bind("gen_head", "head", 1, links.integer(1, n_heads))
links.bind("gen_view", "view", "heatmap", links.choice(("heatmap", "lines", "overview")))
c1, c2, c3 = st.columns([1, 1, 4])
layer = c1.selectbox(t("generate.layer"), range(1, n_layers + 1), key="gen_layer") - 1
head = c2.selectbox(t("generate.head"), range(1, n_heads + 1), key="gen_head") - 1
view = c3.radio(
    t("generate.view"), ("heatmap", "lines", "overview"), format_func=labeler("generate.view_"),
    horizontal=True, key="gen_view",
)  # fmt: skip
kv = head // config.group
sharing = [h + 1 for h in range(n_heads) if h // config.group == kv]
st.caption(t("generate.gqa_line", head=head + 1, kv=kv + 1, heads=", ".join(map(str, sharing))))

if view == "heatmap":
    causal = np.where(np.tril(np.ones((T, T), dtype=bool)), weights[layer, head], -np.inf)
    charts.chart(
        heatmap(
            causal, seen, seen, zmax=None,
            title=t("generate.heatmap_title", layer=layer + 1, head=head + 1),
            x_title=t("generate.key_axis"), y_title=t("generate.query_axis"),
        ),
        key="gen_heatmap", name=f"smollm2-L{layer + 1}-H{head + 1}", matrix=weights[layer, head],
        rows=seen, cols=seen,
    )  # fmt: skip
    st.caption(t("generate.heatmap_help"))
elif view == "lines":
    st.caption(t("generate.lines_help"))
    charts.lines(
        lines_svg(
            weights[layer, [head]], [head], seen, seen, query=query, min_weight=0.0, top=8,
            head_word=t("generate.head"),
        ),
        key="gen_lines", name=f"smollm2-L{layer + 1}-H{head + 1}-lines",
        matrix=weights[layer, head], rows=seen, cols=seen,
    )  # fmt: skip
else:
    st.caption(t("generate.overview_help"))
    fig = overview(weights, layer_word=t("generate.layer"), head_word=t("generate.head"))
    charts.chart(
        mark_cell(fig, layer, head), key="gen_overview", name=f"smollm2-step{step}-overview",
        on_select="rerun", selection_mode="points",
    )  # fmt: skip

# ---------------------------------------------------------------- breakdown of the newest query

st.subheader(
    t("generate.breakdown_title", token=plain(repr(seen[-1])), layer=layer + 1, head=head + 1)
)
trace = gen.steps[step]
st.text(t("generate.rope_before", vector=vector_text(trace.q_raw[layer, head, -1], limit=8)))
st.text(t("generate.rope_after", vector=vector_text(trace.q[layer, head, -1], limit=8)))
st.caption(t("generate.rope_help", position=query))
newest = generation.newest_layer(gen, step, layer, config.group)
render_breakdown(
    attention.breakdown(newest, head, 0), seen, widget_key="gen_breakdown",
    shown=present.steps("generate", len(present.STEPS)),
)  # fmt: skip

# ---------------------------------------------------------------- grouped-query attention

with st.expander(t("generate.gqa_title")):
    st.write(t("generate.gqa_help", heads=n_heads, kv=config.kv_heads, group=config.group))
    present.table(
        {
            t("generate.gqa_kv"): [k + 1 for k in range(config.kv_heads)],
            t("generate.gqa_query"): [
                ", ".join(str(h + 1) for h in range(n_heads) if h // config.group == k)
                for k in range(config.kv_heads)
            ],
        },
        hide_index=True,
    )

# ---------------------------------------------------------------- attention sink

with st.expander(t("generate.sink_title"), expanded=True):
    first = weights[:, :, query, 0]  # (L, H) weight of the newest query on position 0
    st.markdown(t("generate.sink_help", token=plain(repr(seen[0])), share=float(first.mean())))
    if T > 1:
        ratio = generation.value_ratio(newest)
        st.markdown(t("generate.sink_values", layer=layer + 1, ratio=ratio))
    heads, layers = [str(h + 1) for h in range(n_heads)], [str(i + 1) for i in range(n_layers)]
    charts.chart(
        heatmap(
            first, heads, layers, zmax=1.0, show_values=False, height=600,  # on one screen
            title=t("generate.sink_map", token=repr(seen[0])),
            x_title=t("generate.head"), y_title=t("generate.layer"),
        ),
        key="gen_sink", name=f"smollm2-step{step}-sink", matrix=first, rows=layers, cols=heads,
    )  # fmt: skip

st.download_button(
    t("generate.download"),
    data=lambda: charts.npz_bytes(generation.arrays(gen, labels)),
    file_name="attnviz-generation.npz",
    mime="application/octet-stream",
    key="gen_download",
)
own = handle is not None and replay.made_by(gen, decoder, text, mode == "chat", sampling, int(seed))
replay.link_note(gen, own)
replay.advance(step, last)
