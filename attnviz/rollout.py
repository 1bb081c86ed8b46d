"""Attention rollout (Abnar & Zuidema, 2020): how much each input token reaches each position
after all layers, following attention through the residual connections.

    A_l     = mean over heads of weights_l                   (T, T)
    Â_l     = (A_l + I) / 2, rows renormalised to sum to 1   the residual path carries half
    R_l     = Â_l @ R_(l-1),  R_0 = I                        (T, T)
"""

from __future__ import annotations

import numpy as np


def rollout(attentions, *, head_fusion: str = "mean") -> np.ndarray:
    """Cumulative rollout after every layer.

    Args:
        attentions: (L, H, T, T) attention weights of one input, or one (H, T, T) array per
            layer (a trace's own arrays: fused one layer at a time, never stacked into a copy).
        head_fusion: "mean" or "max" over heads.

    Returns:
        (L, T, T): entry [l, i, j] is how much token j reaches position i after layer l.
    """
    layers = [np.asarray(layer) for layer in attentions]  # L x (H, T, T)
    if not layers or any(x.ndim != 3 or x.shape[-1] != x.shape[-2] for x in layers):
        raise ValueError(f"expected (L, H, T, T), got layers of shapes {[x.shape for x in layers]}")
    if head_fusion not in ("mean", "max"):
        raise ValueError(f"head_fusion must be 'mean' or 'max', not {head_fusion!r}")
    fused = np.stack(
        [x.max(axis=0) if head_fusion == "max" else x.mean(axis=0) for x in layers]
    )  # (L, T, T)
    t = fused.shape[-1]
    eye = np.eye(t, dtype=np.float64)
    result = eye
    out = np.empty(fused.shape, dtype=np.float64)
    for layer, a in enumerate(fused.astype(np.float64)):
        a = (a + eye) / 2.0
        a = a / a.sum(axis=-1, keepdims=True)
        result = a @ result
        out[layer] = result
    return out
