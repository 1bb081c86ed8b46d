"""Does batching the text encoder pay? N students on the text page submit a sentence together.

Two rounds per class size, over Streamlit's own websocket protocol (attnviz/serve/client.py):

    own        every student submits a sentence of their own within `--ramp` seconds:
               N MiniLM forwards, one per page run, as the app does today
    same       every student submits one sentence, the same for all (new to the server):
               one forward, the other N - 1 page runs find its trace in the shared cache

The second round is what batching the N forwards into one could give at best (one forward's
cost instead of N, the page runs unchanged), so p95(own) / p95(same) bounds the gain of
batching: issue 18 asks for it only if the class's p95 would improve at least twofold.

    python -m benchmarks.load --scenario sentences --students 20,40 --ramp 0.5
    make load SCENARIO=sentences N="20 40" RAMP=0.5

Prints markdown to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import random

import numpy as np

from attnviz.serve.client import Session
from benchmarks.crowd import ProcWatch, descendants, quantiles, sentence


async def class_round(texts: list[str], base: str, ramp: float, watch: ProcWatch):
    """The seconds of each student's page run after submitting `texts[i]`, and the errors."""
    seconds, errors = [], []
    opened = asyncio.Barrier(len(texts) + 1)

    async def one(i: int, text: str) -> None:
        try:
            async with Session(base, timeout=600) as session:
                await session.run("text")
                await opened.wait()  # the class has the page open: now they submit
                await asyncio.sleep(ramp * i / len(texts))
                run = await session.run("text", {"text_a": text})
                seconds.append(run.seconds)
                errors.extend(run.errors)
        except Exception as exc:  # a refused or dropped connection is an error of the run
            errors.append(f"student {i}: {type(exc).__name__}: {exc}")

    sampler = asyncio.create_task(watch.sample())
    tasks = [asyncio.create_task(one(i, text)) for i, text in enumerate(texts)]
    await opened.wait()
    await asyncio.gather(*tasks)
    sampler.cancel()
    return seconds, errors


async def measure(args, base: str, server_pids: list[int], out) -> None:
    out("| students | round | forwards | submit p50 / p95 / max (s) | server peak RSS (MB) |"
        " errors |\n|---:|---|---:|---|---:|---:|")  # fmt: skip
    rng, ratios, notes = random.Random(0), [], []
    for number, students in enumerate(args.students):
        p95 = {}
        for kind in ("own", "same"):
            texts = [sentence(rng, 1000 * number + i) for i in range(students)]
            if kind == "same":
                texts = [texts[0]] * students
            watch = ProcWatch(descendants(server_pids))
            seconds, errors = await class_round(texts, base, args.ramp, watch)
            p95[kind] = float(np.percentile(seconds, 95)) if seconds else float("nan")
            out(f"| {students} | {kind} | {len(set(texts))} |"
                f" {quantiles(seconds or [np.nan]).replace('|', '/')} | {watch.peak_rss:.0f}"
                f" | {len(errors)} |")  # fmt: skip
            notes += errors[:3]
        ratios.append(f"{students} students: p95 own / same = {p95['own'] / p95['same']:.2f}")
    out("")
    for line in ratios + [f"- error: {note}" for note in notes]:
        out(line)
    out("")
