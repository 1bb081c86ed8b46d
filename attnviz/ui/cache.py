"""One server-wide cache for traces and what is computed from them, bounded by bytes.

`st.cache_resource(max_entries=N)` counts entries, but a trace's size runs from 0.5 MB
(MiniLM, 16 tokens) to 190 MB (E5, 512 tokens): four entries shared by a class of 20 students
meant a forward for almost every interaction, and 64 entries could hold 12 GB. Here every entry
is weighed (the bytes of its numpy arrays) and the least recently used entries leave once the
total passes `LIMIT` (`ATTNVIZ_CACHE_MB`, default 1024 MB per server process): ~40 students'
traces of up to ~200 E5 tokens each, or five traces of 512, plus the sample photos.

Entries are read-only (frozen traces, read-only arrays), so sharing them between sessions and
threads is safe; only the bookkeeping takes the lock. Two sessions asking for the same missing
key at once both compute it, and one result is kept.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import streamlit as st

LIMIT = int(float(os.environ.get("ATTNVIZ_CACHE_MB", "1024")) * 2**20)


def nbytes(value: Any, seen: set | None = None) -> int:
    """Bytes held by the numpy arrays in `value` (dataclasses, tuples, lists, dicts walked).

    Views of one buffer count once (a trace's layers share one `allowed` mask).
    """
    seen = set() if seen is None else seen
    if isinstance(value, np.ndarray):
        where = (value.__array_interface__["data"][0], value.nbytes)
        if where in seen:
            return 0
        seen.add(where)
        return value.nbytes
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(nbytes(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    if isinstance(value, dict):
        return sum(nbytes(v, seen) for v in value.values())
    if isinstance(value, list | tuple):
        return sum(nbytes(v, seen) for v in value)
    return 0


class ByteCache:
    """A least-recently-used map whose entries together stay under `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        return self._total

    def __len__(self) -> int:
        return len(self._entries)

    def has(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The value cached under `key`, made by `make()` on a miss (its exceptions pass)."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key][0]
        value = make()
        size = nbytes(value)
        with self._lock:
            if key in self._entries:  # another thread made it meanwhile: keep one
                return self._entries[key][0]
            if size <= self.limit:  # something larger than the whole cache is not kept
                self._entries[key] = (value, size)
                self._total += size
                while self._total > self.limit:
                    _, (_, dropped) = self._entries.popitem(last=False)
                    self._total -= dropped
        return value


@st.cache_resource(show_spinner=False)
def shared() -> ByteCache:
    """The server's one ByteCache (st.cache_resource: made once, shared by every session)."""
    return ByteCache(LIMIT)


def resident(model: Any) -> Any:
    """Take a just-loaded model (and everything else alive now: modules, catalogs) out of the
    garbage collector's sight with `gc.freeze()`, once per load.

    Streamlit's collection after every script run is off (`runner.postScriptGC = false` in
    .streamlit/config.toml): it walked every live object, ~78 % of a rerun's CPU. Python's own
    collections still run; frozen objects are the bulk of what they would walk. A collection
    first, so no garbage is frozen with them.
    """
    gc.collect()
    gc.freeze()
    return model


@st.cache_resource(show_spinner=False)
def decoder():
    """SmolLM2-135M (zoo.llama.load), loaded once per server."""
    from attnviz.zoo import llama

    return resident(llama.load())
