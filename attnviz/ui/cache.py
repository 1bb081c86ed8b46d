"""The UI's one cache layer: models by name (`get_model`), small traces (`get_trace`), and one
server-wide cache for large traces and what is computed from them, bounded by bytes.

`st.cache_resource(max_entries=N)` counts entries, but a trace's size runs from 0.5 MB
(MiniLM, 16 tokens) to 190 MB (E5, 512 tokens): four entries shared by a class of 20 students
meant a forward for almost every interaction, and 64 entries could hold 12 GB. Here every entry
is weighed (the bytes of its numpy arrays) and the least recently used entries leave once the
total passes `LIMIT` (`ATTNVIZ_CACHE_MB`, default 1024 MB per server process): ~40 students'
traces of up to ~200 E5 tokens each, or five traces of 512, plus the sample photos.

Entries are read-only (frozen traces, read-only arrays), so sharing them between sessions and
threads is safe; only the bookkeeping takes the lock. Two sessions asking for the same missing
key at once both compute it, and one result is kept.

Over a lecture the server also gives memory back, through a sweeper thread (`sweep`): an entry
nobody has read for `IDLE` seconds (`ATTNVIZ_CACHE_IDLE_S`, default 300) leaves (a student's
own text, an uploaded photo, once their tab is closed); the sessions of closed tabs past
Streamlit's `server.disconnectedSessionTTL` (120 s) are shut down (each holds its page's
variables, a trace among them, and its uploads; Streamlit drops them only when another
session arrives, after the last student never, and without shutting them down); once no
session is left, the objects frozen with a model loaded during a session are collected (see
`sweep`); and the freed memory goes back to the system. After a lecture the server returns
to about its warmed size (benchmarks/soak.py, BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import dataclasses
import gc
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import streamlit as st

from attnviz.zoo import registry

LIMIT = int(float(os.environ.get("ATTNVIZ_CACHE_MB", "1024")) * 2**20)
IDLE = float(os.environ.get("ATTNVIZ_CACHE_IDLE_S", "300"))


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
    """A least-recently-used map whose entries together stay under `limit` bytes, and from which
    `expire()` drops the entries unread for `idle` seconds."""

    def __init__(self, limit: int, idle: float = IDLE, clock=time.monotonic) -> None:
        self.limit, self.idle, self._clock = limit, idle, clock
        # key -> (value, bytes); least recently read first. _read: key -> when it was last read
        self._entries: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._read: dict[Hashable, float] = {}
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
                self._read[key] = self._clock()
                return self._entries[key][0]
        value = make()
        size = nbytes(value)
        with self._lock:
            if key in self._entries:  # another thread made it meanwhile: keep one
                return self._entries[key][0]
            if size <= self.limit:  # something larger than the whole cache is not kept
                self._entries[key] = (value, size)
                self._read[key] = self._clock()
                self._total += size
                while self._total > self.limit:
                    self._drop_oldest()
        return value

    def _drop_oldest(self) -> int:
        key, (_, size) = self._entries.popitem(last=False)
        del self._read[key]
        self._total -= size
        return size

    def expire(self) -> int:
        """Drop the entries unread for `idle` seconds; the bytes they held."""
        freed = 0
        with self._lock:
            deadline = self._clock() - self.idle
            while self._entries and self._read[next(iter(self._entries))] <= deadline:
                freed += self._drop_oldest()
        return freed


def release_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; elsewhere a no-op).

    A trace's arrays are freed when it leaves, but glibc keeps the pages of a heap that once
    held them, and the server's resident memory would stay at its peak.
    """
    name = ctypes.util.find_library("c")
    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(name).malloc_trim(0)


def reap_closed_sessions() -> bool:
    """Shut down the closed tabs' sessions whose time is up; True when it shut some down and
    no session is left, open or closed.

    Streamlit keeps them in a TTL cache that reaps expired entries only when it is written to
    or asked its length (streamlit/runtime/memory_session_storage.py), so after the last
    student it never does; and it drops them without `shutdown()`, which is what releases a
    session's uploaded files (held by the upload manager under the session's id, not by the
    session), its media files and its session caches. Here the expired ones are taken out under
    the session manager's lock and shut down, as Streamlit shuts down a session closed for good
    (`WebsocketSessionManager.close_session`). Private names: a Streamlit that moves them is
    caught by tests/test_cache.py.
    """
    from streamlit import runtime

    if not runtime.exists():
        return False
    manager = runtime.get_instance()._session_mgr
    with manager._storage_lock:
        expired = manager._session_storage._cache.expire()
    for _, info in expired:
        info.session.shutdown()
    with manager._storage_lock:
        left = manager._active_session_info_by_id or len(manager._session_storage._cache)
    return bool(expired) and not left


def sweep(cache: ByteCache, every: float) -> None:
    """Forever, every `every` seconds: expire idle entries, drop closed sessions, collect what
    they held (cycles included: no collection runs while nobody uses the server) and give the
    memory back. A collection took 0.01-0.3 s on a shared 2-core machine.

    A model first loaded during a session (`resident`) froze that session's objects with it,
    and the collector never frees a frozen cycle: a student's session, with a 120 MB E5 trace
    or an uploaded photo's 36 MB, stayed for the life of the server (benchmarks/soak.py). Once
    the last session is gone, everything is unfrozen for one collection, and what survives (the
    models, the server's own objects) is frozen again.
    """
    while True:
        time.sleep(every)
        sweep_once(cache)


def sweep_once(cache: ByteCache) -> None:
    cache.expire()
    alone = reap_closed_sessions()
    if alone:
        gc.unfreeze()
    gc.collect()
    if alone:
        gc.freeze()
    release_memory()


@st.cache_resource(show_spinner=False)
def shared() -> ByteCache:
    """The server's one ByteCache (st.cache_resource: made once, shared by every session), and
    its sweeper thread."""
    made = ByteCache(LIMIT)
    every = min(60.0, max(IDLE / 4, 1.0))
    threading.Thread(target=sweep, args=(made, every), name="cache-sweeper", daemon=True).start()
    return made


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
def get_model(name: str) -> Any:
    """Model `name` of the registry, loaded once per server and shared by every user."""
    return resident(registry.family(name).load(name))


@st.cache_resource(max_entries=64, show_spinner=False)
def get_trace(name: str, value: Any) -> Any:
    """The trace of one prepared input (a text, a digit's pixels) through model `name`.

    For the small traces (seq2seq, classifiers, digits: kilobytes); the text and image traces,
    up to 190 MB each, go through `shared()` instead. Frozen and read-only, so one object
    serves every session (st.cache_data would pickle it on every hit).
    """
    return registry.family(name).run(get_model(name), name, value)


@st.cache_data(show_spinner=False)
def held_out_digits(count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` pictures spread over the held-out digits, and their labels."""
    from attnviz.loading import data

    images, labels = data.digits("held_out")
    step = len(images) // count
    return images[::step][:count], labels[::step][:count]


@st.cache_resource(show_spinner=False)
def get_engine():
    """The server's one decoding engine (attnviz/engine.py): every session's generation runs in
    its batches."""
    from attnviz.engine import Engine

    decoder = get_model("smollm2")
    return Engine(decoder.net, decoder.tokenizer.eos)


@st.cache_resource(show_spinner=False, max_entries=4)
def default_generation(language: str, new: int):
    """The example generation (the sample prompt, greedy, `new` tokens) a first visit of the
    generate page opens on: made once per server and language, shared read-only by every
    session that has not generated yet."""
    from attnviz import generation, i18n

    prompt = get_model("smollm2").prompt(i18n.t("generate.sample_prompt", language))
    engine = get_engine()
    return engine.result(engine.submit(prompt, generation.Sampling(), new))
