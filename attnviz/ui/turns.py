"""Script runs take turns: one at a time does its Python work in a server process, first come,
first served.

Streamlit runs every session's script in a thread of one process, and Python runs one thread at
a time (the GIL). Twenty students' reruns running together therefore share one core: each takes
twenty times as long, all finish late, and switching between them costs CPU of its own. Taking
turns, each rerun runs alone and promptly while the others wait without using the processor —
the same work in the same total time, but most answers come much sooner (issue 13, measured with
`make load N=20` in BENCHMARKS.md: p50 0.93 s → 0.28 s, p95 1.68 s → 0.86 s).

    with turns.turn():        # app.py, around the page
        ...
        for step in steps:        # the decoder page's generation: seconds, step by step
            with turns.aside():
                advance(step)

A model's forward on a page (~20-300 ms) stays in the turn: run aside, the sessions that want the
same new trace (a class opening the same sample photo) each computed it at once and then queued
again, which measured slower (image sample p95 1.2 s in the turn, 3.5 s aside). `aside` is for
work that would hold the turn for seconds: it gives the turn to the next in line for the block
and then queues for it again. Never inside an `st.cache_*` function: that holds Streamlit's lock
on the entry, and a run that holds the turn and wants the same entry would wait for a run that
waits for the turn.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class Turns:
    """A first-come, first-served lock whose holder can step aside (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = False
        self._waiting: deque[threading.Event] = deque()
        self._held = threading.local()

    def _take(self) -> None:
        with self._lock:
            if not self._busy:
                self._busy = True
                return
            handed = threading.Event()
            self._waiting.append(handed)
        handed.wait()  # the holder hands the turn over directly: nobody can cut in

    def _give(self) -> None:
        with self._lock:
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._busy = False

    def holding(self) -> bool:
        return getattr(self._held, "turn", False)

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the turn for the block (re-entering in the same thread is a no-op)."""
        if self.holding():
            yield
            return
        self._take()
        self._held.turn = True
        try:
            yield
        finally:
            self._held.turn = False
            self._give()

    @contextmanager
    def aside(self) -> Iterator[None]:
        """Let the others run during the block; without the turn, nothing to give."""
        if not self.holding():
            yield
            return
        self._held.turn = False
        self._give()
        try:
            yield
        finally:
            self._take()
            self._held.turn = True


SERVER = Turns()  # one per server process (a module is imported once)
turn = SERVER.turn
aside = SERVER.aside
