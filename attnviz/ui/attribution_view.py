"""Attention beside attribution, one view shared by the sentiment and heads pages."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import streamlit as st

from attnviz.attribution import METHODS, Attribution
from attnviz.figures import heads as figs
from attnviz.ui import charts, present
from attnviz.ui.common import show_error, t


def show(result: Attribution, predicted: str, *, key: str, name: str, note: str = "") -> None:
    """The three methods per token as bars, then their pairwise Spearman correlations.

    `predicted`: how the prediction reads to the user (a class label from the catalog, or the
    decoder's token, shown as plain text)."""
    st.subheader(t("heads.attribution_title"))
    st.markdown(t("heads.attribution_help"))
    st.text(t("heads.attribution_for", predicted=predicted, p=result.probability))
    if note:
        st.caption(note)
    words = {m: t(f"heads.method_{m}") for m in METHODS}
    values = {words[m]: getattr(result, m) for m in METHODS}
    charts.chart(
        figs.attribution(result.tokens, values, token_word=t("heads.token"),
                         title=t("heads.attribution_figure")),
        key=key, name=name, matrix=np.stack([getattr(result, m) for m in METHODS]),
        rows=list(values), cols=result.tokens,
    )  # fmt: skip
    pairs = result.correlations()
    present.table(
        pa.table(
            {
                t("heads.spearman"): [
                    t("heads.spearman_pair", a=words[a], b=words[b]) for a, b in pairs
                ],
                "ρ": ["—" if math.isnan(r) else f"{r:+.2f}" for r in pairs.values()],
            }
        ),
        hide_index=True,
    )
    st.caption(t("heads.spearman_help"))


def show_classifier(name: str, sentence: str) -> None:
    """The view for one sentiment classifier (the sentiment page's one call)."""
    from attnviz.errors import InputError
    from attnviz.ui import heads_data

    try:
        result = heads_data.classifier_attribution(name, sentence)
    except InputError as exc:
        show_error(exc)
        return
    label = t(f"sentiment.label.{result.predicted}")
    show(result, label, key=f"attribution_{name}", name=f"{name}-attribution")
