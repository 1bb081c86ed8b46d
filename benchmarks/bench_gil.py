"""A decoding step beside a page's Python: why the engine's step is one TorchScript call, and why
it shortens Python's switch interval.

Each torch call from Python lets go of the GIL and takes it back; while another thread runs Python
(a page taking its turn), each retake waits until that thread lets go, up to the switch interval.
Times one `Llama.step` (SmolLM2, traces kept) alone and beside a thread that only runs Python,
two ways: every layer in one TorchScript call (`llama_layer.batched`, the engine's steps) and
layer by layer from Python (`Layer.forward`, which a step takes with an ablation: here of no
head, the same numbers). Steps: one prompt at Python's default interval and at
`engine.SWITCH_INTERVAL`, a class's 40 prompts in one step (their attention one batched product,
`batch.attend_prompts`), then a decoding step of 20 sequences (one new token each,
`batch.attend_newest`); median of 3 (of 5 for the decoding step).

    python -m benchmarks.bench_gil
"""

from __future__ import annotations

import itertools
import statistics
import sys
import threading
import time

from attnviz import engine
from attnviz.ablation import Ablation
from attnviz.zoo import llama
from benchmarks.load_generate import prompt

INTERVALS = (0.005, engine.SWITCH_INTERVAL)  # Python's default, then the engine's
PATHS = {"one call": None, "layer by layer": Ablation(frozenset())}  # the ablation of no head


def busy(stop: threading.Event) -> None:
    """Python only, as a page's run: never lets go of the GIL of its own accord."""
    while not stop.is_set():
        sum(range(1000))


def main() -> None:
    decoder = llama.load()
    net = decoder.net
    one = [decoder.prompt(prompt(1)).ids]
    class_ = [decoder.prompt(prompt(n)).ids for n in range(40)]

    def median_ms(prompts, ablation) -> float:
        def once() -> float:
            pool = net.pool()  # as in the engine: the prompts read in one step, one pool
            start = time.perf_counter()
            net.step([(ids, pool.cache(len(ids))) for ids in prompts], ablation=ablation)
            return 1000 * (time.perf_counter() - start)

        return statistics.median(once() for _ in range(3))

    def decoding_ms(prompts, ablation) -> float:
        """The prompts read in one step, then 5 steps of one new token each: their median."""
        pool = net.pool()
        caches = [pool.cache(len(ids) + 5) for ids in prompts]
        net.step(list(zip(prompts, caches, strict=True)))
        times = []
        for _ in range(5):
            start = time.perf_counter()
            feeds = [([ids[-1]], cache) for ids, cache in zip(prompts, caches, strict=True)]
            net.step(feeds, ablation=ablation)
            times.append(1000 * (time.perf_counter() - start))
        return statistics.median(times)

    before = sys.getswitchinterval()
    for ablation in PATHS.values():  # warm-up (TorchScript profiles its first runs)
        median_ms(one, ablation)
        decoding_ms(class_[:20], ablation)
    print("| step | switch interval (ms) | path | alone (ms) |"
          " beside a thread running Python (ms) | ratio |")  # fmt: skip
    print("|---|---:|---|---:|---:|---:|")
    cases = [(f"one prompt of {len(one[0])} tokens", median_ms, one, i) for i in INTERVALS]
    tokens = sum(len(ids) for ids in class_)
    cases.append((f"40 prompts, {tokens} tokens", median_ms, class_, engine.SWITCH_INTERVAL))
    cases.append(
        ("20 sequences, a new token each", decoding_ms, class_[:20], engine.SWITCH_INTERVAL)
    )
    for (name, timed, prompts, interval), path in itertools.product(cases, PATHS):
        sys.setswitchinterval(interval)
        alone = timed(prompts, PATHS[path])
        stop = threading.Event()
        thread = threading.Thread(target=busy, args=(stop,), daemon=True)
        thread.start()
        try:
            beside = timed(prompts, PATHS[path])
        finally:
            stop.set()
            thread.join()
        print(f"| {name} | {1000 * interval:g} | {path} | {alone:.0f} | {beside:.0f} |"
              f" {beside / alone:.1f} |")  # fmt: skip
    sys.setswitchinterval(before)


if __name__ == "__main__":
    main()
