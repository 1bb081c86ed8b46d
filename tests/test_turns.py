"""Script runs take turns (attnviz/ui/turns.py): one at a time, in the order they came, with a
way to step aside for long work. Real threads, each wait bounded."""

import threading
import time

import pytest

from attnviz.ui.turns import Turns

WAIT = 10  # seconds: a failing test ends instead of hanging


def until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.001)


def start(target) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_turns_are_served_in_the_order_they_were_asked_for():
    turns, order, release = Turns(), [], threading.Event()

    def holder():
        with turns.turn():
            release.wait(WAIT)
            order.append("first")

    def waiter(name):
        def run():
            with turns.turn():
                order.append(name)

        return run

    threads = [start(holder)]
    until(lambda: turns._busy, "the first run to take the turn")
    for number, name in enumerate(["b", "c", "d", "e"], start=1):
        threads.append(start(waiter(name)))
        until(lambda n=number: len(turns._waiting) == n, f"{name} to queue")
    release.set()
    for thread in threads:
        thread.join(WAIT)
    assert order == ["first", "b", "c", "d", "e"]


def test_one_run_at_a_time_under_contention():
    turns, inside, most = Turns(), [0], [0]
    lock = threading.Lock()

    def run():
        for _ in range(50):
            with turns.turn():
                with lock:
                    inside[0] += 1
                    most[0] = max(most[0], inside[0])
                time.sleep(0.0002)
                with lock:
                    inside[0] -= 1

    threads = [start(run) for _ in range(8)]
    for thread in threads:
        thread.join(WAIT)
    assert not any(thread.is_alive() for thread in threads)
    assert most[0] == 1 and inside[0] == 0


def test_aside_lets_the_next_run_go_and_then_queues_again():
    turns, order = Turns(), []
    in_aside, other_done = threading.Event(), threading.Event()

    def long_run():
        with turns.turn():
            order.append("long: before")
            with turns.aside():
                assert not turns.holding()
                in_aside.set()
                other_done.wait(WAIT)  # the other run got the turn meanwhile
            assert turns.holding()
            order.append("long: after")

    def short_run():
        in_aside.wait(WAIT)
        with turns.turn():
            order.append("short")
        other_done.set()

    threads = [start(long_run), start(short_run)]
    for thread in threads:
        thread.join(WAIT)
    assert order == ["long: before", "short", "long: after"]


def test_reentry_and_an_exception_give_the_turn_back():
    turns = Turns()
    with pytest.raises(RuntimeError), turns.turn():
        with turns.turn():  # the same thread again: no deadlock
            assert turns.holding()
        raise RuntimeError("a page failed")
    assert not turns.holding()
    got = []

    def another():
        with turns.turn():
            got.append(True)

    start(another).join(WAIT)
    assert got == [True], "the turn was not given back after the exception"


def test_aside_without_the_turn_is_plain():
    turns = Turns()
    with turns.aside():
        assert not turns.holding()
    with turns.turn():
        assert turns.holding()
