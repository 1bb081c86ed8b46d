"""A LLaMA layer's maths (zoo/llama.py) as functions of tensors: RoPE, a layer's projections and
output, and every layer of a batched step in one TorchScript call (`batched`), which lets go of
the GIL once where the same operations called from Python let go and wait to take it back at each
(zoo/batch.py). `Weights` holds a step's attention weights as the products gave them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from attnviz.attention import to_numpy
from attnviz.zoo.batch import Batch, NewestAt, PromptsAt, attend_newest, attend_prompts, script


def rope_turns(positions: torch.Tensor, dh: int, base: float, dtype) -> torch.Tensor:
    """cos + i sin, (T, Dh/2) complex, of the angles pos * base^(-2i/Dh): computed in float32
    (as transformers does), cos and sin cast to the model's dtype. Once per forward, shared by
    layers."""
    exponents = torch.arange(0, dh, 2, device=positions.device, dtype=torch.float32) / dh
    inv_freq = 1.0 / base**exponents  # (Dh/2,)
    angle = positions.to(torch.float32)[:, None] * inv_freq[None, :]  # (T, Dh/2)
    return torch.complex(angle.cos().to(dtype), angle.sin().to(dtype))


@script
def rope(x: Tensor, turns: Tensor) -> Tensor:
    """Rotate each adjacent pair (x[2i], x[2i+1]) of x (..., T, Dh) by its angle (rope_turns).

    A pair read as the complex number x[2i] + i x[2i+1], times cos + i sin, is the rotation
    (x[2i] cos - x[2i+1] sin, x[2i] sin + x[2i+1] cos): one complex product instead of four
    real ones, a difference and a sum (on CPU the same numbers bit for bit, 4-6x faster a call).
    """
    pairs = torch.view_as_complex(x.unflatten(-1, [x.shape[-1] // 2, 2]))  # (..., T, Dh/2)
    return torch.view_as_real(pairs * turns).flatten(-2)


@script
def project(
    x: Tensor, turns: Tensor, weights: list[Tensor], heads: int, kv_heads: int, eps: float
) -> list[Tensor]:
    """A layer's queries and keys before and after RoPE, and values, of x (N, D): [q_raw, q
    (N, H, Dh), k_raw, k, v (N, Hkv, Dh)]. weights: the layer's `Layer.tensors()`."""
    norm, wq, wk, wv = weights[0], weights[1], weights[2], weights[3]
    n, d = x.shape
    h = torch.rms_norm(x, [d], norm, eps)  # (N, D)
    q_raw = F.linear(h, wq).view(n, heads, d // heads)  # (N, H, Dh)
    k_raw = F.linear(h, wk).view(n, kv_heads, d // heads)  # (N, Hkv, Dh)
    v = F.linear(h, wv).view(n, kv_heads, d // heads)  # (N, Hkv, Dh)
    return [q_raw, rope(q_raw, turns), k_raw, rope(k_raw, turns), v]


@script
def finish(x: Tensor, context: Tensor, weights: list[Tensor], eps: float) -> Tensor:
    """The layer's output: x plus the heads' context (N, H, Dh) merged, then the SwiGLU block.
    weights: the layer's `Layer.tensors()`."""
    out, norm, gate, up, down = weights[4], weights[5], weights[6], weights[7], weights[8]
    n, d = x.shape
    x = x + F.linear(context.reshape(n, d), out)
    h = torch.rms_norm(x, [d], norm, eps)
    return x + F.linear(F.silu(F.linear(h, gate)) * F.linear(h, up), down)  # (N, D)


@script
def attend_pooled(
    q: Tensor, k: Tensor, v: Tensor, context: Tensor, pool_k: Tensor, pool_v: Tensor,
    newest: NewestAt | None, prompts: PromptsAt | None, group: int,
) -> tuple[Tensor | None, Tensor | None]:  # fmt: skip
    """One layer's attention of the sequences whose caches are in the pool (`Batch.newest`,
    `Batch.prompts`), one product each: writes their context into `context` (N, H, Dh) and
    returns their weights, (B, H, T) and (B, H, T, T), None where there are none."""
    w_newest: Tensor | None = None
    w_prompts: Tensor | None = None
    if newest is not None:
        w_newest, context[newest.offsets] = attend_newest(q, k, v, pool_k, pool_v, newest, group)
    if prompts is not None:
        w_prompts, context[prompts.rows] = attend_prompts(q, k, v, pool_k, pool_v, prompts, group)
    return w_newest, w_prompts


@script
def batched(
    x: Tensor, turns: Tensor, weights: list[list[Tensor]], pool_k: Tensor, pool_v: Tensor,
    newest: NewestAt | None, prompts: PromptsAt | None, heads: int, kv_heads: int, eps: float,
) -> tuple[Tensor, list[Tensor], Tensor | None, Tensor | None]:  # fmt: skip
    """Every layer of a step whose sequences all attend batched (`Batch.alone` empty, no
    ablation), in one call that lets go of the GIL once: a torch call from Python lets go and
    takes it back, and beside a page's Python each retake waits (`python -m
    benchmarks.bench_gil`: a decoding step of 20 beside a thread running Python took 454 ms
    layer by layer, 342 ms as this one; BENCHMARKS.md, "Fifth pass"). Returns (x, [q_raw, q,
    k_raw, k, v] each (L, N, H or Hkv, Dh), the newest's weights (L, B, H, T), the prompts'
    (L, B, H, T, T))."""
    group = heads // kv_heads
    parts: list[list[Tensor]] = [[], [], [], [], []]
    by_newest: list[Tensor] = []
    by_prompts: list[Tensor] = []
    for i, mine in enumerate(weights):
        vectors = project(x, turns, mine, heads, kv_heads, eps)
        q, k, v = vectors[1], vectors[3], vectors[4]
        context = torch.empty_like(q)  # (N, H, Dh)
        w_newest, w_prompts = attend_pooled(
            q, k, v, context, pool_k[i], pool_v[i], newest, prompts, group
        )
        if w_newest is not None:
            by_newest.append(w_newest)
        if w_prompts is not None:
            by_prompts.append(w_prompts)
        x = finish(x, context, mine, eps)
        for part, vector in zip(parts, vectors):  # noqa: B905 - no strict in TorchScript
            part.append(vector)
    stacked = [torch.stack(part) for part in parts]
    return (
        x, stacked,
        torch.stack(by_newest) if by_newest else None,
        torch.stack(by_prompts) if by_prompts else None,
    )  # fmt: skip


@dataclass
class Weights:
    """A step's attention weights as its products gave them, one layer's or (stacked) every
    layer's; each sequence's own are cut out after the last layer, in numpy (`split`): cutting
    40 sequences' weights out of 30 layers in torch took thousands of calls a step, each letting
    go of the GIL and waiting to take it back beside a page's Python (see `batched`)."""

    alone: dict[int, Tensor]  # batch place -> ([L,] H, Tq, Tk)
    newest: Tensor | None  # ([L,] B, H, T): Batch.newest's, padded to the longest
    prompts: Tensor | None  # ([L,] B, H, T, T): Batch.prompts', padded to the longest

    @staticmethod
    def stack(layers: Sequence[Weights]) -> Weights:
        def every(tensors: list) -> Tensor | None:
            return None if tensors[0] is None else torch.stack(tensors)

        alone = {i: torch.stack([w.alone[i] for w in layers]) for i in layers[0].alone}
        return Weights(alone, every([w.newest for w in layers]), every([w.prompts for w in layers]))

    def split(self, batch: Batch) -> list[np.ndarray]:
        """Each sequence's weights, every layer, (L, H, Tq, Tk), its own memory."""
        out: list = [None] * len(batch.rows)
        for i, weights in self.alone.items():
            out[i] = to_numpy(weights)  # stacked: a tensor of its own
        if batch.newest is not None:
            every = to_numpy(self.newest)  # (L, B, H, T)
            for b, i in enumerate(batch.newest.members):  # (L, H, 1, Tk): its own keys only
                out[i] = every[:, b, :, None, : batch.rows[i].start + 1].copy()
        if batch.prompts is not None:
            every = to_numpy(self.prompts)  # (L, B, H, T, T)
            prompts = batch.prompts
            for b, (i, tq) in enumerate(zip(prompts.members, prompts.lengths, strict=True)):
                out[i] = every[:, b, :, :tq, :tq].copy()  # its own queries and keys
        return out
