"""A chart selection no browser could have sent is dropped with a notice, not an error.

A click on a chart made with `st.plotly_chart(on_select=...)` travels as JSON in the widget's
state, sent again with every rerun. Streamlit reads it back with
`PlotlyChartSelectionSerde.deserialize` (`json.loads`) before the page script runs, while it
compares the widget states to find the callbacks to call, so a crafted value ("{", "null",
`{"selection": 5}`) raised outside app.py's last-resort handler: Streamlit's own error, in
English. `install()` has that deserializer check the value first: JSON of the shape the browser
writes (`{"selection": {"points": [{...}], "point_indices": [], "box": [], "lasso": []}}`),
with finite numbers only (the browser's JSON.stringify writes no NaN or Infinity; 1e309 would
reach the pages' int() as an infinity). Any other value becomes the empty selection, as if
nothing had been clicked, and `notice()` tells the user in their language.
"""

from __future__ import annotations

import json
import math

import streamlit as st
from streamlit.elements.plotly_chart import PlotlyChartSelectionSerde

from attnviz.ui.common import t

DROPPED = "selection_dropped"  # session state: a selection was dropped since the last notice
LISTS = ("points", "point_indices", "box", "lasso")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text}")
    return value


def _no_constant(text: str) -> float:
    raise ValueError(f"not a JSON number: {text}")  # NaN, Infinity, -Infinity


def valid(ui_value: str) -> bool:
    """Whether `ui_value` is a selection of the shape the browser sends."""
    try:
        parsed = json.loads(ui_value, parse_float=_finite, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # bad JSON, a 5000-digit integer, nesting too deep
        return False
    selection = parsed.get("selection") if isinstance(parsed, dict) else None
    return (
        isinstance(selection, dict)
        and all(isinstance(selection.get(name, []), list) for name in LISTS)
        and all(isinstance(point, dict) for point in selection.get("points", []))
    )


def install() -> None:
    """Have every plotly chart's selection checked before Streamlit reads it (idempotent)."""
    original = PlotlyChartSelectionSerde.deserialize
    if getattr(original, "checked", False):
        return

    def deserialize(self, ui_value: str | None):
        if ui_value is not None and not valid(ui_value):
            st.session_state[DROPPED] = True
            ui_value = None
        return original(self, ui_value)

    deserialize.checked = True
    PlotlyChartSelectionSerde.deserialize = deserialize


def notice() -> None:
    """Say so once when a selection was dropped (the page draws without it)."""
    if st.session_state.pop(DROPPED, False):
        st.warning(t("error.selection_dropped"), icon="⚠️")
