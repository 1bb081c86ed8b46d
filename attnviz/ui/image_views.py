"""The views of the image page, one function each (the map, heads, layers, rollout, saliency,
steps, artifacts), on a frozen `Selection`: the page reads the photo and the shared choices,
then calls the open tab's view (only that tab is built).

Only wiring, as in the page: the trace and the rollout come from attnviz.ui.photos, arrays from
attnviz.views.image, figures from attnviz.figures.image. Widget keys are the page's
(`image_...`): links and the tests read them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from attnviz import attention
from attnviz.figures import image as figs
from attnviz.trace import ImageTrace
from attnviz.ui import charts, photos, present
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import t
from attnviz.views import image as views
from attnviz.zoo import dinov2

QUERY = "image_query"  # session key: -1 for CLS, else a patch index 0..255
CLS = -1
MEAN = -1  # the head choice "mean of all heads" (None would make the box clearable)


def token_label(token: int) -> str:
    """-1 is CLS; a patch as (row, column), both counted from 1 as people do."""
    if token == CLS:
        return t("image.cls")
    r, c = divmod(token, dinov2.DinoConfig().grid)
    return t("image.patch", row=r + 1, col=c + 1)


def head_names(heads: int) -> dict[int, str]:
    """The head choices' labels: MEAN, then every head counted from 1."""
    return {MEAN: t("image.head_mean"), **{h: t("image.head_n", n=h + 1) for h in range(heads)}}


def artifact_list(trace: ImageTrace, layer: int) -> list[int]:
    """Patch indices (0..P-1) of the artifacts entering `layer` (the backend gives tokens)."""
    return [int(token) - 1 for token in dinov2.artifact_patches(trace, layer)]


@dataclass(frozen=True, eq=False)
class Selection:
    """What the views read: the photo's trace and the choices made above them (layer 0-based;
    head None for the mean of all heads; query CLS or a patch index). Built once per run by the
    page."""

    trace: ImageTrace
    digest: str  # the photo's cache key (photos.analyse)
    patch_labels: tuple[str, ...]  # (P,)
    layer: int
    head: int | None
    head_name: str
    query: int
    grid: np.ndarray  # (G, G) the query's row of `layer`, as a patch map, artifacts treated
    artifacts: tuple[int, ...]  # patch indices of the artifacts entering `layer`
    mode: str  # what is done with them (views.ARTIFACT_MODES)
    log: bool
    opacity: float
    size: int  # the photo figures' width; they stretch to their column
    file_stem: str  # the downloads' names: layer, head, query

    @property
    def token(self) -> int:
        return 0 if self.query == CLS else self.query + 1  # token 0 is CLS, patch p is p + 1

    @property
    def query_patch(self) -> int | None:
        return None if self.query == CLS else self.query  # figures outline no patch for CLS


def on_click(chart_key: str, fig) -> None:
    """A click on a patch marker makes that patch the query."""
    chosen = st.session_state.get(chart_key)
    patch = figs.clicked_patch(chosen.selection if chosen else None, fig)
    if patch is not None:
        st.session_state[QUERY] = patch


def clickable(sel: Selection, fig, name: str) -> None:
    """A figure whose patch markers can be clicked; its CSV holds the selection's grid.

    The query is part of the key, so every new query starts with a fresh selection: clicking the
    same patch again after choosing another query in the box still counts as a change.
    """
    chart_key = f"{name}_{sel.query}"
    side = sel.grid.shape[0]
    charts.chart(
        fig,
        key=chart_key,
        name=f"dinov2-{sel.file_stem}",
        matrix=sel.grid,
        rows=[str(r + 1) for r in range(side)],
        cols=[str(c + 1) for c in range(side)],
        on_select=lambda: on_click(chart_key, fig),
        selection_mode="points",
    )


def figure(fig, key: str, name: str) -> None:
    charts.chart(fig, key=key, name=f"dinov2-{name}")


def draw_map(sel: Selection) -> None:
    """The query's row over the photo and as a bare grid, side by side; both clickable."""
    pairs = zip(st.columns(2), (sel.trace.picture, None), ("overlay", "grid"), strict=True)
    for column, photo, what in pairs:
        with column:
            fig = figs.overlay(
                photo,
                sel.grid,
                labels=sel.patch_labels,
                value_name=t("step.weights"),
                opacity=sel.opacity,
                title=t(
                    "figure.image_title",
                    what=t(f"image.{what}_title"),
                    layer=sel.layer + 1,
                    head=sel.head_name,
                ),
                query=sel.query_patch,
                artifacts=sel.artifacts,
                log=sel.log,
                size=sel.size,
            )
            clickable(sel, fig, f"image_click_{what}")
    where = t("image.where", layer=sel.layer + 1, head=sel.head_name, query=token_label(sel.query))
    st.caption(where)
    st.markdown(t("image.map_explain"))


def small_multiples(sel: Selection, grids, titles, key: str, **kwargs) -> None:
    """One small map per head or layer, each over the photo."""
    fig = figs.heads_figure(
        grids,
        titles=titles,
        query=sel.query_patch,
        log=sel.log,
        photo=sel.trace.picture,
        opacity=sel.opacity,
        **kwargs,
    )
    figure(fig, f"image_{key}", f"{key}-{sel.file_stem}")


def draw_heads(sel: Selection) -> None:
    weights = sel.trace.layers[sel.layer].weights  # (H, T, T)
    heads = range(weights.shape[0])
    grids = [
        views.clean_map(
            views.patch_map(views.attention_row(weights, sel.token, h)), sel.artifacts, sel.mode
        )
        for h in heads
    ]
    titles = [t("image.head_n", n=h + 1) for h in heads]
    small_multiples(sel, grids, titles, "heads", size=sel.size // 2)
    st.caption(t("image.heads_explain", layer=sel.layer + 1, query=token_label(sel.query)))


def draw_layers(sel: Selection) -> None:
    layers = sel.trace.layers
    grids = [
        views.clean_map(
            views.patch_map(views.attention_row(lt.weights, sel.token, sel.head)),
            artifact_list(sel.trace, i),
            sel.mode,
        )
        for i, lt in enumerate(layers)
    ]
    titles = [t("image.layer_n", n=i + 1) for i in range(len(layers))]
    small_multiples(sel, grids, titles, "layers", cols=6, size=sel.size * 2 // 5)
    st.caption(t("image.layers_explain", head=sel.head_name, query=token_label(sel.query)))


def draw_rollout(sel: Selection) -> None:
    rolled = photos.get_rollout(sel.digest, sel.trace)  # (L, T, T)
    grid = views.clean_map(views.patch_map(rolled[sel.layer, sel.token]), sel.artifacts, sel.mode)
    fig = figs.overlay(
        sel.trace.picture,
        grid,
        labels=sel.patch_labels,
        value_name=t("image.rollout_value"),
        opacity=sel.opacity,
        title=t("image.rollout_title", layer=sel.layer + 1),
        query=sel.query_patch,
        artifacts=sel.artifacts,
        log=sel.log,
        size=sel.size,
    )
    figure(fig, "image_rollout", f"rollout-{sel.file_stem}")
    st.markdown(t("image.rollout_explain"))


def draw_saliency(sel: Selection) -> None:
    fig = figs.saliency_figure(
        sel.trace.picture,
        sel.trace.saliency,
        value_name=t("image.saliency_value"),
        opacity=sel.opacity,
        title=t("image.saliency_title"),
        size=sel.size,
    )
    figure(fig, "image_saliency", "saliency")
    st.markdown(t("image.saliency_explain"))


def draw_steps(sel: Selection) -> None:
    trace, heads = sel.trace, sel.trace.layers[sel.layer].weights.shape[0]
    # One query of one head: the head chosen above, or, under "mean of all heads", one to pick.
    step_head = sel.head
    if step_head is None:
        step_head = st.selectbox(
            t("image.step_head"),
            range(heads),
            format_func=head_names(heads).__getitem__,
            key="image_step_head",
        )
    k = st.slider(t("image.topk"), 1, 20, 5, key="image_topk")
    step = attention.breakdown(trace.layers[sel.layer], step_head, sel.token)
    top = views.top_patches(step.weights[0], k)
    left, right = st.columns([2, 3])
    with left:
        title = t("image.topk_title", k=k)
        fig = figs.topk_figure(
            trace.picture, top, title=title, query=sel.query_patch, size=sel.size
        )
        figure(fig, "image_topk_fig", f"top{k}-{sel.file_stem}")
        st.caption(t("image.topk_explain", cls=float(step.weights[0, 0])))
    if not present.active():
        with right:
            st.markdown(
                t(
                    "image.steps_explain",
                    layer=sel.layer + 1,
                    head=step_head + 1,
                    query=token_label(sel.query),
                    keys=len(trace.tokens),
                    dh=trace.layers[sel.layer].q.shape[-1],
                )
            )
    # In presentation the steps go beside the photo, in view; otherwise full width below, so
    # that the last column (weights × v) is not cut off.
    with right if present.active() else st.container():
        render_breakdown(
            step,
            [token_label(CLS), *sel.patch_labels],
            widget_key="image_breakdown",
            shown=present.steps("image", len(present.STEPS)),
        )


def draw_artifacts(sel: Selection) -> None:
    st.markdown(
        t("image.artifacts_explain", factor=dinov2.ARTIFACT_FACTOR, sink=dinov2.SINK_FACTOR)
    )
    # the norms entering this layer: what artifact_patches compares with the median
    norms = views.patch_map(sel.trace.token_norms[sel.layer])  # (G, G)
    charts.chart(
        figs.grid_figure(
            norms,
            labels=sel.patch_labels,
            value_name=t("image.norm_value"),
            title=t("image.norm_title", layer=sel.layer + 1),
            artifacts=sel.artifacts,
            size=sel.size,
        ),
        key="image_norms",
        name=f"dinov2-norms-L{sel.layer + 1}",
        matrix=norms,
        rows=[str(r + 1) for r in range(norms.shape[0])],
        cols=[str(c + 1) for c in range(norms.shape[1])],
    )
    if sel.artifacts:
        found = ", ".join(map(token_label, sel.artifacts))
        st.caption(t("image.artifacts_found", layer=sel.layer + 1, patches=found))
    else:
        st.caption(t("image.artifacts_none", layer=sel.layer + 1))


VIEWS = {
    "map": draw_map,
    "heads": draw_heads,
    "layers": draw_layers,
    "rollout": draw_rollout,
    "saliency": draw_saliency,
    "steps": draw_steps,
    "artifacts": draw_artifacts,
}
