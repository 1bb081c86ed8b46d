"""The app's look of a figure, as JSON: fonts and ink (shared by the pages and the notebook API).

Pure dict work on a figure's JSON (`fig.to_dict()`): no plotly validation, no streamlit.
"""

from __future__ import annotations


def style_spec(spec: dict, ink: str, projector: bool) -> dict:
    """Set fonts in a figure's JSON (`spec`, changed in place and returned); see
    attnviz.ui.charts.styled."""
    body, ticks = (18, 16) if projector else (14, 13)
    layout = spec.setdefault("layout", {})
    merge(layout, "font", size=body, color=ink)
    merge(layout.setdefault("title", {}), "font", size=body + 4)
    for prefix in ("xaxis", "yaxis"):  # every axis of every subplot: xaxis, xaxis2, ...
        for name in {prefix, *(k for k in layout if k[5:].isdigit() and k.startswith(prefix))}:
            axis = layout.setdefault(name, {})
            merge(axis, "tickfont", size=ticks, color=ink)
            merge(axis.setdefault("title", {}), "font", size=body, color=ink)
    # Text inside a figure is never under 12 px (14 px on a projector, issue 17): plotly would
    # shrink the numbers written in heatmap cells to fit them, and panel titles and rank labels
    # of the photo figures were set smaller.
    least = 14 if projector else 12
    for trace in spec.get("data", []):
        if trace.get("type") == "heatmap":
            merge(trace.setdefault("colorbar", {}), "tickfont", size=ticks, color=ink)
            if trace.get("texttemplate"):
                merge(trace, "textfont", size=least)
    for note in layout.get("annotations", []):
        size = note.get("font", {}).get("size", body)
        merge(note, "font", size=ticks if projector else max(size, least))
    return spec


def merge(parent: dict, key: str, **values) -> None:
    parent[key] = {**parent.get(key, {}), **values}
