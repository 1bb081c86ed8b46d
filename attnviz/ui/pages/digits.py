"""Digits: article 004's CNN + spatial self-attention on a digit drawn, uploaded or held out.

Only wiring: widgets -> cached trace (zoo/cnn_attention.py) -> figures/classifier.py. Drawings
and uploads stay in memory; nothing is written to disk.
"""

from __future__ import annotations

import numpy as np
import streamlit as st
from streamlit_drawable_canvas import st_canvas

from attnviz import digit_images
from attnviz.errors import InputError
from attnviz.figures import classifier as figs
from attnviz.figures.image import clicked_patch
from attnviz.ui import cache, charts, present, state
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import labeler, show_error, t
from attnviz.zoo import cnn_attention

UPLOAD_TYPES = ("png", "jpg", "jpeg", "webp", "gif", "bmp")
SOURCES = ("draw", "sample", "upload")  # only a held-out sample can be put in a link
QUERY = "digits_query"  # session key: the feature-map position whose attention is drawn
SAMPLES = 50  # held-out pictures offered on the page


def pick_pixels() -> np.ndarray | None:
    """The (28, 28) picture to read, or None while there is none yet."""
    source = state.bind("digits_source", "source", SOURCES[0], state.choice(SOURCES))
    if source != "sample":
        state.drop_params("source", "sample", "position")
    st.radio(
        t("digits.source"),
        SOURCES,
        horizontal=True,
        format_func=labeler("digits.source_"),
        key="digits_source",
    )
    if source == "sample":
        images, labels = cache.held_out_digits(SAMPLES)
        names = {i: str(i + 1) for i in range(len(images))}  # counted from 1, as on the page
        state.bind("digits_sample", "sample", 0, state.choice(names, names))
        index = st.selectbox(
            t("digits.sample"),
            range(len(images)),
            format_func=[
                t("digits.sample_item", number=i + 1, label=int(labels[i]))
                for i in range(len(images))
            ].__getitem__,
            key="digits_sample",
        )
        return images[index].astype(np.float32) / 255
    st.caption(t("digits.no_link"))
    if source == "draw":
        st.caption(t("digits.draw_hint"))
        canvas = st_canvas(
            stroke_width=18,
            stroke_color="#000000",
            background_color="#ffffff",
            height=280,
            width=280,
            return_image_data=True,
            key="digits_canvas",
        )
        data_bytes = canvas.image_bytes if canvas is not None and canvas.json_data else None
        if not data_bytes:
            st.info(t("digits.draw_empty"))
            return None
    else:
        upload = st.file_uploader(t("digits.upload"), type=list(UPLOAD_TYPES), key="digits_upload")
        if upload is None:
            st.info(t("digits.upload_hint"))
            return None
        data_bytes = upload.getvalue()
    pixels, notices = digit_images.from_bytes(data_bytes)
    for notice in notices:
        st.warning(t(notice.key, **notice.params), icon="ℹ️")
    return pixels


def on_click(chart_key: str, fig) -> None:
    state = st.session_state.get(chart_key)
    position = clicked_patch(state.selection if state else None, fig)
    if position is not None:
        st.session_state[QUERY] = position


st.title(t("digits.title"))
if not present.active():
    st.markdown(t("digits.intro"))
# The canvas is the demo itself: it stays in view in presentation too.
inputs, main = present.frame(t("present.inputs"), fold=False)
with inputs:
    try:
        pixels = pick_pixels()
    except InputError as exc:
        show_error(exc)
        st.stop()
if pixels is None:
    st.stop()
with main:
    trace = cache.get_trace("digits", pixels)
    side = trace.side
    linked = st.session_state.digits_source == "sample"
    state.bind(QUERY, "position", 0, state.choice(range(side * side)), in_url=linked)
    top = float(trace.probabilities[trace.prediction])
    st.metric(
        t("digits.prediction"),
        str(trace.prediction),
        t("digits.probability", p=top),
        delta_color="off",
        delta_arrow="off",
    )
    if top < 0.5:
        st.warning(t("digits.unsure", p=top), icon="🤔")
    positions = [t("digits.position", row=i // side, col=i % side) for i in range(side * side)]
    query = st.selectbox(
        t("digits.query"),
        range(side * side),
        format_func=positions.__getitem__,
        key=QUERY,
    )
    fig = figs.digit_attention(trace.pixel_values, trace.step.weights[query], side, query)
    chart_key = f"digits_map_{query}"
    charts.chart(
        fig,
        key=chart_key,
        name=f"digits-position-{query}",
        matrix=trace.step.weights[query].reshape(side, side),
        rows=[str(r) for r in range(side)],
        cols=[str(c) for c in range(side)],
        on_select=lambda: on_click(chart_key, fig),
        selection_mode="points",
        width="content",
    )
    st.caption(t("digits.click_hint", side=side))
    charts.chart(
        figs.probabilities([str(d) for d in range(10)], trace.probabilities),
        key="digits_probabilities",
        name="digits-probabilities",
    )
    st.caption(t("digits.gate", gate=trace.gate))
    with st.expander(t("breakdown.title"), expanded=present.active()):
        render_breakdown(
            trace.step, positions, query=query, widget_key="digits_breakdown",
            shown=present.steps("digits", len(present.STEPS)),
        )  # fmt: skip
charts.trace_download(lambda: cnn_attention.npz_arrays(trace), "digits-trace", key="digits_npz")
state.link_box()
