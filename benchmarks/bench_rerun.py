"""What one rerun of the `text` page costs once its trace is cached, and whether memory grows.

Under `streamlit.testing.v1.AppTest` (the real script, the real script runner, the real models),
one session on the `text` page cycles through the interactions a student makes after typing:
next layer, next head, another view (heads, overview, lines, stats, rollout), both units. Every
`at.run()` is timed (wall clock and this process's CPU: the script run, the protobuf messages of
every element, and AppTest's reading them back, so an upper bound on the server's time; on a
shared machine the CPU time is the steadier number). AppTest compiles the scripts anew on every
run (a fresh `ScriptCache` each time, ~30 ms here); the server compiles them once, so this
benchmark gives AppTest one cache, as the server has; AppTest's runner also leaves out the
server's `gc.collect(2)` after each run, which the benchmark adds back for the default setting.
Each setting runs in its own process: Streamlit's default (`runner.postScriptGC = true`, a full
`gc.collect(2)` after every run, nothing frozen) and ours (off, with the models frozen out of the
collector once loaded, see attnviz/ui/cache.py). The process's resident memory is read after the
warm-up and after the last rerun.

    python benchmarks/bench_rerun.py [--reruns 200] [--tokens 30 512]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.bench_text import text_of  # noqa: E402

VIEWS = ("heads", "overview", "lines", "stats", "rollout")


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def interactions(n_layers: int, n_heads: int):
    """An endless, repeating series of (widget key, value): what a student clicks."""
    for i in itertools.count():
        yield ("text_layer", i % n_layers + 1)
        yield ("text_head", (i * 5) % n_heads + 1)
        yield ("text_view", VIEWS[i % len(VIEWS)])
        if i % 7 == 6:
            yield ("text_units", ("tokens", "words")[(i // 7) % 2])


def session(text: str, reruns: int, post_gc: bool):
    """(rerun wall ms, rerun CPU ms, RSS after warm-up, RSS at the end) of one AppTest session."""
    from streamlit import config
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import AppTest, app_test, local_script_runner

    config.set_option("runner.postScriptGC", post_gc)
    if post_gc:  # AppTest's runner leaves out the server's collection after each run: add it
        finished = local_script_runner.LocalScriptRunner._on_script_finished

        def collect_after(self, *args, **kwargs):
            finished(self, *args, **kwargs)
            gc.collect(2)  # what ScriptRunner._on_script_finished does when the option is on

        local_script_runner.LocalScriptRunner._on_script_finished = collect_after
    compiled = ScriptCache()
    # one cache for the session, as in the server
    app_test.ScriptCache = local_script_runner.ScriptCache = lambda: compiled
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.query_params["lang"] = "en"
    at.run()
    at.switch_page("attnviz/ui/pages/text.py")
    at.run()
    at.text_area(key="text_a").input(text)
    at.text_area(key="text_b").input("")
    at.run()
    if at.exception:
        raise RuntimeError([e.value for e in at.exception])
    series = interactions(6, 12)  # MiniLM: 6 layers x 12 heads
    for _ in range(len(VIEWS) * 3):  # warm-up: every view's cached data and figures exist
        key, value = next(series)
        _set(at, key, value)
        at.run()
    start_mb = rss_mb()
    times, cpu = [], []
    for _ in range(reruns):
        key, value = next(series)
        _set(at, key, value)
        begin, begin_cpu = time.perf_counter(), time.process_time()
        at.run()
        times.append((time.perf_counter() - begin) * 1000)
        cpu.append((time.process_time() - begin_cpu) * 1000)
        if at.exception:
            raise RuntimeError([e.value for e in at.exception])
    return times, cpu, start_mb, rss_mb()


def _set(at, key: str, value) -> None:
    if key in ("text_view", "text_units"):
        at.radio(key=key).set_value(value)
        return
    if key not in {box.key for box in at.selectbox}:
        # layer and head are drawn only on the views they act on: back to the heatmap first
        # (an untimed run), as a student would
        at.radio(key="text_view").set_value("heads").run()
    at.selectbox(key=key).set_value(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reruns", type=int, default=200)
    parser.add_argument("--tokens", nargs="+", type=int, default=[30, 512])
    parser.add_argument("--one", nargs=2, metavar=("TOKENS", "GC"), help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()
    if args.one:  # a child process: one setting, one row
        tokens, post_gc = int(args.one[0]), args.one[1] == "on"
        import logging

        logging.getLogger("streamlit").setLevel(logging.ERROR)
        if post_gc:  # Streamlit's default: nothing frozen either
            from attnviz.ui import cache

            cache.resident = lambda model: model
        times, cpu, start, end = session(text_of(tokens), args.reruns, post_gc)
        p95, cpu95 = statistics.quantiles(times, n=20)[18], statistics.quantiles(cpu, n=20)[18]
        print(f"| {tokens} | {'on (default)' if post_gc else 'off + gc.freeze (ours)'} "
              f"| {statistics.median(times):.0f} | {p95:.0f} | {max(times):.0f} "
              f"| {statistics.median(cpu):.0f} | {cpu95:.0f} | {start:.0f} | {end:.0f} |",
              flush=True)  # fmt: skip
        return
    print(f"{args.reruns} timed reruns per row, one AppTest session, MiniLM, cached trace\n")
    print("| tokens | postScriptGC | p50 (ms) | p95 (ms) | max (ms) | CPU p50 (ms) | CPU p95 (ms) "
          "| RSS after warm-up (MB) | RSS at end (MB) |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    for tokens in args.tokens:
        for post_gc in ("on", "off"):
            subprocess.run(
                [sys.executable, __file__, "--reruns", str(args.reruns), "--one", str(tokens),
                 post_gc],
                check=True, stderr=subprocess.DEVNULL,
            )  # fmt: skip


if __name__ == "__main__":
    main()
