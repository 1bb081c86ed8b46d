"""Runs with heads switched off, beside the clean run: the decoder's next-token distribution,
the encoders' sentence similarity, and the L × H map of every single head's effect.

All through the models' own forwards with `ablation=` (attnviz.ablation). The map reuses work:
the residual stream entering each layer is computed once, clean, and a head of layer l is
ablated by running only layers l .. L-1 again (about half the layer passes of 270 full runs).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from attnviz.ablation import Ablation


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def kl(clean: np.ndarray, ablated: np.ndarray) -> float:
    """KL(clean ‖ ablated) in nats of two logit vectors (V,): how much the prediction moved."""
    p, q = softmax(clean), softmax(ablated)
    return float(np.sum(p * (np.log(p + 1e-30) - np.log(q + 1e-30))))


# ---------------------------------------------------------------- decoder


def decoder_means(trace) -> np.ndarray:
    """Each head's mean output (L, H, Dh) over the positions of a clean, cache-free trace."""
    group = trace.weights.shape[1] // trace.v.shape[1]
    v = np.repeat(trace.v, group, axis=1)  # (L, H, T, Dh)
    return (trace.weights @ v).mean(axis=2)  # (L, H, Dh)


def ablation_for(heads, mode: str, trace=None, means: np.ndarray | None = None) -> Ablation:
    """An Ablation of `heads`; mean mode takes the means of a clean `trace` (decoder) or given."""
    if mode == "mean" and means is None:
        means = decoder_means(trace)
    return Ablation(frozenset(heads), mode, means if mode == "mean" else None)


def decoder_logits(net, ids, ablation: Ablation | None = None) -> np.ndarray:
    """The last position's logits (V,) of one cache-free forward."""
    logits, _, _ = net(ids, ablation=ablation)
    return logits[-1].float().cpu().numpy()


def layers_from(
    net, x: torch.Tensor, first: int, turns, ablation=None, stop: int | None = None
) -> torch.Tensor:
    """Residual stream `x` (T, D) entering layer `first`, through layers first .. stop-1 (to the
    last by default) as one sequence from position 0. Not under inference mode, so a gradient
    can flow back to `x`: each layer gets a scratch cache of its own, since a layer's write into
    a shared one would change keys that an earlier layer's backward still reads."""
    from attnviz.zoo.batch import Batch, Row

    for i in range(first, len(net.layers) if stop is None else stop):
        rows = Batch.of([Row(net.empty_cache(len(x)), 0, 0, len(x))])
        x, _, _ = net.layers[i](x, turns[:, None], rows, i, ablation)  # turns: every head
    return x


def last_logits_from(net, x: torch.Tensor, first: int, turns, ablation=None) -> torch.Tensor:
    """The last position's logits (V,) of residual stream `x` (T, D) entering layer `first`:
    the tail of `Llama.forward` (a test holds the two equal)."""
    x = layers_from(net, x, first, turns, ablation)
    return F.linear(net.norm(x[-1]), net.embed.weight)  # (V,) tied embeddings


def turns_of(net, length: int):
    from attnviz.zoo.llama_layer import rope_turns

    c, weight = net.config, net.embed.weight
    positions = torch.arange(length, device=weight.device)
    return rope_turns(positions, c.head_width, c.rope_base, weight.dtype)  # (T, Dh/2)


@torch.inference_mode()
def decoder_effect_map(
    net, ids, mode: str = "zero", progress: Callable[[float], None] | None = None
) -> np.ndarray:
    """(L, H) KL(clean ‖ one head ablated) of the last position's next-token distribution."""
    c = net.config
    ids = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=net.embed.weight.device)
    turns = turns_of(net, len(ids))
    x, entering = net.embed(ids), []  # residual stream entering each layer, clean
    for i in range(c.layers):
        entering.append(x)
        x = layers_from(net, x, i, turns, stop=i + 1)
    clean = F.linear(net.norm(x), net.embed.weight)[-1].float().cpu().numpy()
    means = decoder_means(net(ids)[2]) if mode == "mean" else None
    effect = np.zeros((c.layers, c.heads))
    for i in range(c.layers):
        for h in range(c.heads):
            ablation = Ablation(frozenset({(i, h)}), mode, means)
            logits = last_logits_from(net, entering[i], i, turns, ablation)
            effect[i, h] = kl(clean, logits.float().cpu().numpy())
            if progress:
                progress((i * c.heads + h + 1) / (c.layers * c.heads))
    return effect


# ---------------------------------------------------------------- encoders


def encoder_means(model, texts: tuple[str, ...]) -> np.ndarray:
    """Each head's mean output (L, H, Dh) over the tokens of the clean runs of `texts`."""
    traces = [model.trace(text) for text in texts]
    return np.stack(
        [np.concatenate([tr.layers[i].context for tr in traces], axis=1).mean(1) for i in range(
            model.config.layers
        )]
    )  # fmt: skip


@torch.inference_mode()
def similarity(model, a: str, b: str, ablation: Ablation | None = None) -> float:
    """Cosine of the two sentences' embeddings (each encoded alone, mean-pooled, unit length)."""
    ea, _ = model.net(model.encode(a), ablation)
    eb, _ = model.net(model.encode(b), ablation)
    return float(ea @ eb)


def encoder_effect_map(
    model, a: str, b: str, mode: str = "zero", progress: Callable[[float], None] | None = None
) -> np.ndarray:
    """(L, H) change of the pair's similarity when one head is ablated (ablated − clean)."""
    c = model.config
    means = encoder_means(model, (a, b)) if mode == "mean" else None
    clean = similarity(model, a, b)
    effect = np.zeros((c.layers, c.heads))
    for i in range(c.layers):
        for h in range(c.heads):
            effect[i, h] = similarity(model, a, b, Ablation(frozenset({(i, h)}), mode, means))
            effect[i, h] -= clean
            if progress:
                progress((i * c.heads + h + 1) / (c.layers * c.heads))
    return effect
