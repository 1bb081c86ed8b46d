"""The seq2seq page's figures: the alignment (output characters x input characters), with one
decoder step outlined, and the same alignment written row by row as an animation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from attnviz.figures.heatmap import heatmap


def alignment(
    weights: np.ndarray,
    input_tokens: Sequence[str],
    output_tokens: Sequence[str],
    *,
    step: int | None = None,
    title: str = "",
    x_title: str = "",
    y_title: str = "",
) -> go.Figure:
    """The (Tq, Tk) attention weights of every decoder step; row `step` (0-based) outlined."""
    fig = heatmap(
        weights, input_tokens, output_tokens, title=title, x_title=x_title, y_title=y_title,
        zmax=1.0, height=max(300, 30 * len(output_tokens) + 140),
    )  # fmt: skip
    if step is not None:
        # categorical axes: cell i spans i - 0.5 .. i + 0.5
        fig.add_shape(
            type="rect",
            x0=-0.5,
            x1=len(input_tokens) - 0.5,
            y0=step - 0.5,
            y1=step + 0.5,
            line=dict(color="#d62728", width=3),
        )
    return fig


def animation(
    weights: np.ndarray,
    input_tokens: Sequence[str],
    output_tokens: Sequence[str],
    *,
    play: str,
    pause: str,
    title: str = "",
    x_title: str = "",
    y_title: str = "",
) -> go.Figure:
    """The alignment filled in one decoder step per frame, with play/pause and a step slider."""
    weights = np.asarray(weights, dtype=np.float32)  # (Tq, Tk)
    fig = alignment(
        weights, input_tokens, output_tokens, title=title, x_title=x_title, y_title=y_title
    )

    def upto(t: int) -> np.ndarray:  # rows after step t are blank
        z = np.full_like(weights, np.nan)
        z[: t + 1] = weights[: t + 1]
        return z

    fig.data[0].z = upto(0)
    fig.frames = [go.Frame(data=[go.Heatmap(z=upto(t))], name=str(t)) for t in range(len(weights))]
    frame = dict(duration=600, redraw=True)
    fig.update_layout(
        updatemenus=[
            dict(
                type="buttons",
                direction="left",
                x=0,
                y=0,
                yanchor="top",
                pad=dict(t=10),
                buttons=[
                    dict(label=play, method="animate", args=[None, dict(frame=frame)]),
                    dict(
                        label=pause,
                        method="animate",
                        args=[[None], dict(frame=dict(duration=0), mode="immediate")],
                    ),
                ],
            )
        ],
        sliders=[
            dict(
                x=0.2,
                len=0.8,
                y=0,
                yanchor="top",
                steps=[
                    dict(
                        label=f"{t + 1} {token}",
                        method="animate",
                        args=[[str(t)], dict(frame=dict(duration=0), mode="immediate")],
                    )
                    for t, token in enumerate(output_tokens)
                ],
            )
        ],
        margin=dict(b=90),
    )
    return fig
