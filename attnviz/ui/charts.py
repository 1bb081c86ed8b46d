"""Every figure the same way: themed and projector-sized, exportable, its numbers downloadable.

    charts.chart(fig, key="text_heatmap", name="minilm-L3-H5",
                 matrix=weights, rows=query_labels, cols=key_labels)

draws `fig` with plotly's own image export configured (the camera button in the figure's
toolbar saves SVG or PNG, as chosen in the sidebar, named `name`), and under it a row of
download buttons: the figure as a standalone HTML file and, when `matrix` is given, the matrix
shown as CSV (with its row and column labels) and NPY. Files are built only when clicked.

    charts.trace_download(arrays_fn, name)   # the whole trace as .npz (the CLI's keys)
    charts.export_format()                   # the sidebar choice, called once by app.py
"""

from __future__ import annotations

import functools
import io
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from attnviz.figures.style import style_spec
from attnviz.ui import present
from attnviz.ui.common import t

FORMATS = ("svg", "png")
FORMAT_KEY = "export_format"


def export_format() -> None:
    st.sidebar.segmented_control(
        t("export.format"), FORMATS, key=FORMAT_KEY, required=True, default="svg"
    )


def _ink() -> str:
    """Axis and label colour that reads on the current theme: near black or near white."""
    theme = getattr(st.context, "theme", None)
    return "#f0f2f6" if theme is not None and theme.type == "dark" else "#111111"


def styled(fig: go.Figure) -> go.Figure:
    """A copy of `fig` with dark (theme-aware) labels, projector-sized in presentation mode.

    Figures may come from a cache shared by every session, so they are never changed in place.
    The styling is written into the figure's JSON (what plotly's update_layout, update_xaxes,
    update_yaxes and update_traces would set; tests/test_charts.py holds the two equal): going
    through those methods cost 15-150 ms a figure (plotly validates every path), most of a
    rerun of the image page; the JSON costs ~3 ms.
    """
    return Finished(style_spec(fig.to_dict(), _ink(), present.active()))


class Finished(go.Figure):
    """A figure whose JSON is final: `to_dict` hands it out as it is.

    st.plotly_chart and the HTML export only read a figure's JSON (`to_dict`); plotly's own
    `to_dict` would deep-copy it and walk it for numpy arrays again, and rebuilding a Figure from
    it copies it once more: together a third of what drawing a chart cost on the server.
    """

    def __init__(self, spec: dict):
        super().__init__()
        self._spec = spec

    def to_dict(self) -> dict:
        return self._spec


CLICKABLE_CELLS = 4096  # up to 64 × 64: a marker per cell stays a small part of the JSON


def _clickable(spec: dict) -> None:
    """A click selects what is under the mouse (plotly's default needs a drag). Plotly cannot
    select a heatmap's cell, so an invisible marker on every cell of the first heatmap takes
    the click (and shows the cell's hover text); the selection's point has the cell's x and y.
    """
    layout = spec.setdefault("layout", {})
    layout.setdefault("clickmode", "event+select")
    layout.setdefault("hovermode", "closest")
    heat = next((d for d in spec.get("data", []) if d.get("type") == "heatmap"), None)
    if heat is None or heat.get("x") is None or heat.get("y") is None:
        return
    xs, ys = list(heat["x"]), list(heat["y"])
    if len(xs) * len(ys) > CLICKABLE_CELLS:
        return
    hidden = dict(marker=dict(opacity=0))
    spec["data"].append(
        dict(
            type="scatter", mode="markers", x=xs * len(ys), y=[y for y in ys for _ in xs],
            customdata=_flat(heat["z"], len(xs) * len(ys)),
            hovertemplate=heat.get("hovertemplate", "").replace("%{z", "%{customdata"),
            marker=dict(size=24, color="rgba(0,0,0,0)"), selected=hidden, unselected=hidden,
            showlegend=False,
        )
    )  # fmt: skip
    heat["hoverinfo"] = "skip"
    # the markers must not widen the axes: the cells keep the whole plot, as without them
    layout.setdefault("xaxis", {})["range"] = [-0.5, len(xs) - 0.5]
    yaxis = layout.setdefault("yaxis", {})
    down = yaxis.pop("autorange", None) == "reversed"
    yaxis["range"] = [len(ys) - 0.5, -0.5] if down else [-0.5, len(ys) - 0.5]


def _flat(values, count: int):
    """A matrix of a figure's JSON as one row: plotly writes numpy arrays as typed bytes
    ({"dtype", "bdata", "shape"}, row by row), which only need a new shape."""
    if isinstance(values, dict):
        return {**values, "shape": str(count)}
    return np.asarray(values, dtype=np.float32).ravel()


def config(name: str) -> dict:
    """plotly config: the toolbar's camera exports `name`.svg (or .png) at twice the size."""
    fmt = st.session_state.get(FORMAT_KEY) or "svg"
    return {
        "displaylogo": False,
        "displayModeBar": True,
        "toImageButtonOptions": {"format": fmt, "filename": name, "scale": 2},
    }


def matrix_csv(matrix: np.ndarray, rows: Sequence[str], cols: Sequence[str]) -> bytes:
    """A labelled matrix as CSV (UTF-8 with BOM, so spreadsheet programs read Chinese)."""
    frame = pd.DataFrame(np.asarray(matrix), index=list(rows), columns=list(cols))
    return frame.to_csv(float_format="%.6g").encode("utf-8-sig")


def npy_bytes(matrix: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(matrix), allow_pickle=False)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def chart(
    fig: go.Figure,
    *,
    key: str,
    name: str,
    matrix: np.ndarray | None = None,
    rows: Sequence[str] = (),
    cols: Sequence[str] = (),
    click_cells: bool = False,
    **kwargs,
):
    """Draw `fig` (see the module docstring); `kwargs` go to st.plotly_chart. `click_cells`: a
    click on a heatmap's cell selects it (with on_select)."""
    fig = styled(fig)
    if click_cells:
        _clickable(fig.to_dict())
    result = st.plotly_chart(fig, key=key, config=config(name), **kwargs)
    html = lambda: fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")  # noqa: E731
    _downloads(key, name, ("HTML", html, "html", "text/html"), matrix, rows, cols)
    return result


def _downloads(key: str, name: str, drawing, matrix, rows, cols) -> None:
    """The row of download buttons under a figure: `drawing` (label, bytes function, file
    extension, mime type), and the matrix shown as CSV and NPY when there is one."""
    label, data, ext, mime = drawing
    row = st.container(horizontal=True, gap="small")
    row.download_button(
        label, data, file_name=f"{name}.{ext}", mime=mime, key=f"{key}_{ext}", on_click="ignore",
        icon="⬇️", type="tertiary",
    )  # fmt: skip
    if matrix is not None:
        row.download_button(
            "CSV", lambda: matrix_csv(matrix, rows, cols), file_name=f"{name}.csv",
            mime="text/csv", key=f"{key}_csv", on_click="ignore", icon="⬇️", type="tertiary",
        )  # fmt: skip
        row.download_button(
            "NPY", lambda: npy_bytes(matrix), file_name=f"{name}.npy",
            mime="application/octet-stream", key=f"{key}_npy", on_click="ignore", icon="⬇️",
            type="tertiary",
        )  # fmt: skip


# Our own script (no user text) for the line view: shows the SVG it is given (its tokens are
# escaped by figures.lines) and sends a click on a query's label back to Python. Hovering needs
# nothing from here: the SVG's own CSS answers it.
_LINES_JS = """
export default function ({ parentElement, data, setTriggerValue }) {
  let box = parentElement.querySelector("div.attnviz-lines-box");
  if (!box) {
    box = document.createElement("div");
    box.className = "attnviz-lines-box";
    parentElement.appendChild(box);
  }
  if (box.drawn !== data) { box.innerHTML = data; box.drawn = data; }
  box.onclick = (e) => {
    const query = e.target.closest("g.q");
    if (query) setTriggerValue("query", Number(query.dataset.row));
  };
}
"""


@functools.cache
def _line_view():
    """The component, registered once per server (registering it again at every run would
    replace it and log a warning)."""
    return st.components.v2.component("attnviz_lines", js=_LINES_JS)


def lines(
    svg: str,
    *,
    key: str,
    name: str,
    on_query: Callable[[int], None] | None = None,
    matrix: np.ndarray | None = None,
    rows: Sequence[str] = (),
    cols: Sequence[str] = (),
) -> None:
    """Draw the line view's SVG (`attnviz.figures.lines.lines_svg`), its downloads under it
    (the SVG itself, standalone; the matrix as for `chart`). `on_query(row)` is called, before
    the rerun, when a query's label is clicked."""

    def clicked() -> None:
        row = (st.session_state.get(key) or {}).get("query")
        if on_query is not None and isinstance(row, int) and row >= 0:
            on_query(row)

    _line_view()(data=svg, key=key, on_query_change=clicked)
    drawing = ("SVG", lambda: svg.encode("utf-8"), "svg", "image/svg+xml")
    _downloads(key, name, drawing, matrix, rows, cols)


def trace_download(arrays: Callable[[], dict[str, np.ndarray]], name: str, key: str) -> None:
    """The whole trace of the current input as .npz, with the CLI's keys."""
    st.download_button(
        t("export.trace"), lambda: npz_bytes(arrays()), file_name=f"{name}.npz",
        mime="application/octet-stream", key=key, on_click="ignore", icon="⬇️",
    )  # fmt: skip
