"""A LLaMA-style decoder in torch (SmolLM2-135M), with a KV cache and every head's trace.

    x = embed[ids]
    for each layer:
        h = RMSNorm(x)
        q, k, v = h Wq, h Wk, h Wv            9 query heads, 3 key/value heads of Dh = 64
        q, k = RoPE(q), RoPE(k)               turn pairs (2i, 2i+1) by pos * base^(-2i/Dh)
        k, v = cache + (k, v)                 keys and values of all earlier positions
        context = softmax(q kᵀ / √Dh, causal) v        each kv head serves 3 query heads (GQA)
        x = x + context Wo
        x = x + W_down(SiLU(W_gate RMSNorm(x)) * W_up RMSNorm(x))     SwiGLU
    logits = RMSNorm(x) embedᵀ                tied embeddings

The weights stay in the GGUF's layout (see loading/gguf_reader.py), which is why RoPE rotates
adjacent pairs here. `step` runs many sequences at once (the engine's batch, attnviz/engine.py):
their new positions are flattened into one (N, D) matrix, so every weight is read once for all of
them. Attention reads each sequence's own keys, the newest tokens in one product and the prompts
in another (zoo/batch.py), so each sequence's numbers are those of a batch of one.
`forward(ids, cache)` is that batch of one. Caches belong to the caller (written in place); the
model, shared by every session, stores nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from attnviz import loading
from attnviz.attention import to_numpy
from attnviz.bpe import ByteBPE, clean_prompt
from attnviz.errors import InputError
from attnviz.loading.gguf_reader import LlamaHeader
from attnviz.trace import DecoderTrace
from attnviz.zoo import registry
from attnviz.zoo.batch import (
    SMALL,
    Batch,
    Cache,
    Pool,
    Row,
    attend,
    one_thread,
)
from attnviz.zoo.llama_layer import Weights, attend_pooled, batched, finish, project, rope_turns

MAX_PROMPT = 128  # prompt tokens kept (the last ones, when a prompt is longer)


@dataclass(frozen=True)
class LlamaConfig(LlamaHeader):
    """The GGUF's hyperparameters (gguf_reader.LlamaHeader), checked for this forward."""

    def __post_init__(self) -> None:
        if self.width % self.heads or self.heads % self.kv_heads:
            raise ValueError("width must split into heads, and heads into key/value heads")
        if self.head_width % 2:
            raise ValueError("RoPE needs an even head width")
        if self.rope_dims != self.head_width:
            raise ValueError(
                f"RoPE over {self.rope_dims} of {self.head_width} dims is not supported"
            )

    @property
    def head_width(self) -> int:  # Dh
        return self.width // self.heads

    @property
    def group(self) -> int:
        """Query heads per key/value head: query head h reads key/value head h // group."""
        return self.heads // self.kv_heads


class RMSNorm(nn.Module):
    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x * rsqrt(mean(x²) + eps) * weight: the final norm (the layers' norms are in
        `llama_layer.project` and `finish`, which read `weight`)."""
        return F.rms_norm(x, (x.shape[-1],), self.weight, self.eps)


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

    def tensors(self) -> list[Tensor]:
        """The layer's weights in the order `project` and `finish` read them."""
        parts = (self.attn_norm, self.q, self.k, self.v, self.out, self.ffn_norm, self.gate,
                 self.up, self.down)  # fmt: skip
        return [part.weight for part in parts]

    def forward(self, x, turns, batch: Batch, index: int, ablation=None):
        """x (N, D): the new positions of every sequence of the batch, one after another. The
        weights are read once for all N rows; attention is one product for the sequences that
        read one new token, one for the prompts, and per sequence for the rest (zoo/batch.py).
        A step without the rest nor ablation runs every layer in one call instead (`batched`).
        Returns (x, (q_raw, q, k_raw, k, v), `Weights`).
        `ablation` (attnviz.ablation.Ablation) switches heads off before the output projection."""
        c, mine = self.c, self.tensors()
        q_raw, q, k_raw, k, v = project(x, turns, mine, c.heads, c.kv_heads, c.eps)
        context = torch.empty_like(q)  # (N, H, Dh)
        weights = Weights({}, None, None)
        with one_thread(all(r.length * (r.start + r.length) <= SMALL for r in batch.rows)):
            for i in batch.alone:
                row = batch.rows[i]
                end = row.start + row.length
                keys, values = row.cache.k[index], row.cache.v[index]  # (Hkv, capacity, Dh)
                keys[:, row.start : end] = k[row.rows].transpose(0, 1)
                values[:, row.start : end] = v[row.rows].transpose(0, 1)
                weights.alone[i], context[row.rows] = attend(
                    q[row.rows], keys[:, :end], values[:, :end], row.start, c.group
                )
            pool = batch.rows[0].cache.pool  # every sequence of newest and prompts is in it
            weights.newest, weights.prompts = attend_pooled(
                q, k, v, context, pool.k[index], pool.v[index],
                batch.newest and batch.newest.at, batch.prompts and batch.prompts.at, c.group,
            )  # fmt: skip
        # context (N, H, Dh): every head's context, the one place before o_proj merges the heads
        if ablation is not None:
            context = ablation.apply(index, context.transpose(0, 1)).transpose(0, 1)  # (N, H, Dh)
        return finish(x, context, mine, c.eps), (q_raw, q, k_raw, k, v), weights


class Llama(nn.Module):
    def __init__(self, c: LlamaConfig) -> None:
        super().__init__()
        self.config = c
        self.embed = loading.table(c.vocab, c.width)
        self.layers = nn.ModuleList(Layer(c) for _ in range(c.layers))
        self.norm = RMSNorm(c.width, c.eps)

    def pool(self, most: int | None = None) -> Pool:
        """An empty pool of caches for this model's sequences (growing past `most` slots one at
        a time, not doubling)."""
        c, weight = self.config, self.embed.weight
        return Pool((c.layers, c.kv_heads, c.head_width), weight.dtype, weight.device, most)

    def empty_cache(self, capacity: int = 0) -> Cache:
        """One sequence's cache, in a pool of its own."""
        return self.pool().cache(capacity)

    @torch.inference_mode()
    def forward(
        self, ids, cache: Cache | None = None, ablation=None
    ) -> tuple[torch.Tensor, Cache, DecoderTrace]:
        """(logits (Tq, V), the cache grown by Tq positions, trace) of the new ids (Tq,): a
        batch of one. A new cache when `cache` is None; else `cache` itself, written in place.
        `ablation` (attnviz.ablation.Ablation) switches heads off before the output projection."""
        cache = cache if cache is not None else self.empty_cache(len(ids))
        [(logits, trace)] = self.step([(ids, cache)], every_logit=True, ablation=ablation)
        return logits, cache, trace

    @torch.inference_mode()
    def step(
        self, batch: Sequence[tuple[object, Cache]], *, every_logit: bool = False, ablation=None
    ) -> list[tuple[torch.Tensor, DecoderTrace]]:
        """One forward of several sequences, each (new ids (Tq,), its cache): prompts and single
        new tokens, of any lengths, at any positions. Returns per sequence (the logits of its last
        position (V,), or of every new one (Tq, V) with `every_logit`; its trace) and writes its
        new keys and values into its cache."""
        c, weight = self.config, self.embed.weight
        ids = [np.asarray(i, dtype=np.int64).reshape(-1) for i, _ in batch]
        rows, offset = [], 0
        for new, (_, cache) in zip(ids, batch, strict=True):
            start, tq = cache.length, len(new)
            if not (tq > 0 and start + tq <= c.context):
                raise ValueError(f"{start + tq} positions; this model reads 1 to {c.context}")
            cache.reserve(start + tq)
            rows.append(Row(cache, start, offset, tq))
            offset += tq
        positions = np.concatenate([np.arange(r.start, r.start + r.length) for r in rows])  # (N,)
        turns = rope_turns(
            torch.from_numpy(positions).to(weight.device), c.head_width, c.rope_base, weight.dtype
        )
        x = self.embed(torch.from_numpy(np.concatenate(ids)).to(weight.device))  # (N, D)
        plan = Batch.of(rows)
        if ablation is None and not plan.alone:  # the engine's every step: one call
            pool = rows[0].cache.pool
            x, vectors, newest, prompts = batched(
                x, turns[:, None], [layer.tensors() for layer in self.layers], pool.k, pool.v,
                plan.newest and plan.newest.at, plan.prompts and plan.prompts.at,
                c.heads, c.kv_heads, c.eps,
            )  # fmt: skip
            weights = Weights({}, newest, prompts)
        else:  # layer by layer
            by_layer = []
            for i, layer in enumerate(self.layers):
                x, part, w = layer(x, turns[:, None], plan, i, ablation)  # turns (N, 1, Dh/2)
                by_layer.append((part, w))
            vectors = [torch.stack(part) for part in zip(*(p for p, _ in by_layer), strict=True)]
            weights = Weights.stack([w for _, w in by_layer])
        hidden = self.norm(x)  # (N, D)
        if not every_logit:
            hidden = hidden[[r.offset + r.length - 1 for r in rows]]  # (B, D)
        logits = F.linear(hidden, weight)  # (N or B, V) tied embeddings
        # each (L, N, H or Hkv, Dh); a sequence's part is (L, H or Hkv, Tq, Dh)
        stacked = [to_numpy(part) for part in vectors]
        every = to_numpy(logits)
        out = []
        for b, (row, mine) in enumerate(zip(rows, weights.split(plan), strict=True)):
            row.cache.length = row.start + row.length
            q_raw, q, k_raw, k, v = (a[:, row.rows].transpose(0, 2, 1, 3).copy() for a in stacked)
            trace = DecoderTrace(
                start=row.start,
                ids=ids[b].copy(),
                q_raw=q_raw,
                q=q,
                k_raw=k_raw,
                k=k,
                v=v,
                weights=mine,  # (L, H, Tq, Tk)
                logits=(every[row.rows][-1] if every_logit else every[b]).copy(),  # (V,)
            )
            out.append((logits[row.rows] if every_logit else logits[b], trace))
        return out


@dataclass(frozen=True)
class Prompt:
    ids: np.ndarray  # (P,) the ids the model reads
    dropped: int  # tokens cut from the front because the prompt was longer than MAX_PROMPT
    text: str  # what the model reads (the chat template applied when chat)


@dataclass(frozen=True, eq=False)
class Decoder:
    """The tokenizer and the network: what the page, the CLI and the benchmarks load."""

    tokenizer: ByteBPE
    net: Llama

    @property
    def config(self) -> LlamaConfig:
        return self.net.config

    def prompt(self, text: str | None, *, chat: bool = False) -> Prompt:
        """The prompt's ids; a prompt over MAX_PROMPT tokens keeps its last MAX_PROMPT."""
        text = clean_prompt(text)
        if chat:
            text = self.tokenizer.chat(text)
        ids = self.tokenizer.encode(text)
        if len(ids) == 0:
            raise InputError("error.generate_empty")
        dropped = max(0, len(ids) - MAX_PROMPT)
        return Prompt(ids[dropped:], dropped, text)


def load() -> Decoder:
    """SmolLM2-135M-Instruct from its GGUF; raises registry.ModelMissing if not installed."""
    from attnviz.loading.gguf_reader import CONTROL, build_tokenizer, read_llama

    gguf = read_llama(registry.package_file("smollm2", registry.MODELS["smollm2"].files[0]))
    config = LlamaConfig(**asdict(gguf.header))
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
