"""Cold start and rerun cost, as a visitor sees them, over Streamlit's protocol.

Cold start: the seconds from launching the server to the first plot's data on `text` and on
`image`, for two visitors (one per page) who connect the moment the server answers, and for two
who arrive once `make run` has said it is ready. Two launches are compared in the same run:
`make run` as it is now (`python -m attnviz.serve`: no file watcher, warmed) and plain
`streamlit run app.py` (the file watcher on, nothing warmed), as `make run` was.

Rerun: the p50 of a plain rerun of `text` on a cached trace (the browser's "Rerun").
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attnviz.serve.client import Session  # noqa: E402
from attnviz.serve.http import healthy  # noqa: E402
from attnviz.serve.launch import free_port  # noqa: E402
from benchmarks.load import rerun_latency  # noqa: E402

LAUNCHES = {
    "make run (attnviz.serve: no watcher, warmed)": ["-m", "attnviz.serve", "--port"],
    "streamlit run app.py (watcher on, not warmed)": [
        "-m",
        "streamlit",
        "run",
        "app.py",
        "--server.headless",
        "true",
        "--server.port",
    ],  # fmt: skip
}
TIMEOUT = 300


async def first_plots(base: str, since: float) -> dict[str, float]:
    """Seconds from `since` (a perf_counter) to the first plot's data, for a text and an image
    visitor arriving together (each loads the page, opens the websocket and runs its page)."""

    async def visit(page: str) -> float:
        async with Session(base) as session:
            run = await session.run(page)
            if run.errors or run.first_plot is None:
                raise RuntimeError(f"{page}: {run.errors or 'no plot'}")
            return time.perf_counter() - run.seconds + run.first_plot - since

    text, image = await asyncio.gather(visit("text"), visit("image"))
    return {"text": text, "image": image}


def launch(args: list[str]) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    ready = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, *args, str(port)], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def watch_output() -> None:
        for line in proc.stdout:
            if line.startswith("attnviz ready"):
                ready.set()

    threading.Thread(target=watch_output, daemon=True).start()
    try:
        while not healthy(base):
            if proc.poll() is not None or time.perf_counter() - start > TIMEOUT:
                raise RuntimeError(f"{args} did not start")
            time.sleep(0.02)
        result = {"answers": time.perf_counter() - start}
        at_once = asyncio.run(first_plots(base, start))
        result |= {f"{page}, at once": s for page, s in at_once.items()}
        if "attnviz.serve" in args:
            ready.wait(TIMEOUT)
            result["ready"] = time.perf_counter() - start
            after = asyncio.run(first_plots(base, time.perf_counter()))
            result |= {f"{page}, after ready": s for page, s in after.items()}
            result["rerun p50"] = float(np.median(asyncio.run(rerun_latency(base))))
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    print(__doc__.split("\n\n")[1].replace("\n", " ") + "\n")
    print(f"load average before: {os.getloadavg()[0]:.1f}\n")
    print("| launch | server answers (s) | launch → first plot, text (s) | launch → first plot,"
          " image (s) | launcher ready (s) | first plot after ready: text / image (s) |"
          " rerun p50 on cached trace (ms) |\n|---|---:|---:|---:|---:|---:|---:|")  # fmt: skip
    for name, args in LAUNCHES.items():
        r = launch(args)
        warmed = "ready" in r
        ready = f"{r['ready']:.1f}" if warmed else "-"
        after = f"{r['text, after ready']:.2f} / {r['image, after ready']:.2f}" if warmed else "-"
        rerun = f"{r['rerun p50'] * 1000:.0f}" if warmed else "-"
        print(
            f"| {name} | {r['answers']:.1f} | {r['text, at once']:.1f} | {r['image, at once']:.1f}"
            f" | {ready} | {after} | {rerun} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
