"""A seventh model family, written as a newcomer would: one file with the contract of
attnviz/zoo/registry.py, and one line in registry.MODELS (tests/test_seventh_family.py adds both).

Characters in, one layer of HEADS scaled-dot attention heads over character embeddings:

    x = E[c] + P[t]            (T, D)    a row of E per byte, of P per position
    q, k, v = x Wq, x Wk, x Wv (H, T, Dh)
    weights = softmax(q kᵀ / sqrt(Dh)),  context = weights v

Its weights are one seeded draw (`load`), so the test can recompute every weight by hand.
"""

from __future__ import annotations

import numpy as np
import torch

from attnviz import attention, opentrace, text
from attnviz.trace import ModelTrace

READS = "text"
HEADS, WIDTH, MAX_CHARS = 2, 4, 64  # heads, width of a head, characters read


def load(name: str) -> dict[str, np.ndarray]:
    """The model's weights: byte and position embeddings and the three projections."""
    rng = np.random.default_rng(7)
    d = HEADS * WIDTH
    shapes = {"bytes": (256, d), "positions": (MAX_CHARS, d), "wq": (d, d), "wk": (d, d),
              "wv": (d, d)}  # fmt: skip
    return {key: rng.normal(size=shape).astype(np.float32) for key, shape in shapes.items()}


def prepare(request) -> np.ndarray:
    """The text's bytes (at most MAX_CHARS); InputError for empty text."""
    cleaned, _ = text.clean(request.text)
    return np.frombuffer(cleaned.encode("utf-8")[:MAX_CHARS], dtype=np.uint8)


def split(x: np.ndarray) -> torch.Tensor:
    """(T, H * Dh) -> (H, T, Dh)."""
    return torch.from_numpy(x.reshape(len(x), HEADS, WIDTH).transpose(1, 0, 2).copy())


def run(model: dict[str, np.ndarray], name: str, value: np.ndarray) -> ModelTrace:
    x = model["bytes"][value] + model["positions"][: len(value)]  # (T, D)
    q, k, v = (split(x @ model[w]) for w in ("wq", "wk", "wv"))
    allowed = np.ones((len(value), len(value)), dtype=bool)
    layer = attention.layer_trace(attention.heads(q, k, v), allowed)
    context = layer.context.transpose(1, 0, 2).reshape(len(value), -1)
    return ModelTrace(
        model=name,
        tokens=tuple(chr(b) if 32 <= b < 127 else f"<{b:02x}>" for b in value),
        layers=(layer,),
        hidden=np.stack([x, context]),
        special=np.zeros(len(value), dtype=bool),
    )


def npz_arrays(trace: ModelTrace) -> dict[str, np.ndarray]:
    """An open trace with q, k, v (attnviz/opentrace.py): what `attnviz trace` writes and the
    open page reads."""
    tokens = trace.tokens
    return opentrace.arrays(
        opentrace.OpenTrace(tokens, tokens, trace.attentions, trace.model, trace.layers)
    )
