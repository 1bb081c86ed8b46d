"""Image attention: where DINOv2 ViT-S/14 looks in a photo the user uploads or picks.

Only wiring: photo and cached trace (ui/photos.py) -> widgets -> figures/image.py. Only the
open tab's figures are built.
"""

from __future__ import annotations

import streamlit as st

from attnviz import attention
from attnviz.errors import InputError
from attnviz.figures import image as figs
from attnviz.i18n import LANGS
from attnviz.i18n import t as t_in
from attnviz.ui import charts, photos, present, state
from attnviz.ui.common import render_breakdown, show_error, t
from attnviz.views import image as views
from attnviz.zoo import dinov2
from attnviz.zoo.registry import ModelMissing

QUERY = "image_query"  # session key: -1 for CLS, else a patch index 0..255
CLS = -1
MEAN = -1  # the head choice "mean of all heads" (None would make the box clearable)
TABS = ("map", "heads", "layers", "rollout", "saliency", "steps", "artifacts")
# Which tabs each picker acts on: a picker is drawn only while its tab is open.
ACTS = {
    "layer": ("map", "heads", "rollout", "steps", "artifacts"),
    "head": ("map", "layers", "steps"),
    "query": ("map", "heads", "layers", "rollout", "steps"),
    "opacity": ("map", "rollout", "saliency"),
}


def on_click(chart_key: str, fig) -> None:
    """A click on a patch marker makes that patch the query."""
    state = st.session_state.get(chart_key)
    patch = figs.clicked_patch(state.selection if state else None, fig)
    if patch is not None:
        st.session_state[QUERY] = patch


def clickable(fig, name: str, query: int, grid) -> None:
    """A figure whose patch markers can be clicked; `grid` (G, G) is what its CSV holds.

    The query is part of the key, so every new query starts with a fresh selection: clicking the
    same patch again after choosing another query in the box still counts as a change.
    """
    chart_key = f"{name}_{query}"
    side = grid.shape[0]
    charts.chart(
        fig,
        key=chart_key,
        name=f"dinov2-{file_stem}",
        matrix=grid,
        rows=[str(r + 1) for r in range(side)],
        cols=[str(c + 1) for c in range(side)],
        on_select=lambda: on_click(chart_key, fig),
        selection_mode="points",
    )


def figure(fig, key: str, name: str) -> None:
    charts.chart(fig, key=key, name=f"dinov2-{name}")


def artifact_list(trace, layer: int) -> list[int]:
    """Patch indices (0..P-1) of the artifacts entering `layer` (the backend gives tokens)."""
    return [int(token) - 1 for token in dinov2.artifact_patches(trace, layer)]


def token_label(token: int) -> str:
    """-1 is CLS; a patch as (row, column), both counted from 1 as people do."""
    if token == CLS:
        return t("image.cls")
    r, c = divmod(token, dinov2.DinoConfig().grid)
    return t("image.patch", row=r + 1, col=c + 1)


# ---- page ---------------------------------------------------------------------------------------

st.title(t("image.title"))
if not present.active():
    st.markdown(t("image.intro"))

inputs, main = present.frame(t("present.inputs"))
with inputs:
    data = photos.pick_photo()
if data is None:
    st.stop()

with main:
    try:
        with st.spinner(t("image.running")):
            digest, trace, notices = photos.analyse(data)
    except (InputError, ModelMissing) as exc:
        show_error(exc)
        st.stop()
    for notice in notices:
        st.info(t(notice.key, **notice.params))

layers, heads = len(trace.layers), trace.layers[0].weights.shape[0]
patches = len(trace.tokens) - 1
photo = trace.picture  # (224, 224, 3) uint8: exactly what the model saw
patch_labels = [token_label(p) for p in range(patches)]
# Widgets' labels as dicts, not lambdas: AppTest formats options outside the script run, where
# the language would not be known.
token_labels = {CLS: token_label(CLS), **dict(enumerate(patch_labels))}
head_names = {MEAN: t("image.head_mean"), **{h: t("image.head_n", n=h + 1) for h in range(heads)}}

# -- controls: drawn only for the open tab they act on (the tab is known from the last click)
tab_labels = {name: t(f"image.tab_{name}") for name in TABS}
# A change of language renames the tabs: carry the open one over by its name.
every_label = {t_in(f"image.tab_{name}", code): name for code in LANGS for name in TABS}
if st.session_state.get("image_tab") in every_label:
    st.session_state.image_tab = tab_labels[every_label[st.session_state.image_tab]]
open_label = state.bind(
    "image_tab", "tab", tab_labels["map"],
    # in the URL by its name; `every_label` names both languages' labels, so a name read back
    # through it would give the last language's label, not today's (issue 17)
    state.choice(tab_labels.values(), {label: name for name, label in tab_labels.items()}),
)  # fmt: skip
open_tab = every_label[open_label]
head_options = [MEAN, *range(heads)]
layer = state.bind("image_layer", "layer", layers, state.integer(1, layers)) - 1
head_choice = state.bind(
    "image_head",
    "head",
    MEAN,
    state.choice(head_options, {MEAN: "mean"} | {h: str(h + 1) for h in range(heads)}),
)
query = state.bind(
    QUERY,
    "patch",
    CLS,
    state.choice(token_labels, {CLS: "cls"} | {p: str(p) for p in range(patches)}),
)
opacity = st.session_state.setdefault("image_opacity", 0.6)
head_part = "mean" if head_choice == MEAN else head_choice + 1
file_stem = f"L{layer + 1}-H{head_part}-{'cls' if query == CLS else f'p{query}'}"  # file names
with inputs:
    # one above the other: the inputs' column is narrow (present.frame)
    if open_tab in ACTS["layer"]:
        layer = st.slider(t("image.layer"), 1, layers, key="image_layer") - 1
    if open_tab in ACTS["head"]:
        head_choice = st.selectbox(
            t("image.head"), head_options, format_func=head_names.__getitem__, key="image_head"
        )
    if open_tab in ACTS["query"]:
        query = st.selectbox(
            t("image.query"),
            list(token_labels),
            format_func=token_labels.__getitem__,
            key=QUERY,
        )
        st.caption(t("image.query_hint"))
    if open_tab in ACTS["opacity"]:
        opacity = st.slider(t("image.opacity"), 0.0, 1.0, step=0.05, key="image_opacity")

    artifacts = artifact_list(trace, layer)
    mode = st.radio(
        t("image.artifacts_mode", n=len(artifacts)),
        views.ARTIFACT_MODES,
        horizontal=True,
        format_func={m: t(f"image.artifacts_{m}") for m in views.ARTIFACT_MODES}.__getitem__,
        key="image_artifact_mode",
        help=t("image.artifacts_help"),
        disabled=not artifacts,
    )
    log = st.toggle(t("image.log_scale"), key="image_log", help=t("image.log_help"))

    token = 0 if query == CLS else query + 1  # token 0 is CLS, patch p is token p + 1
    query_patch = None if query == CLS else query
    head_name = head_names[head_choice]
    head = None if head_choice == MEAN else head_choice  # figures take None for the mean
    weights = trace.layers[layer].weights  # (H, T, T)
    row = views.attention_row(weights, token, head)  # (T,)
    grid = views.clean_map(views.patch_map(row), artifacts, mode)  # (G, G)
    where = t("image.where", layer=layer + 1, head=head_name, query=token_label(query))
    st.caption(t("image.cls_share", share=float(row[0])))
    padding = views.padding_share(row, trace.content)
    if (trace.content < 0.5).any():
        st.caption(t("image.padding_share", share=padding))

# ---- tabs: only the open one is built (a change of tab reruns the page, on_change="rerun") ----
size = 500 if present.active() else 480  # the photo figures; they stretch to their column


def draw_map() -> None:
    left, right = st.columns(2)
    with left:
        fig = figs.overlay(
            photo,
            grid,
            labels=patch_labels,
            value_name=t("step.weights"),
            opacity=opacity,
            title=t(
                "figure.image_title", what=t("image.overlay_title"), layer=layer + 1, head=head_name
            ),
            query=query_patch,
            artifacts=artifacts,
            log=log,
            size=size,
        )
        clickable(fig, "image_click_overlay", query, grid)
    with right:
        fig = figs.grid_figure(
            grid,
            labels=patch_labels,
            value_name=t("step.weights"),
            title=t(
                "figure.image_title", what=t("image.grid_title"), layer=layer + 1, head=head_name
            ),
            query=query_patch,
            artifacts=artifacts,
            log=log,
            size=size,
        )
        clickable(fig, "image_click_grid", query, grid)
    st.caption(where)
    st.markdown(t("image.map_explain"))


def draw_heads() -> None:
    grids = [
        views.clean_map(views.patch_map(views.attention_row(weights, token, h)), artifacts, mode)
        for h in range(heads)
    ]
    figure(
        figs.heads_figure(
            grids,
            titles=[t("image.head_n", n=h + 1) for h in range(heads)],
            query=query_patch,
            size=size // 2,
            log=log,
            photo=photo,
            opacity=opacity,
        ),
        "image_heads",
        f"heads-{file_stem}",
    )
    st.caption(t("image.heads_explain", layer=layer + 1, query=token_label(query)))


def draw_layers() -> None:
    layer_grids = [
        views.clean_map(
            views.patch_map(views.attention_row(lt.weights, token, head)),
            artifact_list(trace, i),
            mode,
        )
        for i, lt in enumerate(trace.layers)
    ]
    figure(
        figs.heads_figure(
            layer_grids,
            titles=[t("image.layer_n", n=i + 1) for i in range(layers)],
            query=query_patch,
            cols=6,
            size=size * 2 // 5,
            log=log,
            photo=photo,
            opacity=opacity,
        ),
        "image_layers",
        f"layers-{file_stem}",
    )
    st.caption(t("image.layers_explain", head=head_name, query=token_label(query)))


def draw_rollout() -> None:
    rolled = photos.get_rollout(digest, trace)  # (L, T, T)
    rgrid = views.clean_map(views.patch_map(rolled[layer, token]), artifacts, mode)
    figure(
        figs.overlay(
            photo,
            rgrid,
            labels=patch_labels,
            value_name=t("image.rollout_value"),
            opacity=opacity,
            title=t("image.rollout_title", layer=layer + 1),
            query=query_patch,
            artifacts=artifacts,
            log=log,
            size=size,
        ),
        "image_rollout",
        f"rollout-{file_stem}",
    )
    st.markdown(t("image.rollout_explain"))


def draw_saliency() -> None:
    figure(
        figs.saliency_figure(
            photo,
            trace.saliency,
            value_name=t("image.saliency_value"),
            opacity=opacity,
            title=t("image.saliency_title"),
            size=size,
        ),
        "image_saliency",
        "saliency",
    )
    st.markdown(t("image.saliency_explain"))


def draw_steps() -> None:
    # One query of one head: the head chosen above, or, under "mean of all heads", one to pick.
    if head is None:
        step_head = st.selectbox(
            t("image.step_head"),
            range(heads),
            format_func=head_names.__getitem__,
            key="image_step_head",
        )
    else:
        step_head = head
    k = st.slider(t("image.topk"), 1, 20, 5, key="image_topk")
    step = attention.breakdown(trace.layers[layer], step_head, token)
    top = views.top_patches(step.weights[0], k)
    left, right = st.columns([2, 3])
    with left:
        figure(
            figs.topk_figure(
                photo, top, title=t("image.topk_title", k=k), query=query_patch, size=size
            ),
            "image_topk_fig",
            f"top{k}-{file_stem}",
        )
        st.caption(t("image.topk_explain", cls=float(step.weights[0, 0])))
    if not present.active():
        with right:
            st.markdown(
                t(
                    "image.steps_explain",
                    layer=layer + 1,
                    head=step_head + 1,
                    query=token_label(query),
                    keys=len(trace.tokens),
                    dh=trace.layers[layer].q.shape[-1],
                )
            )
    # In presentation the steps go beside the photo, in view; otherwise full width below, so
    # that the last column (weights × v) is not cut off.
    with right if present.active() else st.container():
        render_breakdown(
            step,
            [token_label(CLS), *patch_labels],
            widget_key="image_breakdown",
            shown=present.steps("image", len(present.STEPS)),
        )


def draw_artifacts() -> None:
    st.markdown(
        t("image.artifacts_explain", factor=dinov2.ARTIFACT_FACTOR, sink=dinov2.SINK_FACTOR)
    )
    # the norms entering this layer: what artifact_patches compares with the median
    norms = views.patch_map(trace.token_norms[layer])  # (G, G)
    charts.chart(
        figs.grid_figure(
            norms,
            labels=patch_labels,
            value_name=t("image.norm_value"),
            title=t("image.norm_title", layer=layer + 1),
            artifacts=artifacts,
            size=size,
        ),
        key="image_norms",
        name=f"dinov2-norms-L{layer + 1}",
        matrix=norms,
        rows=[str(r + 1) for r in range(norms.shape[0])],
        cols=[str(c + 1) for c in range(norms.shape[1])],
    )
    if artifacts:
        st.caption(
            t(
                "image.artifacts_found",
                layer=layer + 1,
                patches=", ".join(map(token_label, artifacts)),
            )
        )
    else:
        st.caption(t("image.artifacts_none", layer=layer + 1))


tab_views = main.tabs(list(tab_labels.values()), key="image_tab", on_change="rerun")
with tab_views[TABS.index(open_tab)]:
    {
        "map": draw_map,
        "heads": draw_heads,
        "layers": draw_layers,
        "rollout": draw_rollout,
        "saliency": draw_saliency,
        "steps": draw_steps,
        "artifacts": draw_artifacts,
    }[open_tab]()

charts.trace_download(lambda: dinov2.npz_arrays(trace), "dinov2-trace", key="image_npz")
state.link_box()
