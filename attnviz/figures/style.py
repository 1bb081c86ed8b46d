"""The app's look of a figure, as JSON: fonts and ink (shared by the pages and the notebook API).

Pure dict work on a figure's JSON (`fig.to_dict()`): no plotly validation, no streamlit.
"""

from __future__ import annotations


def style_spec(spec: dict, ink: str, projector: bool) -> dict:
    """Set fonts in a figure's JSON (`spec`, changed in place and returned); see
    attnviz.ui.charts.styled."""
    body, ticks = (18, 16) if projector else (14, 13)
    layout = spec.setdefault("layout", {})
    _merge(layout, "font", size=body, color=ink)
    _merge(layout.setdefault("title", {}), "font", size=body + 4)
    for prefix in ("xaxis", "yaxis"):  # every axis of every subplot: xaxis, xaxis2, ...
        for name in {prefix, *(k for k in layout if k[5:].isdigit() and k.startswith(prefix))}:
            axis = layout.setdefault(name, {})
            _merge(axis, "tickfont", size=ticks, color=ink)
            _merge(axis.setdefault("title", {}), "font", size=body, color=ink)
    for trace in spec.get("data", []):
        if trace.get("type") == "heatmap":
            _merge(trace.setdefault("colorbar", {}), "tickfont", size=ticks, color=ink)
    if projector:  # panel titles and rank labels of the photo figures too
        for note in layout.get("annotations", []):
            _merge(note, "font", size=ticks)
    return spec


def _merge(parent: dict, key: str, **values) -> None:
    parent[key] = {**parent.get(key, {}), **values}
