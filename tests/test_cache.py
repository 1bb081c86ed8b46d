"""The server's byte-bounded cache of traces (attnviz/ui/cache.py)."""

import gc
import threading
import weakref
from types import SimpleNamespace
from unittest.mock import Mock

import numpy as np
import pytest

from attnviz.trace import LayerTrace, ModelTrace
from attnviz.ui import cache
from attnviz.ui.cache import ByteCache, nbytes
from attnviz.zoo import registry


def array(mb: float) -> np.ndarray:
    return np.zeros(int(mb * 2**20), dtype=np.uint8)


def test_nbytes_weighs_the_arrays_of_a_trace():
    h, t, dh = 2, 3, 4
    layer = LayerTrace(
        q=np.zeros((h, t, dh), np.float32), k=np.zeros((h, t, dh), np.float32),
        v=np.zeros((h, t, dh), np.float32), weights=np.zeros((h, t, t), np.float32),
        context=np.zeros((h, t, dh), np.float32), allowed=np.ones((t, t), bool),
    )  # fmt: skip
    trace = ModelTrace(
        model="m", tokens=("a", "b", "c"), layers=(layer, layer),
        hidden=np.zeros((3, t, 8), np.float32), special=np.zeros(t, bool),
    )  # fmt: skip
    one = 4 * (4 * h * t * dh + h * t * t) + t * t
    assert nbytes(layer) == one
    # the two layers are one object here: their arrays count once
    assert nbytes(trace) == one + 4 * 3 * t * 8 + t
    shared = np.ones((t, t), bool)
    views = (shared.view(), shared.view(), shared.copy())
    assert nbytes(views) == 2 * t * t
    assert nbytes(("x", 3, [array(1)], {"a": array(2)})) == 3 * 2**20


def test_least_recently_used_entries_leave_once_the_bytes_pass_the_limit():
    cache = ByteCache(limit=10 * 2**20)
    made = []

    def make(key, mb):
        return lambda: made.append(key) or array(mb)

    cache.get("a", make("a", 4))
    cache.get("b", make("b", 4))
    cache.get("a", make("a", 4))  # a hit: "a" becomes the most recent
    assert made == ["a", "b"] and cache.total == 8 * 2**20
    cache.get("c", make("c", 4))  # 12 MB > 10: the least recent, "b", leaves
    assert len(cache) == 2 and cache.total == 8 * 2**20
    cache.get("a", make("a", 4))
    cache.get("b", make("b", 4))
    assert made == ["a", "b", "c", "b"]
    huge = cache.get("huge", make("huge", 11))  # larger than the whole cache: returned, not kept
    assert huge.nbytes == 11 * 2**20 and "huge" not in cache._entries
    assert cache.total <= cache.limit


def test_errors_are_not_cached_and_threads_share_one_entry():
    cache = ByteCache(limit=2**20)

    def fail():
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        cache.get("k", fail)
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.get("k", lambda: array(0.1))))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(cache) == 1 and all(r is results[0] for r in results)


def test_entries_unread_for_the_idle_time_leave_and_their_bytes_with_them():
    now = [0.0]
    cache = ByteCache(limit=2**30, idle=300, clock=lambda: now[0])
    cache.get("sample photo", lambda: array(2))
    cache.get("a closed tab's text", lambda: array(3))
    now[0] = 200.0
    cache.get("sample photo", lambda: pytest.fail("still cached"))  # read again: stays
    now[0] = 301.0
    assert cache.expire() == 3 * 2**20
    assert len(cache) == 1 and cache.total == 2 * 2**20
    now[0] = 500.0
    assert cache.expire() == 2 * 2**20 and len(cache) == 0 and cache.total == 0
    assert cache.get("a closed tab's text", lambda: "made again") == "made again"


@pytest.mark.skipif(not registry.installed("minilm"), reason="minilm is not installed")
def test_a_cached_heatmap_does_not_keep_its_trace_alive():
    """The figure caches count entries: one holding a view into a trace's (H, T, T) layer kept
    that layer alive after the trace left the byte cache (~12 MB an entry at 512 E5 tokens)."""
    from attnviz.ui import sentences

    text = "memory should come back after the lecture"
    trace = sentences.get_trace("minilm", text, None)
    _, view = sentences.get_heatmap("minilm", text, None, False, False, "all", "en", 2, 3, False)
    assert np.array_equal(view.matrix, trace.layers[2].weights[3])
    assert not np.shares_memory(view.matrix, trace.layers[2].weights)


def test_the_sweeper_reaches_streamlits_store_of_closed_sessions():
    """reap_closed_sessions relies on private Streamlit names: this fails if they move."""
    from streamlit.runtime.memory_session_storage import MemorySessionStorage
    from streamlit.runtime.runtime import Runtime
    from streamlit.runtime.websocket_session_manager import WebsocketSessionManager

    storage = MemorySessionStorage(ttl_seconds=0)
    storage._cache["closed"] = "session info"  # expired at once: expire() hands it back
    assert storage._cache.expire() == [("closed", "session info")] and not storage._cache
    manager = WebsocketSessionManager.__init__.__code__.co_names
    assert {"_session_storage", "_storage_lock", "_active_session_info_by_id"} <= set(manager)
    assert "_session_mgr" in Runtime.__init__.__code__.co_names


def test_the_sweeper_shuts_closed_sessions_down_and_frees_what_a_freeze_kept(monkeypatch):
    """A session's objects frozen with a model loaded during it (cache.resident) are cycles the
    collector never frees; once the last session is gone, the sweeper lets them go."""
    from streamlit import runtime
    from streamlit.runtime.caching.ttl_cache import TTLCache

    closed = SimpleNamespace(session=Mock())
    storage = TTLCache(maxsize=8, ttl=0)  # expired as soon as stored
    manager = SimpleNamespace(
        _storage_lock=threading.Lock(), _session_storage=SimpleNamespace(_cache=storage),
        _active_session_info_by_id={"open tab": object()},
    )  # fmt: skip
    monkeypatch.setattr(runtime, "exists", lambda: True)
    monkeypatch.setattr(runtime, "get_instance", lambda: SimpleNamespace(_session_mgr=manager))

    class Node:
        pass

    session = Node()
    session.me, session.trace = session, np.ones(1000)  # a cycle, holding a trace
    gone = weakref.ref(session)
    gc.freeze()
    del session
    storage["closed tab"] = closed
    cache.sweep_once(cache.ByteCache(1 << 20))  # another tab is still open: nothing unfrozen
    closed.session.shutdown.assert_called_once()
    assert gone() is not None
    manager._active_session_info_by_id.clear()
    storage["closed tab"] = closed
    cache.sweep_once(cache.ByteCache(1 << 20))
    assert gone() is None
