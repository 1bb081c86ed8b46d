"""A LLaMA-style decoder in torch (SmolLM2-135M), with a KV cache and every head's trace.

    x = embed[ids]
    for each layer:
        h = RMSNorm(x)
        q, k, v = h Wq, h Wk, h Wv            9 query heads, 3 key/value heads of Dh = 64
        q, k = RoPE(q), RoPE(k)               turn pairs (2i, 2i+1) by pos * base^(-2i/Dh)
        k, v = cache + (k, v)                 keys and values of all earlier positions
        context = attention.heads(q, k, v, causal)     each kv head serves 3 query heads (GQA)
        x = x + context Wo
        x = x + W_down(SiLU(W_gate RMSNorm(x)) * W_up RMSNorm(x))     SwiGLU
    logits = RMSNorm(x) embedᵀ                tied embeddings

The weights stay in the GGUF's layout (see loading/gguf_reader.py), which is why RoPE rotates
adjacent pairs here. `forward(ids, cache)` returns `(logits, cache, trace)`: the cache is a new
object (the old one is not changed), so each user's generation keeps its own and the model,
shared through `st.cache_resource`, stores nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from attnviz import attention, loading
from attnviz.attention import to_numpy
from attnviz.bpe import ByteBPE
from attnviz.trace import frozen


@dataclass(frozen=True)
class LlamaConfig:
    vocab: int
    width: int  # D
    layers: int  # L
    heads: int  # H, query heads
    kv_heads: int  # key/value heads
    ffn: int
    context: int
    rope_base: float
    eps: float

    def __post_init__(self) -> None:
        if self.width % self.heads or self.heads % self.kv_heads:
            raise ValueError("width must split into heads, and heads into key/value heads")
        if self.head_width % 2:
            raise ValueError("RoPE needs an even head width")

    @property
    def head_width(self) -> int:  # Dh
        return self.width // self.heads

    @property
    def group(self) -> int:
        """Query heads per key/value head: query head h reads key/value head h // group."""
        return self.heads // self.kv_heads


@dataclass(frozen=True)
class Cache:
    """Keys (before and after RoPE) and values of every position so far, per layer."""

    k_raw: tuple[torch.Tensor, ...]  # L x (Hkv, T, Dh)
    k: tuple[torch.Tensor, ...]  # L x (Hkv, T, Dh), after RoPE
    v: tuple[torch.Tensor, ...]  # L x (Hkv, T, Dh)

    @property
    def length(self) -> int:
        return self.k[0].shape[1]

    def cut(self, length: int) -> Cache:
        """The cache of the first `length` positions (to branch off an earlier step)."""
        return Cache(*(tuple(x[:, :length] for x in part) for part in (self.k_raw, self.k, self.v)))


@dataclass(frozen=True, eq=False)
class DecoderTrace:
    """One forward call: Tq new positions starting at `start`, attending to Tk = start + Tq keys.

    Keys and values of earlier positions are in earlier calls' traces (they never change).
    """

    start: int
    ids: np.ndarray  # (Tq,)
    q_raw: np.ndarray  # (L, H, Tq, Dh) before RoPE
    q: np.ndarray  # (L, H, Tq, Dh) after RoPE
    k_raw: np.ndarray  # (L, Hkv, Tq, Dh) before RoPE
    k: np.ndarray  # (L, Hkv, Tq, Dh) after RoPE
    v: np.ndarray  # (L, Hkv, Tq, Dh)
    weights: np.ndarray  # (L, H, Tq, Tk)
    logits: np.ndarray  # (V,) of the last position: the next token's scores

    def __post_init__(self) -> None:
        for name in ("ids", "q_raw", "q", "k_raw", "k", "v", "weights", "logits"):
            object.__setattr__(self, name, frozen(getattr(self, name)))
        n_layers, n_heads, tq, _ = self.q.shape
        if self.weights.shape != (n_layers, n_heads, tq, self.start + tq):
            raise ValueError(
                f"weights {self.weights.shape} do not fit {tq} queries at {self.start}"
            )


def rope_turns(positions: torch.Tensor, dh: int, base: float, dtype) -> torch.Tensor:
    """cos + i sin, (T, Dh/2) complex, of the angles pos * base^(-2i/Dh): computed in float32
    (as transformers does), cos and sin cast to the model's dtype. Once per forward, shared by
    layers."""
    exponents = torch.arange(0, dh, 2, device=positions.device, dtype=torch.float32) / dh
    inv_freq = 1.0 / base**exponents  # (Dh/2,)
    angle = positions.to(torch.float32)[:, None] * inv_freq[None, :]  # (T, Dh/2)
    return torch.complex(angle.cos().to(dtype), angle.sin().to(dtype))


def rope(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate each adjacent pair (x[2i], x[2i+1]) of x (..., T, Dh) by its angle (rope_turns).

    A pair read as the complex number x[2i] + i x[2i+1], times cos + i sin, is the rotation
    (x[2i] cos - x[2i+1] sin, x[2i] sin + x[2i+1] cos): one complex product instead of four
    real ones, a difference and a sum (on CPU the same numbers bit for bit, 4-6x faster a call).
    """
    pairs = torch.view_as_complex(x.unflatten(-1, (x.shape[-1] // 2, 2)))  # (..., T, Dh/2)
    return torch.view_as_real(pairs * turns).flatten(-2)


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Layer(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.c = c
        kv = c.kv_heads * c.head_width
        self.attn_norm = RMSNorm(c.width, c.eps)
        self.q = nn.Linear(c.width, c.width, bias=False)
        self.k = nn.Linear(c.width, kv, bias=False)
        self.v = nn.Linear(c.width, kv, bias=False)
        self.out = nn.Linear(c.width, c.width, bias=False)
        self.ffn_norm = RMSNorm(c.width, c.eps)
        self.gate = nn.Linear(c.width, c.ffn, bias=False)
        self.up = nn.Linear(c.width, c.ffn, bias=False)
        self.down = nn.Linear(c.ffn, c.width, bias=False)

    def forward(self, x, turns, k_raw_past, k_past, v_past, ablation=None, index=0):
        c, tq = self.c, x.shape[0]
        h = self.attn_norm(x)  # (Tq, D)
        q_raw = self.q(h).view(tq, c.heads, c.head_width).transpose(0, 1)  # (H, Tq, Dh)
        k_raw = self.k(h).view(tq, c.kv_heads, c.head_width).transpose(0, 1)  # (Hkv, Tq, Dh)
        v = self.v(h).view(tq, c.kv_heads, c.head_width).transpose(0, 1)  # (Hkv, Tq, Dh)
        q = rope(q_raw, turns)  # (H, Tq, Dh)
        k = rope(k_raw, turns)  # (Hkv, Tq, Dh)
        k_raw_all = torch.cat((k_raw_past, k_raw), dim=1)  # (Hkv, Tk, Dh)
        k_all = torch.cat((k_past, k), dim=1)  # (Hkv, Tk, Dh)
        v_all = torch.cat((v_past, v), dim=1)  # (Hkv, Tk, Dh)
        # GQA: query head h reads key/value head h // group
        steps = attention.heads(
            q,
            k_all.repeat_interleave(c.group, dim=0),  # (H, Tk, Dh)
            v_all.repeat_interleave(c.group, dim=0),  # (H, Tk, Dh)
            causal=True,
        )
        context = steps.context if ablation is None else ablation.apply(index, steps.context)
        context = context.transpose(0, 1).reshape(tq, c.width)  # (Tq, D)
        x = x + self.out(context)
        h = self.ffn_norm(x)
        x = x + self.down(F.silu(self.gate(h)) * self.up(h))  # (Tq, D)
        return x, (q_raw, q, k_raw_all, k_all, v_all, steps.weights)


class Llama(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.config = c
        self.embed = loading.table(c.vocab, c.width)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.width, c.eps)

    def empty_cache(self) -> Cache:
        c, weight = self.config, self.embed.weight
        empty = torch.zeros((c.kv_heads, 0, c.head_width), device=weight.device, dtype=weight.dtype)
        return Cache(*((empty,) * c.layers,) * 3)

    @torch.inference_mode()
    def forward(
        self, ids, cache: Cache | None = None, ablation=None
    ) -> tuple[torch.Tensor, Cache, DecoderTrace]:
        """(logits (Tq, V), the cache grown by Tq positions, trace) of the new ids (Tq,);
        `ablation` (attnviz.ablation.Ablation) switches heads off before the output projection."""
        cache = cache or self.empty_cache()
        device = self.embed.weight.device
        ids = torch.as_tensor(np.asarray(ids, dtype=np.int64), device=device)  # (Tq,)
        start, tq = cache.length, len(ids)
        if not (tq > 0 and start + tq <= self.config.context):
            raise ValueError(f"{start + tq} positions; this model reads 1 to {self.config.context}")
        positions = torch.arange(start, start + tq, device=device)  # (Tq,)
        c, dtype = self.config, self.embed.weight.dtype
        turns = rope_turns(positions, c.head_width, c.rope_base, dtype)  # (Tq, Dh/2) complex
        x = self.embed(ids)  # (Tq, D)
        parts = []
        for i, layer in enumerate(self.layers):
            x, part = layer(x, turns, cache.k_raw[i], cache.k[i], cache.v[i], ablation, i)
            parts.append(part)
        logits = F.linear(self.norm(x), self.embed.weight)  # (Tq, V) tied embeddings
        q_raw, q, k_raw, k, v, weights = zip(*parts, strict=True)
        trace = DecoderTrace(
            start=start,
            ids=to_numpy(ids),
            q_raw=to_numpy(torch.stack(q_raw)),  # (L, H, Tq, Dh)
            q=to_numpy(torch.stack(q)),  # (L, H, Tq, Dh)
            k_raw=to_numpy(torch.stack(k_raw)[:, :, start:]),  # (L, Hkv, Tq, Dh)
            k=to_numpy(torch.stack(k)[:, :, start:]),  # (L, Hkv, Tq, Dh)
            v=to_numpy(torch.stack(v)[:, :, start:]),  # (L, Hkv, Tq, Dh)
            weights=to_numpy(torch.stack(weights)),  # (L, H, Tq, Tk)
            logits=to_numpy(logits[-1]),  # (V,)
        )
        return logits, Cache(k_raw, k, v), trace


@dataclass(frozen=True, eq=False)
class Decoder:
    """The tokenizer and the network: what the page, the CLI and the benchmarks load."""

    tokenizer: ByteBPE
    net: Llama

    @property
    def config(self) -> LlamaConfig:
        return self.net.config


def load() -> Decoder:
    """SmolLM2-135M-Instruct from its GGUF; raises loading.ModelMissing if not installed."""
    from attnviz.loading.gguf_reader import CONTROL, build_tokenizer, read_llama

    source = loading.MODELS["smollm2"]
    gguf = read_llama(loading.package_file("smollm2", source.files[0]))
    h = gguf.header
    # the header's hyperparameters under the same names (it also has rope_dims, checked below)
    config = LlamaConfig(**{f.name: getattr(h, f.name) for f in fields(LlamaConfig)})
    if h.rope_dims != config.head_width:
        raise ValueError(f"RoPE over {h.rope_dims} of {config.head_width} dims is not supported")
    names = {
        "attn_norm.weight": "attn_norm.weight",
        "attn_q.weight": "q.weight",
        "attn_k.weight": "k.weight",
        "attn_v.weight": "v.weight",
        "attn_output.weight": "out.weight",
        "ffn_norm.weight": "ffn_norm.weight",
        "ffn_gate.weight": "gate.weight",
        "ffn_up.weight": "up.weight",
        "ffn_down.weight": "down.weight",
    }
    state = {
        "embed.weight": gguf.tensors["token_embd.weight"],
        "norm.weight": gguf.tensors["output_norm.weight"],
    }
    for i in range(config.layers):
        for theirs, ours in names.items():
            state[f"layers.{i}.{ours}"] = gguf.tensors[f"blk.{i}.{theirs}"]
    state = {name: torch.from_numpy(a).to(loading.DTYPE) for name, a in state.items()}
    net = loading.assemble(lambda: Llama(config), state)
    tokenizer = ByteBPE(
        tok=build_tokenizer(gguf),
        chat_template=gguf.chat_template,
        bos=gguf.bos,
        eos=gguf.eos,
        special=frozenset(np.flatnonzero(gguf.token_types == CONTROL).tolist()),
    )
    return Decoder(tokenizer, net.to(device=loading.pick_device(), dtype=loading.DTYPE).eval())
