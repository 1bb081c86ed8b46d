"""Image attention: where DINOv2 ViT-S/14 looks in a photo the user uploads or picks.

Only wiring: photo and cached trace (ui/photos.py) -> widgets -> one view of
attnviz/ui/image_views.py, on a frozen image_views.Selection (only the open tab's view is built).
"""

from __future__ import annotations

import streamlit as st

from attnviz.errors import InputError
from attnviz.i18n import LANGS
from attnviz.i18n import t as t_in
from attnviz.ui import charts, image_views, photos, present, state
from attnviz.ui.common import show_error, t
from attnviz.ui.image_views import CLS, MEAN, QUERY, VIEWS, Selection, artifact_list, token_label
from attnviz.views import image as views
from attnviz.zoo import dinov2
from attnviz.zoo.registry import ModelMissing

TABS = tuple(VIEWS)  # map, heads, layers, rollout, saliency, steps, artifacts
# Which tabs each picker acts on: a picker is drawn only while its tab is open.
ACTS = {
    "layer": ("map", "heads", "rollout", "steps", "artifacts"),
    "head": ("map", "layers", "steps"),
    "query": ("map", "heads", "layers", "rollout", "steps"),
    "opacity": ("map", "rollout", "saliency"),
}


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
patch_labels = [token_label(p) for p in range(patches)]
# Widgets' labels as dicts, not lambdas: AppTest formats options outside the script run, where
# the language would not be known.
token_labels = {CLS: token_label(CLS), **dict(enumerate(patch_labels))}
head_names = image_views.head_names(heads)

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
    head_name = head_names[head_choice]
    head = None if head_choice == MEAN else head_choice  # figures take None for the mean
    weights = trace.layers[layer].weights  # (H, T, T)
    row = views.attention_row(weights, token, head)  # (T,)
    grid = views.clean_map(views.patch_map(row), artifacts, mode)  # (G, G)
    st.caption(t("image.cls_share", share=float(row[0])))
    padding = views.padding_share(row, trace.content)
    if (trace.content < 0.5).any():
        st.caption(t("image.padding_share", share=padding))

# ---- the open tab's view: only it is built (a change of tab reruns the page, on_change="rerun") --
selection = Selection(
    trace=trace, digest=digest, patch_labels=tuple(patch_labels), layer=layer, head=head,
    head_name=head_name, query=query, grid=grid, artifacts=tuple(artifacts), mode=mode, log=log,
    opacity=opacity, size=500 if present.active() else 480, file_stem=file_stem,
)  # fmt: skip
tab_views = main.tabs(list(tab_labels.values()), key="image_tab", on_change="rerun")
with tab_views[TABS.index(open_tab)]:
    VIEWS[open_tab](selection)

charts.trace_download(lambda: dinov2.npz_arrays(trace), "dinov2-trace", key="image_npz")
state.link_box()
