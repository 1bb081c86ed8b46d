"""A class of simulated students against the app, over Streamlit's own websocket protocol.

Each student is one websocket session (attnviz/serve/client.py, no browser) that, with a short
pause between steps, opens `text`, types its own ~30-token sentence, changes layer and head;
opens `image`, picks a sample photo, clicks two patches, moves the layer slider; opens
`playground` and changes the temperature and the score function. Every answer is timed from the
rerun message to `script_finished`; the servers' CPU and memory are read from /proc meanwhile.

    python -m benchmarks.load --students 20                 one warmed server, as `make run`
    python -m benchmarks.load --students 1,10,20,40 --replicas 2    two replicas behind nginx
    python -m benchmarks.load --url http://127.0.0.1:8501 --pids 1234   a server already running
    python -m benchmarks.load --scenario generate --students 1,20,40   a class generating at once
                                                          (benchmarks/load_generate.py)
    python -m benchmarks.load --scenario sentences --students 20,40 --ramp 0.5
                               a class submitting sentences at once (benchmarks/load_sentences.py)

Prints markdown to paste into BENCHMARKS.md. Loopback only, at most 200 students, and every
round is bounded in time (--max-seconds).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import random
import resource
import sys
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attnviz.serve.client import Session  # noqa: E402
from attnviz.serve.launch import Served  # noqa: E402
from benchmarks import load_generate, load_sentences  # noqa: E402
from benchmarks.crowd import ProcWatch, descendants, quantiles, sentence  # noqa: E402

MAX_STUDENTS = 200
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def click(point: int) -> dict:
    """A plotly selection as the browser sends it for a click on marker `point`."""
    return {"selection": {"points": [{"point_index": point, "point_number": point}],
                          "point_indices": [point], "box": [], "lasso": []}}  # fmt: skip


async def student(number: int, base: str, think: tuple[float, float], record) -> None:
    rng = random.Random(number)

    async def step(kind: str, page: str, changes: dict | None = None):
        await asyncio.sleep(rng.uniform(*think))
        run = await session.run(page, changes)
        record(kind, run)
        return run

    async with Session(base) as session:
        record("replica", session.replicas)
        await step("text: open", "text")
        await step("text: own sentence", "text", {"text_a": sentence(rng, number)})
        for _ in range(3):
            key = rng.choice(("text_layer", "text_head"))
            await step("text: layer/head", "text", {key: rng.choice(session.widgets[key].options)})
        await step("image: open", "image")
        photos = session.widgets["image_sample"].options
        await step("image: sample", "image", {"image_sample": photos[number % len(photos)]})
        for _ in range(2):
            chart = next(k for k in session.widgets if k.startswith("image_click_overlay_"))
            patch = rng.randrange(256)
            run = await step("image: patch click", "image", {chart: click(patch)})
            if f"image_click_overlay_{patch}" not in run.widgets:
                record("error", f"image: the click on patch {patch} did not become the query")
        await step("image: layer", "image", {"image_layer": rng.randint(1, 12)})
        await step("playground: open", "playground")
        await step("playground: change", "playground", {"temperature": rng.choice((0.5, 2.0))})
        score = rng.choice(session.widgets["score"].options)
        await step("playground: change", "playground", {"score": score})
        record("replica", session.replicas)


async def rerun_latency(base: str, count: int = 15) -> list[float]:
    """Seconds of a plain rerun (the browser's "Rerun", nothing changed) on a cached trace."""
    async with Session(base) as session:
        await session.run("text")
        return [(await session.run("text")).seconds for _ in range(count)]


async def crowd(students, first: int, base, think, ramp, max_seconds, watch: ProcWatch):
    """Run `students` students (numbered from `first`) at once: (times by kind, errors,
    replicas seen by each student, server CPU seconds, wall seconds)."""
    times, errors, replicas = defaultdict(list), [], defaultdict(list)

    def recorder(n: int):
        def record(kind: str, value) -> None:
            if kind == "error":
                errors.append(value)
            elif kind == "replica":
                replicas[n].append(tuple(value))
            else:
                times[kind].append(value.seconds)
                errors.extend(f"{kind}: {e}" for e in value.errors)

        return record

    async def one(n: int):
        await asyncio.sleep(ramp * (n - first) / students)
        try:
            await student(n, base, think, recorder(n))
        except Exception as exc:  # a refused or dropped connection is an error of the run
            errors.append(f"student {n}: {type(exc).__name__}: {exc}")

    sampler = asyncio.create_task(watch.sample())
    cpu0, wall0 = watch.cpu_seconds(), time.perf_counter()
    tasks = [asyncio.create_task(one(first + i)) for i in range(students)]
    done, pending = await asyncio.wait(tasks, timeout=max_seconds)
    for task in pending:
        task.cancel()
    if pending:
        errors.append(f"{len(pending)} students unfinished after {max_seconds} s")
    wall = time.perf_counter() - wall0
    cpu = watch.cpu_seconds() - cpu0
    sampler.cancel()
    return times, errors, replicas, cpu, wall


async def measure(args, base: str, server_pids: list[int], out) -> None:
    reruns = await rerun_latency(base)
    out(f"rerun of `text` on a cached trace, one student alone: p50 {np.median(reruns) * 1000:.0f}"
        f" ms, max {max(reruns) * 1000:.0f} ms ({len(reruns)} reruns)\n")  # fmt: skip
    first = 1
    for students in args.students:
        watch = ProcWatch(descendants(server_pids))
        client0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
        times, errors, replicas, cpu, wall = await crowd(
            students, first, base, args.think, args.ramp, args.max_seconds, watch
        )
        client = sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - client0
        first += students
        every = [t for kind in times for t in times[kind]]
        out(f"### {students} students ({wall:.0f} s, {len(every)} answers, {len(errors)} errors)\n")
        out("| interaction | n | p50 (s) | p95 (s) | max (s) |\n|---|---:|---:|---:|---:|")
        for kind in sorted(times):
            out(f"| {kind} | {len(times[kind])} | {quantiles(times[kind])} |")
        if every:
            out(f"| **all** | {len(every)} | {quantiles(every)} |")
        per_answer = f"{1000 * cpu / len(every):.0f} ms" if every else "-"
        out(f"\nserver CPU {100 * cpu / wall:.0f} % of one core (of {os.cpu_count()} cores),"
            f" {per_answer} of server CPU per answer, peak RSS {watch.peak_rss:.0f} MB;"
            f" the load tool itself used {100 * client / wall:.0f} % of a core")  # fmt: skip
        if any(seen for runs in replicas.values() for seen in runs):
            # every replica header a student got (page, websocket) must name the same replica
            sticky = sum(len({r for seen in runs for r in seen}) == 1 for runs in replicas.values())
            spread = defaultdict(int)
            for runs in replicas.values():
                spread[runs[-1][-1] if runs[-1] else "?"] += 1
            out(f"sessions that stayed on one replica: {sticky}/{len(replicas)};"
                f" per replica: {dict(spread)}")  # fmt: skip
        for error in errors[:5]:
            out(f"- error: {error}")
        out("")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", default="20", help="one number or a list: 1,10,20,40")
    parser.add_argument("--replicas", type=int, default=0, help="N > 0: N replicas behind nginx")
    parser.add_argument("--url", help="a server already running (loopback); else one is started")
    parser.add_argument("--pids", default="", help="with --url: the server pids to watch")
    parser.add_argument("--think", type=float, nargs=2, default=(0.5, 1.5), metavar=("MIN", "MAX"),
                        help="seconds a student pauses before each step")  # fmt: skip
    parser.add_argument("--ramp", type=float, default=2.0, help="seconds over which they arrive")
    parser.add_argument("--max-seconds", type=float, default=300, help="bound on each round")
    parser.add_argument(
        "--scenario", choices=("lecture", "generate", "sentences"), default="lecture",
        help="lecture: text, image and playground; generate: everybody presses Generate;"
        " sentences: everybody submits a sentence on the text page",
    )  # fmt: skip
    args = parser.parse_args(argv)
    args.students = [int(n) for n in args.students.replace(",", " ").split()]
    if not all(1 <= n <= MAX_STUDENTS for n in args.students):
        parser.error(f"students: 1 to {MAX_STUDENTS}")
    if args.url and urllib.parse.urlsplit(args.url).hostname not in LOOPBACK:
        parser.error("the load tool only drives a server on this machine (loopback)")
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    load = os.getloadavg()[0]
    where = f"{args.replicas} replicas behind nginx" if args.replicas else "one server"
    print(f"## load: {where} — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
    print(f"`{' '.join(['python -m benchmarks.load', *sys.argv[1:]])}` · {platform.machine()},"
          f" {os.cpu_count()} cores, load average before {load:.1f} · think"
          f" {args.think[0]}–{args.think[1]} s, arrival over {args.ramp} s\n")  # fmt: skip

    def out(line: str) -> None:
        print(line, flush=True)

    rounds = {"lecture": measure, "generate": load_generate.measure,
              "sentences": load_sentences.measure}[args.scenario]  # fmt: skip

    if args.url:
        pids = [int(p) for p in args.pids.replace(",", " ").split()]
        asyncio.run(rounds(args, args.url, pids, out))
        return
    start = time.perf_counter()
    with Served(replicas=max(args.replicas, 1), nginx=args.replicas > 0) as served:
        out(f"servers started and warmed in {time.perf_counter() - start:.1f} s\n")
        asyncio.run(rounds(args, served.url, [p.pid for p in served.procs], out))


if __name__ == "__main__":
    main()
