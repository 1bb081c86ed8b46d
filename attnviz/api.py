"""attnviz in a notebook: any model's attention as the app's figures, and saved for its open page.

    import attnviz
    out = model(**batch, output_attentions=True)             # a transformers model
    tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][0])
    attnviz.view(tokens, out.attentions)                     # Jupyter shows the figure inline
    attnviz.save("mine.npz", tokens, out.attentions)         # open it on the app's open page

What libraries return is read by its shape, never by importing them (no torch, transformers or
TransformerLens here): a tensor is anything with `.detach()`, a cache anything with `.keys()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from attnviz import opentrace
from attnviz.errors import InputError
from attnviz.i18n import t

VIEWS = ("heatmap", "overview", "lines", "rollout")
PATTERN = "blocks.{}.attn.hook_pattern"  # TransformerLens's name of a layer's weights
INK = "#111111"  # the app's label colour on a light theme


def _numpy(x) -> np.ndarray:
    """A torch tensor (any device or float type) or anything numpy reads, as numpy."""
    if hasattr(x, "detach"):
        x = x.detach().float().cpu().numpy()  # .float(): numpy has no bfloat16
    return np.asarray(x)


def _layer(x, batch: int) -> np.ndarray:
    """One layer's (H, Tq, Tk) weights from (B, H, Tq, Tk) (sample `batch`) or (H, Tq, Tk)."""
    array = _numpy(x)
    return array[batch] if array.ndim == 4 else array


def attentions_of(attentions, batch: int = 0) -> np.ndarray:
    """(L, H, Tq, Tk) weights of one input from what common libraries give:

    - a numpy array (L, H, Tq, Tk), or (L, B, H, Tq, Tk) of which sample `batch` is taken;
    - a transformers output (its `.attentions`), or that tuple itself: one (B, H, T, T) tensor
      per layer, as `output_attentions=True` returns and bertviz takes;
    - a TransformerLens ActivationCache (`blocks.{l}.attn.hook_pattern`, with or without the
      batch axis).
    """
    if hasattr(attentions, "attentions") and not isinstance(attentions, np.ndarray):
        attentions = attentions.attentions
    if hasattr(attentions, "keys") and PATTERN.format(0) in attentions:
        count = sum(1 for key in attentions if str(key).endswith("attn.hook_pattern"))
        return np.stack([_layer(attentions[PATTERN.format(i)], batch) for i in range(count)])
    if isinstance(attentions, (tuple, list)):
        return np.stack([_layer(x, batch) for x in attentions])
    if isinstance(attentions, Mapping):
        raise InputError("error.open_adapter", kind=type(attentions).__name__)
    array = _numpy(attentions)
    return array[:, batch] if array.ndim == 5 else array


def from_bertviz(
    attention=None,
    tokens=None,
    *,
    cross_attention=None,
    encoder_tokens=None,
    decoder_tokens=None,
) -> dict:
    """bertviz's head_view / model_view arguments as `view`'s and `save`'s:

    attnviz.view(**attnviz.from_bertviz(attention, tokens))
    attnviz.view(**attnviz.from_bertviz(cross_attention=c, encoder_tokens=e,
                                        decoder_tokens=d))   # decoder rows, encoder columns
    """
    if cross_attention is not None:
        return dict(
            tokens=None, attentions=cross_attention, queries=decoder_tokens, keys=encoder_tokens
        )
    return dict(tokens=tokens, attentions=attention)


def trace_of(
    tokens, attentions, *, queries=None, keys=None, q=None, k=None, v=None, allowed=None,
    model: str = "", batch: int = 0,
) -> tuple[opentrace.OpenTrace, list[str]]:  # fmt: skip
    """(trace, notices) checked as a file would be (opentrace.check); InputError if bad."""
    weights = attentions_of(attentions, batch)
    labels = [str(s) for s in tokens] if tokens is not None else None
    queries = labels if queries is None else [str(s) for s in queries]
    keys = labels if keys is None else [str(s) for s in keys]
    given = {"q": q, "k": k, "v": v}
    qkv = {name: None if x is None else attentions_of(x, batch) for name, x in given.items()}
    return opentrace.check(
        weights,
        np.array(queries or [], dtype=str),
        np.array(keys or [], dtype=str),
        allowed=None if allowed is None else _numpy(allowed).astype(bool),
        model=model,
        **qkv,
    )


def view(
    tokens,
    attentions,
    view: str = "heatmap",
    layer: int = 1,
    head: int = 1,
    *,
    queries=None,
    keys=None,
    batch: int = 0,
    fixed: bool = False,
    lang: str = "en",
) -> go.Figure:
    """One of the app's views of any model's attention, as a plotly Figure (shown inline).

    Args:
        tokens: (T,) labels; for cross-attention give `queries` (Tq,) and `keys` (Tk,) instead.
        attentions: see `attentions_of`.
        view: "heatmap" (one head), "overview" (every head), "lines" (one head's lines),
            "rollout" (after `layer`).
        layer, head: counted from 1, as in the app.
        fixed: colours over 0-1 rather than the head's own range.
        lang: "en" or "zh", the figure's words.
    """
    from attnviz.figures import opened
    from attnviz.figures.style import style_spec

    if view not in VIEWS:
        raise InputError("error.open_view", name=view, names=", ".join(VIEWS))
    trace, _ = trace_of(tokens, attentions, queries=queries, keys=keys, batch=batch)
    n_layers, n_heads = trace.attentions.shape[:2]
    for name, value, count in (("layer", layer, n_layers), ("head", head, n_heads)):
        if not (isinstance(value, (int, np.integer)) and 1 <= value <= count):
            raise InputError("error.open_pick", name=t(f"text.{name}", lang), value=value,
                             count=count)  # fmt: skip
    if view == "heatmap":
        fig = opened.head_map(trace, layer - 1, head - 1, lang, fixed)
    elif view == "overview":
        fig = opened.mark_overview(trace, layer - 1, head - 1, lang)
    elif view == "lines":
        fig = opened.lines(trace, layer - 1, [head - 1], lang)
    else:
        if not trace.self_attention:
            raise InputError("error.open_self_only")
        from attnviz.rollout import rollout

        rolled = rollout(trace.attentions[:layer])  # (layer, T, T)
        fig = opened.rollout_map(rolled, trace, layer - 1, lang, fixed)
    return go.Figure(style_spec(fig.to_dict(), INK, projector=False))


def save(
    path, tokens, attentions, *, queries=None, keys=None, q=None, k=None, v=None, allowed=None,
    model: str = "", batch: int = 0,
) -> list[str]:  # fmt: skip
    """Write the open trace format to `path` (exactly that name), checked as the app reads it.

    `q`, `k`, `v` ((L, H, T, Dh) or per layer as `attentions`) make the step-by-step breakdown
    work on the open page; `allowed` (Tq, Tk) bool is a causal or padding mask. Returns the
    notices (catalog keys) of what was left out, e.g. q, k, v that do not give the weights.
    """
    trace, notices = trace_of(
        tokens, attentions, queries=queries, keys=keys, q=q, k=k, v=v, allowed=allowed,
        model=model, batch=batch,
    )  # fmt: skip
    with open(os.fspath(path), "wb") as handle:
        handle.write(opentrace.to_bytes(trace))
    return notices


def load(path) -> opentrace.OpenTrace:
    """An open trace file, read and checked as the app's open page does (InputError if bad)."""
    with open(os.fspath(path), "rb") as handle:
        data = handle.read(opentrace.MAX_FILE_BYTES + 1)
    return opentrace.read(data)[0]
