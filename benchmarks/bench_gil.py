"""A decoding step beside a page's Python: why the engine shortens Python's switch interval.

Each torch call lets go of the GIL and takes it back; while another thread runs Python (a page
taking its turn), each retake waits until that thread lets go, up to the switch interval. Times
one step of an 18-token prompt (SmolLM2, batch of one, its trace kept) alone and beside a thread
that only runs Python, at Python's default interval and at `engine.SWITCH_INTERVAL`; median of 3.

    python -m benchmarks.bench_gil
"""

from __future__ import annotations

import statistics
import sys
import threading
import time

from attnviz import engine
from attnviz.zoo import llama
from benchmarks.load_generate import prompt

INTERVALS = (0.005, engine.SWITCH_INTERVAL)  # Python's default, then the engine's


def busy(stop: threading.Event) -> None:
    """Python only, as a page's run: never lets go of the GIL of its own accord."""
    while not stop.is_set():
        sum(range(1000))


def main() -> None:
    decoder = llama.load()
    net, ids = decoder.net, decoder.prompt(prompt(1)).ids

    def step_ms() -> float:
        start = time.perf_counter()
        net.step([(ids, net.empty_cache(len(ids)))])
        return 1000 * (time.perf_counter() - start)

    def median_ms() -> float:
        return statistics.median(step_ms() for _ in range(3))

    before = sys.getswitchinterval()
    step_ms()  # warm-up
    print(f"one step of a {len(ids)}-token prompt\n")
    print("| switch interval (ms) | alone (ms) | beside a thread running Python (ms) | ratio |")
    print("|---:|---:|---:|---:|")
    for interval in INTERVALS:
        sys.setswitchinterval(interval)
        alone = median_ms()
        stop = threading.Event()
        thread = threading.Thread(target=busy, args=(stop,), daemon=True)
        thread.start()
        try:
            beside = median_ms()
        finally:
            stop.set()
            thread.join()
        print(f"| {1000 * interval:g} | {alone:.0f} | {beside:.0f} | {beside / alone:.1f} |")
    sys.setswitchinterval(before)


if __name__ == "__main__":
    main()
