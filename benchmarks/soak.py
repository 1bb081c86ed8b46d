"""A long lecture against one server: is its memory back near where it started?

`--sessions` students (default 200) come one after another, `--at-once` at a time. Each opens
`text` with a sentence of its own (every `--long-every`-th one a long Chinese text, which the
page reads with E5: ~400 tokens, a trace of ~120 MB), changes layer and head, opens `image` and
picks a sample photo, changes the playground, reads a sentiment sentence of its own (every
`--upload-every`-th one also uploads a photo of its own to `image` and a digit to `digits`, as
the browser uploads), and closes its tab. The server's resident memory (VmRSS, /proc) is read
after the warm-up (the baseline), throughout (the peak) and, once every tab is closed, every
10 s until it is back within `--within` MB of the baseline or `--wait` seconds have passed
(Streamlit keeps a closed tab's session for server.disconnectedSessionTTL = 120 s).

    python -m benchmarks.soak                                  200 sessions, a fresh server
    python -m benchmarks.soak --sessions 20 --long-every 1     a short, heavy round

Prints markdown to paste into BENCHMARKS.md. Loopback only; every session is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import io
import os
import platform
import random
import sys
import time
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attnviz import images  # noqa: E402
from attnviz.loading import data  # noqa: E402
from attnviz.serve.client import Session  # noqa: E402
from attnviz.serve.launch import Served  # noqa: E402
from benchmarks.crowd import ProcWatch, sentence  # noqa: E402

CLAUSES = (
    "今天早上老师在教室里讲了注意力机制",
    "学生们一边听一边在笔记本上画出每个词的权重",
    "窗外下着小雨",
    "图书馆里的人比平时多了一倍",
    "我们讨论了查询和键之间的点积为什么要缩放",
    "最后大家一起看了一张热力图",
    "有的头只看前一个词",
    "有的头把注意力都放在句号上",
)


def long_text(rng: random.Random, number: int) -> str:
    """A Chinese text of its own for every student, ~400 E5 tokens."""
    parts = [rng.choice(CLAUSES) for _ in range(24)]
    return f"第{number}位同学写道：" + "，".join(parts) + "。"


def encoded(picture: Image.Image, kind: str) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, kind)
    return buffer.getvalue()


def photo(number: int) -> bytes:
    """A photo of the student's own: a sample turned by its own angle (a trace of its own)."""
    samples = list(images.sample_images().values())
    picture = Image.open(io.BytesIO(samples[number % len(samples)])).convert("RGB")
    return encoded(picture.rotate(number % 359 + 1), "JPEG")


def digit(number: int) -> bytes:
    """A held-out handwritten digit at four times MNIST's size, as a PNG."""
    pictures = data.digits("held_out")[0]
    return encoded(Image.fromarray(pictures[number % len(pictures)]).resize((112, 112)), "PNG")


async def student(
    number: int, base: str, long_every: int, upload_every: int, errors: list[str]
) -> None:
    rng = random.Random(number)
    async with Session(base, timeout=180) as session:

        async def step(page: str, changes: dict | None = None, quiet: bool = False):
            run = await session.run(page, changes)
            if not quiet:
                errors.extend(f"student {number}, {page}: {e}" for e in run.errors)
            return run

        await step("text")
        heavy = long_every and number % long_every == 0
        await step("text", {"text_a": long_text(rng, number) if heavy else sentence(rng, number)})
        for key in ("text_layer", "text_head"):
            if key in session.widgets:
                await step("text", {key: rng.choice(session.widgets[key].options)})
        await step("image")
        photos = session.widgets["image_sample"].options
        await step("image", {"image_sample": photos[number % len(photos)]})
        await step("playground", {})
        await step("playground", {"temperature": rng.choice((0.5, 2.0))})
        await step("sentiment")
        await step("sentiment", {"sentiment_source": "own"}, quiet=True)  # empty: "type some"
        await step("sentiment", {"sentiment_own": sentence(rng, number)})
        if upload_every and number % upload_every == 0:
            # the sources travel as their labels: "upload" is the last one of both pages
            await step("image", {"image_source": session.widgets["image_source"].options[-1]})
            await session.upload("image_upload", f"photo-{number}.jpg", photo(number))
            drawn = (await step("image")).plots
            await step("digits")
            await step("digits", {"digits_source": session.widgets["digits_source"].options[-1]})
            await session.upload("digits_upload", f"digit-{number}.png", digit(number))
            if not (drawn and (await step("digits")).plots):
                errors.append(f"student {number}: an upload drew no figure")


async def soak(args, base: str, watch: ProcWatch, out) -> None:
    baseline = watch.rss_mb()
    out(f"baseline (warmed): {baseline:.0f} MB")
    sampler = asyncio.create_task(watch.sample())
    errors: list[str] = []
    gate = asyncio.Semaphore(args.at_once)
    start = time.perf_counter()
    marks = {}

    async def one(n: int) -> None:
        async with gate:
            try:
                work = student(n, base, args.long_every, args.upload_every, errors)
                await asyncio.wait_for(work, 600)
            except Exception as exc:  # a dropped connection or a timeout is an error of the run
                errors.append(f"student {n}: {type(exc).__name__}: {exc}")
            if n % 50 == 0:
                marks[n] = watch.rss_mb()

    await asyncio.gather(*(one(n) for n in range(1, args.sessions + 1)))
    used = time.perf_counter() - start
    sampler.cancel()
    closed = watch.rss_mb()
    out(f"{args.sessions} sessions in {used:.0f} s, {len(errors)} errors;"
        f" peak {watch.peak_rss:.0f} MB; after session 50/100/...:"
        f" {', '.join(f'{marks[n]:.0f}' for n in sorted(marks))} MB;"
        f" all tabs closed: {closed:.0f} MB")  # fmt: skip
    waited, now = 0, closed
    trail = [f"{now:.0f}"]
    while now - baseline > args.within and waited < args.wait:
        await asyncio.sleep(10)
        waited += 10
        now = watch.rss_mb()
        trail.append(f"{now:.0f}")
    back = "back" if now - baseline <= args.within else "NOT back"
    out(f"after closing, every 10 s: {' '.join(trail)} MB — {back} within {args.within} MB of"
        f" the baseline after {waited} s ({now - baseline:+.0f} MB)")  # fmt: skip
    for error in errors[:5]:
        out(f"- error: {error}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--at-once", type=int, default=4, help="students in the room at a time")
    parser.add_argument("--long-every", type=int, default=10, help="0: no long Chinese text")
    parser.add_argument("--upload-every", type=int, default=5, help="0: no uploads")
    parser.add_argument("--within", type=float, default=150, help="MB above the baseline")
    parser.add_argument("--wait", type=float, default=300, help="seconds after the last tab")
    args = parser.parse_args(argv)
    print(f"## soak: one server — {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC\n")
    print(f"`{' '.join(['python -m benchmarks.soak', *sys.argv[1:]])}` · {platform.machine()},"
          f" {os.cpu_count()} cores, load average before {os.getloadavg()[0]:.1f}\n")  # fmt: skip

    def out(line: str) -> None:
        print(line, flush=True)

    with Served() as served:
        asyncio.run(soak(args, served.url, ProcWatch([p.pid for p in served.procs]), out))


if __name__ == "__main__":
    main()
