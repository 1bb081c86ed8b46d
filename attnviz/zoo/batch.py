"""A step of many sequences (zoo/llama.py): their keys and values, and their attention.

Every sequence's keys (after RoPE) and values are a slot of one `Pool` (its `Cache`). A step's
`Batch` sorts its sequences: those that read one new token attend in one product
(`attend_newest`), the prompts in another (`attend_prompts`), each padded to the longest with
weight 0 on the padding, so each sequence's weights and context are those of `attend` on its own
keys; the rest (a cache in a pool of its own, several new tokens after earlier ones) attend one
at a time (`attend`). Every torch call from Python lets go of the GIL and takes it back, and
beside a page's Python each retake waits: the batched products are TorchScript functions
(`script`), so that a step of the engine is one call (`llama_layer.batched`, bench_gil).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from math import inf
from typing import NamedTuple

import torch
from torch import Tensor


def script(fn: Callable) -> Callable:
    """`torch.jit.script`: the function runs as one torch call, which lets go of the GIL once
    instead of at each of its operations (see `llama_layer.batched`). TorchScript is deprecated
    in this torch, which says so at every use; its replacements compile C++ at run time, which
    a machine without a compiler cannot, so the warning is silenced here, and only here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "`torch.jit.script` is deprecated", DeprecationWarning)
        return torch.jit.script(fn)


class Pool:
    """Keys (after RoPE) and values of many sequences, every layer, one tensor each: slot s holds
    one sequence (its `Cache`), so a decoding step reads the keys of every sequence that reads one
    new token in one product (`attend_newest`). Grows when needed: doubling its positions, and
    its slots up to `most`, one at a time past it. The caller owns it (the engine: one for the
    server, renewed when idle); the model writes a forward's new positions into it and keeps
    nothing."""

    def __init__(self, shape: tuple[int, int, int], dtype, device, most: int | None = None):
        """shape: (layers L, key/value heads Hkv, head width Dh); most: slots (see `cache`)."""
        self.shape, self.dtype, self.device, self.most = shape, dtype, device, most
        self.k, self.v = self._zeros(0, 0), self._zeros(0, 0)  # (L, S, Hkv, capacity, Dh)
        self.free: list[int] = []  # slots not in use; the next one taken is the last

    def _zeros(self, slots: int, capacity: int) -> torch.Tensor:
        layers, kv_heads, width = self.shape
        shape = (layers, slots, kv_heads, capacity, width)
        return torch.zeros(shape, dtype=self.dtype, device=self.device)

    @property
    def slots(self) -> int:
        return self.k.shape[1]

    @property
    def capacity(self) -> int:
        return self.k.shape[3]

    def _grow(self, slots: int, capacity: int) -> None:
        k, v = self._zeros(slots, capacity), self._zeros(slots, capacity)
        k[:, : self.slots, :, : self.capacity] = self.k
        v[:, : self.slots, :, : self.capacity] = self.v
        self.free = [*range(slots - 1, self.slots - 1, -1), *self.free]
        self.k, self.v = k, v

    def reserve(self, length: int) -> None:
        """Room for `length` positions in every slot."""
        if length > self.capacity:
            self._grow(self.slots, max(length, 2 * self.capacity))

    def cache(self, capacity: int = 0) -> Cache:
        """A free slot, as a new sequence's cache with room for `capacity` positions."""
        if not self.free:
            slots = max(1, 2 * self.slots)
            if self.most:
                slots = min(slots, max(self.most, self.slots + 1))
            self._grow(slots, self.capacity)
        self.reserve(capacity)
        return Cache(self, self.free.pop())

    def release(self, cache: Cache) -> None:
        """The slot of a sequence that ended: free for the next one."""
        self.free.append(cache.slot)


class Cache:
    """One sequence's keys and values so far (`length` positions), every layer: its slot of a
    `Pool`, read and written in place."""

    def __init__(self, pool: Pool, slot: int) -> None:
        self.pool, self.slot, self.length = pool, slot, 0

    @property
    def k(self) -> torch.Tensor:
        return self.pool.k[:, self.slot]  # (L, Hkv, capacity, Dh), a view

    @property
    def v(self) -> torch.Tensor:
        return self.pool.v[:, self.slot]  # (L, Hkv, capacity, Dh), a view

    def reserve(self, length: int) -> None:
        self.pool.reserve(length)


def attend(q, k, v, start: int, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One sequence's causal attention, every query head at once: (weights (H, Tq, Tk),
    per-head context (Tq, H, Dh)) of its Tq new queries q (Tq, H, Dh) at positions start..,
    over its keys and values k, v (Hkv, Tk, Dh), Tk = start + Tq.

    GQA without copying the keys: query head h = kv * group + g reads key/value head kv, so the
    query heads of one key/value head are stacked as rows, (Hkv, group * Tq, Dh), and the scores
    are one product per key/value head.
    """
    tq, n_heads, dh = q.shape
    n_kv, tk, _ = k.shape
    rows = (q * dh**-0.5).transpose(0, 1).reshape(n_kv, group * tq, dh)  # (Hkv, G*Tq, Dh)
    scaled = rows @ k.transpose(1, 2)  # (Hkv, G*Tq, Tk)
    if tq > 1:  # new query i sees keys 0..start+i (a single new query sees every key)
        later = torch.ones((tq, tk), dtype=torch.bool, device=q.device).triu(start + 1)
        scaled = scaled.view(n_kv, group, tq, tk).masked_fill(later, -inf)
    weights = torch.softmax(scaled, dim=-1).reshape(n_heads, tq, tk)  # (H, Tq, Tk)
    context = weights.view(n_kv, group * tq, tk) @ v  # (Hkv, G*Tq, Dh)
    return weights, context.view(n_heads, tq, dh).transpose(0, 1)  # (Tq, H, Dh)


SMALL = 128 * 256  # scores (Tq x Tk) per head up to this size: one sequence's attention is small
THREADS = torch.get_num_threads()  # the process's count, read before any block changed it


@contextmanager
def one_thread(small: bool) -> Iterator[None]:
    """Small operations on one thread: a parallel region's start and barrier cost more than a
    decoding step's attention itself (measured on a 2-core box with other work: softmax of
    3 x 3 x 13 numbers 1.3-2.6 ms on 2 threads, 14-52 us on one). torch's thread count is each
    thread's own (a thread started meanwhile begins at the count set last), so a block sets its
    own thread's and gives it back to the process's count: blocks of two threads (the engine, a
    page's forward) overlap without one leaving the other on one thread."""
    if not small:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(THREADS)


@dataclass(frozen=True)
class Row:
    """Where one sequence of a batch is: its cache, its first new position, and its Tq rows in
    the batch's flattened new positions."""

    cache: Cache
    start: int
    offset: int
    length: int  # Tq

    @property
    def rows(self) -> slice:
        return slice(self.offset, self.offset + self.length)


class NewestAt(NamedTuple):
    """Where the sequences of `Newest` are, as tensors (a TorchScript function's argument)."""

    slots: Tensor  # (B,) their slots in the pool
    starts: Tensor  # (B,) their new positions
    offsets: Tensor  # (B,) their rows in the batch's flattened new positions
    later: Tensor  # (B, T) keys past each one's own position, T = the longest's keys


@dataclass(frozen=True)
class Newest:
    """The sequences of a batch that read one new token each, their caches in one pool: their
    attention is one product for all of them (`attend_newest`) instead of one per sequence."""

    pool: Pool
    members: tuple[int, ...]  # their places in the batch
    at: NewestAt


class PromptsAt(NamedTuple):
    """Where the prompts of `Prompts` are, as tensors (a TorchScript function's argument)."""

    gather: Tensor  # (B, T) each one's rows in the batch's new positions (padding: row 0)
    rows: Tensor  # (N,) every prompt token's row in the batch, prompt after prompt
    slots: Tensor  # (N,) its prompt's slot in the pool
    positions: Tensor  # (N,) its position
    padded: Tensor  # (N,) its place in the padded (B * T)
    hidden: Tensor  # (B, T, T) keys a query must not see: later ones, and the padding


@dataclass(frozen=True)
class Prompts:
    """The prompts of a batch (read from position 0), their caches in one pool: their attention
    is one product for all of them (`attend_prompts`), each padded to the longest, T."""

    pool: Pool
    members: tuple[int, ...]  # their places in the batch
    lengths: tuple[int, ...]  # their Tq
    at: PromptsAt


@dataclass(frozen=True)
class Batch:
    """A step's sequences: `newest` and `prompts` batched, the others (`alone`: a sequence in a
    pool of its own, or several new tokens after earlier ones) one at a time."""

    rows: tuple[Row, ...]
    alone: tuple[int, ...]
    newest: Newest | None
    prompts: Prompts | None

    @staticmethod
    def of(rows: Sequence[Row]) -> Batch:
        pool = rows[0].cache.pool if rows else None  # the engine's: every sequence's
        single = tuple(i for i, r in enumerate(rows) if r.length == 1 and r.cache.pool is pool)
        fresh = tuple(
            i for i, r in enumerate(rows) if r.length > 1 and not r.start and r.cache.pool is pool
        )
        alone = tuple(i for i in range(len(rows)) if i not in single and i not in fresh)
        newest, prompts = Batch._newest(rows, single, pool), Batch._prompts(rows, fresh, pool)
        return Batch(tuple(rows), alone, newest, prompts)

    @staticmethod
    def _newest(rows: Sequence[Row], members: tuple[int, ...], pool: Pool) -> Newest | None:
        if not members:
            return None
        device = pool.k.device
        starts = torch.tensor([rows[i].start for i in members], device=device)
        keys = torch.arange(int(starts.max()) + 1, device=device)
        at = NewestAt(
            torch.tensor([rows[i].cache.slot for i in members], device=device),
            starts,
            torch.tensor([rows[i].offset for i in members], device=device),
            keys[None, :] > starts[:, None],
        )
        return Newest(pool, members, at)

    @staticmethod
    def _prompts(rows: Sequence[Row], members: tuple[int, ...], pool: Pool) -> Prompts | None:
        if not members:
            return None
        lengths = tuple(rows[i].length for i in members)
        t = max(lengths)
        gather = torch.zeros((len(members), t), dtype=torch.int64)
        for b, i in enumerate(members):
            gather[b, : lengths[b]] = torch.arange(rows[i].offset, rows[i].offset + lengths[b])
        places = torch.arange(t)
        padding = places[None, :] >= torch.tensor(lengths)[:, None]  # (B, T)
        hidden = (places[None, :] > places[:, None])[None] | padding[:, None, :]  # (B, T, T)
        real = ~padding.flatten()  # (B * T,)
        slots = torch.tensor([rows[i].cache.slot for i in members])
        device = pool.k.device
        at = PromptsAt(
            gather.to(device),
            rows=gather.flatten()[real].to(device),
            slots=slots.repeat_interleave(torch.tensor(lengths)).to(device),
            positions=places.repeat(len(members))[real].to(device),
            padded=torch.flatten(torch.nonzero(real)).to(device),
            hidden=hidden.to(device),
        )
        return Prompts(pool, members, lengths, at)


@script
def attend_newest(
    q: Tensor, k: Tensor, v: Tensor, pool_k: Tensor, pool_v: Tensor, at: NewestAt, group: int
) -> tuple[Tensor, Tensor]:
    """One layer's attention of the sequences at `at` (`Newest`), each one's new query over its
    own keys, as one product: the keys of all of them padded to the longest's, the padding's
    scores -inf (weight 0), so each one's weights and context are those of `attend` on its own
    keys. Writes their new keys and values k, v (N, Hkv, Dh) into their slots of the layer's
    pool_k, pool_v (S, Hkv, capacity, Dh); returns (weights (B, H, T), context (B, H, Dh)) of
    their queries in q (N, H, Dh)."""
    pool_k[at.slots, :, at.starts] = k[at.offsets]  # (B, Hkv, Dh)
    pool_v[at.slots, :, at.starts] = v[at.offsets]
    b, t = at.later.shape
    n_heads, dh = q.shape[1], q.shape[2]
    keys = pool_k[:, :, :t].index_select(0, at.slots)  # (B, Hkv, T, Dh)
    values = pool_v[:, :, :t].index_select(0, at.slots)
    rows = (q[at.offsets] * dh**-0.5).view(b, keys.shape[1], group, dh)  # (B, Hkv, G, Dh)
    scaled = (rows @ keys.transpose(-1, -2)).masked_fill(at.later[:, None, None], -inf)
    weights = torch.softmax(scaled, dim=-1)  # (B, Hkv, G, T)
    context = weights @ values  # (B, Hkv, G, Dh)
    return weights.view(b, n_heads, t), context.view(b, n_heads, dh)


@script
def attend_prompts(
    q: Tensor, k: Tensor, v: Tensor, pool_k: Tensor, pool_v: Tensor, at: PromptsAt, group: int
) -> tuple[Tensor, Tensor]:
    """One layer's attention of the prompts at `at` (`Prompts`), each over its own keys, as one
    product: prompts padded to the longest, the padding's keys and every later key -inf (weight
    0), so each one's weights and context are those of `attend` on its own. Writes their keys
    and values k, v (N, Hkv, Dh) into their slots of the layer's pool_k, pool_v; returns
    (weights (B, H, T, T), context (N', H, Dh) of their tokens in the order of `at.rows`)."""
    pool_k[at.slots, :, at.positions] = k[at.rows]  # (N', Hkv, Dh)
    pool_v[at.slots, :, at.positions] = v[at.rows]
    b, t = at.gather.shape
    n_heads, dh = q.shape[1], q.shape[2]
    n_kv = k.shape[1]
    scaled_q = (q[at.gather] * dh**-0.5).transpose(1, 2)  # (B, H, T, Dh)
    keys = k[at.gather].transpose(1, 2)  # (B, Hkv, T, Dh)
    values = v[at.gather].transpose(1, 2)
    scaled = scaled_q.reshape(b, n_kv, group * t, dh) @ keys.transpose(-1, -2)  # (B, Hkv, G*T, T)
    scaled = scaled.view(b, n_kv, group, t, t).masked_fill(at.hidden[:, None, None], -inf)
    weights = torch.softmax(scaled, dim=-1).view(b, n_heads, t, t)  # (B, H, T, T)
    context = weights.view(b, n_kv, group * t, t) @ values  # (B, Hkv, G*T, Dh)
    context = context.view(b, n_heads, t, dh).transpose(1, 2).reshape(b * t, n_heads, dh)
    return weights, context[at.padded]
