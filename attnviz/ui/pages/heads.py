"""Which heads matter: ablation beside the clean run, known heads by score, copying, attribution.

Only wiring: widgets -> attnviz/ui/heads_data.py (cached results) -> figures/heads.py.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from attnviz import knownheads
from attnviz.ablation import MODES, name, parse_heads
from attnviz.errors import InputError
from attnviz.figures import heads as figs
from attnviz.figures.heatmap import heatmap
from attnviz.figures.text import clicked_cell
from attnviz.intervene import kl, softmax
from attnviz.ui import attribution_view, cache, charts, heads_data, present, state
from attnviz.ui.common import labeler, show_error, t
from attnviz.ui.sentences import get_model
from attnviz.zoo.registry import ModelMissing

MODELS = ("smollm2", *heads_data.ENCODERS)
CANDIDATES = 10  # bars in the next-token chart
session = st.session_state


def load(model: str):
    """The model's config (layers, heads), loading it once per server."""
    if model != "smollm2":
        return get_model(model).config
    with st.spinner(t("generate.loading")):
        return cache.get_model("smollm2").config


def default_heads(model: str) -> str:
    if model != "smollm2":
        return "1.1"
    score = heads_data.known(32, 0).scores["induction"]
    return ", ".join(name(*h) for h in knownheads.top_heads(score, 5))


def show_next_token(text: str, heads: frozenset, mode: str) -> None:
    clean, ablated = heads_data.next_token(text, heads, mode)
    p, q = softmax(clean), softmax(ablated)
    ids = np.argsort(-p, kind="stable")[:CANDIDATES]
    tokenizer = cache.get_model("smollm2").tokenizer
    labels = tokenizer.labels(ids)
    charts.chart(
        figs.next_tokens(labels, p[ids], q[ids], clean_word=t("heads.clean"),
                         ablated_word=t("heads.ablated"), prob_word=t("heads.probability")),
        key="heads_next", name="smollm2-ablated-next-token",
        matrix=np.stack([p[ids], q[ids]]), rows=[t("heads.clean"), t("heads.ablated")],
        cols=[repr(x) for x in labels],
    )  # fmt: skip
    st.text(
        t("heads.next_token", clean=repr(tokenizer.decode([int(p.argmax())])),
          p_clean=p.max(), ablated=repr(tokenizer.decode([int(q.argmax())])), p_ablated=q.max())
    )  # fmt: skip
    st.caption(t("heads.kl", kl=kl(clean, ablated)))


def show_similarity(model: str, a: str, b: str, heads: frozenset, mode: str) -> None:
    clean, ablated = heads_data.similarity(model, a, b, heads, mode)
    c1, c2 = st.columns(2)
    c1.metric(t("heads.similarity_clean"), f"{clean:.4f}")
    c2.metric(t("heads.similarity_ablated"), f"{ablated:.4f}", f"{ablated - clean:+.4f}")
    st.caption(t("heads.similarity_help"))


def show_effect_map(model: str, inputs: tuple, mode: str, shape: tuple[int, int]) -> None:
    st.subheader(t("heads.map_title"))
    decoder = model == "smollm2"
    st.caption(t("heads.map_help_decoder" if decoder else "heads.map_help_encoder"))
    runs = shape[0] * shape[1]
    computed = heads_data.has_effect_map(model, inputs, mode)
    if not computed and not st.button(t("heads.map_button", runs=runs), key="heads_map_go"):
        return
    bar = st.progress(0.0)

    def progress(share: float) -> None:
        bar.progress(share, text=t("heads.map_progress", done=round(share * runs), runs=runs))

    effect = heads_data.effect_map(model, inputs, mode, progress)
    bar.empty()
    scale = t("heads.map_scale_kl" if decoder else "heads.map_scale_similarity")
    charts.chart(
        figs.head_map(effect, title=t("heads.map_figure"), layer_word=t("heads.layer"),
                      head_word=t("heads.head"), scale_title=scale, signed=not decoder),
        key="heads_effect", name=f"{model}-single-head-ablation", matrix=effect,
        rows=[str(i + 1) for i in range(shape[0])], cols=[str(h + 1) for h in range(shape[1])],
    )  # fmt: skip


def show_known_heads() -> None:
    st.subheader(t("heads.known_title"))
    state.bind("heads_length", "n", 32, state.integer(*knownheads.LENGTHS))
    state.bind("heads_seed", "seed", 0, state.integer(0, 2**31 - 1))
    state.bind("heads_score", "score", "induction", state.choice(knownheads.SCORES))
    c1, c2 = st.columns(2)
    length = c1.slider(t("heads.length"), *knownheads.LENGTHS, key="heads_length")
    seed = c2.number_input(t("heads.seed"), 0, 2**31 - 1, step=1, key="heads_seed")
    st.caption(t("heads.known_help", n=length))
    found = heads_data.known(int(length), int(seed))
    score = st.segmented_control(
        t("heads.score"), knownheads.SCORES, format_func=labeler("heads.score_"),
        required=True, key="heads_score",
    )  # fmt: skip
    st.caption(t(f"heads.score_help_{score}"))
    values = found.scores[score]
    shape = values.shape
    clicked = (session.get("heads_known_map") or {}).get("selection", {}).get("points", [])
    cell = clicked_cell(clicked[0], *shape) if clicked else None
    layer, head = cell or knownheads.top_heads(values, 1)[0]
    fig = figs.head_map(
        values, title=t("heads.score_figure", score=t(f"heads.score_{score}")),
        layer_word=t("heads.layer"), head_word=t("heads.head"), scale_title=t("heads.score"),
    )  # fmt: skip
    charts.chart(
        fig, key="heads_known_map", name=f"smollm2-{score}-scores", matrix=values,
        rows=[str(i + 1) for i in range(shape[0])], cols=[str(h + 1) for h in range(shape[1])],
        on_select="rerun", selection_mode="points",
    )  # fmt: skip
    present.table(
        {
            t("heads.top_table"): [name(*h) for h in knownheads.top_heads(values, 8)],
            t("heads.score"): [round(float(values[h]), 3) for h in knownheads.top_heads(values, 8)],
        },
        hide_index=True,
    )
    labels = list(cache.get_model("smollm2").tokenizer.labels(found.ids))
    pattern = found.weights[layer, head]  # (T, T)
    causal = np.where(np.tril(np.ones(pattern.shape, dtype=bool)), pattern, -np.inf)
    charts.chart(
        heatmap(causal, labels, labels, zmax=None, show_values=False,
                title=t("heads.pattern_title", layer=layer + 1, head=head + 1,
                        value=float(values[layer, head])),
                x_title=t("heads.key_axis"), y_title=t("heads.query_axis")),
        key="heads_pattern", name=f"smollm2-L{layer + 1}-H{head + 1}-repeated",
        matrix=pattern, rows=labels, cols=labels,
    )  # fmt: skip
    st.caption(t("heads.pattern_help"))
    show_copying(int(length), int(seed), shape)


def show_copying(length: int, seed: int, shape: tuple[int, int]) -> None:
    st.subheader(t("heads.copy_title"))
    st.caption(t("heads.copy_help", positions=length - 1))
    state.bind("heads_k", "k", 5, state.integer(1, 20))
    k = st.slider(t("heads.k"), 1, 20, key="heads_k")
    result = heads_data.copying(length, seed, int(k))
    c1, c2, c3 = st.columns(3)
    c1.metric(t("heads.copy_clean"), f"{result.clean:.0%}")
    c2.metric(t("heads.copy_top", k=k), f"{result.top:.0%}", f"{result.top - result.clean:+.0%}")
    mean = float(np.mean(result.random))
    c3.metric(
        t("heads.copy_random", k=k, draws=len(result.random)), f"{mean:.0%}",
        f"{mean - result.clean:+.0%}",
    )  # fmt: skip
    st.caption(t("heads.copy_heads", heads=", ".join(name(*h) for h in result.top_heads)))
    st.caption(t("heads.copy_range", values=", ".join(f"{r:.0%}" for r in result.random)))


st.title(t("heads.title"))
if not present.active():
    st.caption(t("heads.intro"))
if st.query_params.get("from") == "generate":  # the generate page's link brings its prompt
    session.heads_model, session.heads_text = "smollm2", st.query_params.get("text", "")
    state.drop_params("from")
with present.fold(t("present.inputs")):
    state.bind("heads_model", "model", "smollm2", state.choice(MODELS))
    model = st.segmented_control(
        t("heads.model"), MODELS, format_func=labeler("heads.model_"), required=True,
        key="heads_model", help=t("heads.model_help"),
    )  # fmt: skip
    try:
        config = load(model)
    except ModelMissing as exc:
        show_error(exc)
        st.stop()
    shape = (config.layers, config.heads)
    c1, c2 = st.columns([3, 2])
    heads_key = f"heads_heads_{model}"
    state.bind(heads_key, "heads", default_heads(model), state.text())
    heads_text = c1.text_input(t("heads.heads"), key=heads_key, help=t("heads.heads_help"))
    state.bind("heads_mode", "mode", "zero", state.choice(MODES))
    mode = c2.radio(
        t("heads.mode"), MODES, format_func=labeler("heads.mode_"), horizontal=True,
        key="heads_mode", help=t("heads.mode_help"),
    )  # fmt: skip
    if model == "smollm2":
        state.bind("heads_text", "text", t("heads.sample_prompt"), state.text())
        text = st.text_area(t("heads.prompt"), key="heads_text", height=80)
        inputs = (text,)
    else:
        state.bind("heads_a", "a", t("heads.sample_a"), state.text())
        state.bind("heads_b", "b", t("heads.sample_b"), state.text())
        c1, c2 = st.columns(2)
        inputs = (
            c1.text_input(t("heads.sentence_a"), key="heads_a"),
            c2.text_input(t("heads.sentence_b"), key="heads_b"),
        )

st.subheader(t("heads.ablate_title"))
try:  # the prompt or the sentences, checked once for every section that reads them
    if model == "smollm2":
        heads_data.prompt_ids(text)
    else:
        for sentence in inputs:
            get_model(model).encode(sentence)
    usable = True
except InputError as exc:
    show_error(exc)
    usable = False
if usable:
    try:
        heads = parse_heads(heads_text, *shape)
        if model == "smollm2":
            show_next_token(text, heads, mode)
        else:
            show_similarity(model, *inputs, heads, mode)
    except InputError as exc:
        show_error(exc)
    show_effect_map(model, inputs, mode, shape)
if model == "smollm2":
    show_known_heads()
    st.subheader(t("heads.teach_title"))
    st.markdown(t("heads.teach", **heads_data.teaching_numbers(t("heads.sample_prompt"))))
    if usable:
        result = heads_data.decoder_attribution(text)
        attribution_view.show(
            result, repr(result.predicted), key="heads_attribution", name="smollm2-attribution",
            note=t("heads.attribution_decoder"),
        )  # fmt: skip
state.link_box()
