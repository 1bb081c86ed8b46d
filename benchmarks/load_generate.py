"""A class generating at once: N students, each with a prompt of their own, open the page, and
once every page is open they press Generate within `--ramp` seconds, over Streamlit's own
websocket protocol (attnviz/serve/client.py), greedy, `NEW` tokens each; then transformers
generates the same N prompts as one batch in this process, on the same machine, once the server
is idle (greedy, no attention weights returned: what batching alone gives; the server keeps
every step's full trace). Until the third pass (BENCHMARKS.md) each student opened the page and
pressed at once, so the class's 40 page openings queued ahead of every press.

    python -m benchmarks.load --scenario generate --students 1,20,40
    make load SCENARIO=generate N="1 20 40"

Each student's time runs from pressing Generate: the first token (the first text streamed that
holds new tokens), and done (the whole generation and the page of its last step drawn). Each
student's last page is checked against a lone student's, computed here with a batch of one: the
new text, and the newest query before RoPE (layer 1, head 1, as the page writes it).
Meanwhile one more session changes the head on the text page every half second: how the rest of
the app answers while the class generates. Prints markdown to paste into BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import random
import time
import urllib.parse
import warnings

import numpy as np
import torch
from streamlit.proto.WidgetStates_pb2 import WidgetState

from attnviz import generation
from attnviz.figures.breakdown import vector_text
from attnviz.i18n import t
from attnviz.serve.client import Session
from attnviz.zoo import llama
from benchmarks.crowd import OBJECTS, PLACES, SUBJECTS, VERBS, ProcWatch, descendants, quantiles

NEW = 16  # new tokens per student


def prompt(number: int) -> str:
    """A different prompt of about 20 tokens for every student."""
    rng = random.Random(number)
    return (
        f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} to"
        f" student {number} {rng.choice(PLACES)}, and then"
    )


def first_token(run, prompt_text: str) -> float | None:
    """Seconds until the page showed new tokens: its first st.text that is neither the prompt
    nor the placeholder of an empty continuation."""
    shown = (at for at, body in run.texts if body.strip() not in (prompt_text, "…", ""))
    return next(shown, None)


async def student(number: int, base: str, record, together: asyncio.Barrier, delay: float):
    async with Session(base, timeout=600) as session:
        # the page opens with the student's prompt and settings, as from a link
        query = {"lang": "en", "text": prompt(number), "max_new": NEW}
        session.queries["generate"] = urllib.parse.urlencode(query)
        try:
            opened = await session.run("generate")
        except Exception:
            await together.abort()  # the others would wait for this student forever
            raise
        await together.wait()  # every page is open: "everybody, press Generate now"
        await asyncio.sleep(delay)
        button = session.widgets["gen_start"]
        session.states[button.id] = WidgetState(id=button.id, trigger_value=True)
        pressed = time.perf_counter()
        record(number, pressed, await session.run("generate"), opened)
        session.states.pop(button.id)  # a button's press is sent once, as the browser does


async def text_probe(base: str, stop: asyncio.Event, times: list[float]) -> None:
    """Another student on the text page, changing the head every half second."""
    async with Session(base) as session:
        await session.run("text")
        heads, n = session.widgets["text_head"].options, 0
        while not stop.is_set():
            n += 1
            times.append((await session.run("text", {"text_head": heads[n % len(heads)]})).seconds)
            await asyncio.sleep(0.5)


async def class_round(students: int, first: int, base: str, ramp: float, watch: ProcWatch):
    """The class's runs of Generate, errors, the text page's answers meanwhile, and the seconds
    from the first press of Generate to the last student's end."""
    runs, pressed, errors, probe, stop = {}, {}, [], [], asyncio.Event()

    def record(number, at, run, opened) -> None:
        runs[number], pressed[number] = run, at
        errors.extend(f"student {number}: {e}" for e in opened.errors + run.errors)

    together = asyncio.Barrier(students)

    async def one(n: int) -> None:
        try:
            await student(n, base, record, together, ramp * (n - first) / students)
        except Exception as exc:  # a refused or dropped connection is an error of the run
            errors.append(f"student {n}: {type(exc).__name__}: {exc}")

    sampler = asyncio.create_task(watch.sample())
    prober = asyncio.create_task(text_probe(base, stop, probe))
    await asyncio.gather(*(one(first + i) for i in range(students)))
    ends = [pressed[n] + run.seconds for n, run in runs.items()]
    wall = max(ends) - min(pressed.values()) if runs else float("nan")
    stop.set()
    await prober
    sampler.cancel()
    return runs, errors, probe, wall


def reference():
    """transformers' SmolLM2 (bench_llama.reference) and its tokenizer, padding on the left."""
    from transformers import AutoTokenizer

    from attnviz.zoo import registry
    from benchmarks.bench_llama import reference as reference_model

    path = registry.package_file("smollm2", registry.MODELS["smollm2"].files[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    tokenizer.padding_side = "left"
    tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token
    return reference_model(), tokenizer


def lone_page(decoder, number: int) -> tuple[str, str]:
    """What the last page of a lone student with prompt `number` shows of the model's numbers,
    from a batch of one: the new text, and the line of the newest query before RoPE at the page's
    first layer and head (the last step reads the last new token)."""
    read = decoder.prompt(prompt(number))
    new = list(generation.run(decoder, read, generation.Sampling(), NEW, 0))
    _, _, trace = decoder.net(np.concatenate([read.ids, new]))
    query = t("generate.rope_before", "en", vector=vector_text(trace.q_raw[0, 0, -1], limit=8))
    return generation.readable(decoder.tokenizer, new).strip(), query


def same_as_alone(run, expected: tuple[str, str]) -> bool:
    """Whether a student's last run showed what a lone student's page shows (`lone_page`)."""
    shown = {body.strip() for _, body in run.texts}
    return all(line in shown for line in expected)


@torch.inference_mode()
def reference_seconds(ref, prompts: list[str]) -> float:
    """Seconds for transformers to generate NEW greedy tokens for every prompt, one batch."""
    model, tokenizer = ref
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    start = time.perf_counter()
    model.generate(
        **batch, max_new_tokens=NEW, min_new_tokens=NEW, do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    return time.perf_counter() - start


async def measure(args, base: str, server_pids: list[int], out) -> None:
    ref, decoder = reference(), llama.load()
    reference_seconds(ref, [prompt(0), prompt(1)])  # warm-up
    async with Session(base, timeout=600) as session:  # the text probe's model, read once: its
        await session.run("text")  # first trace held the turn for seconds in the first round
    out("| students | press to last done (s) | class tokens/s | first token p50 / p95 / max (s) |"
        " done p50 / p95 / max (s) | transformers, one batch (s) | tokens/s | ours / theirs |"
        " text page p95 (s) | server peak RSS (MB) | pages as alone | errors |")  # fmt: skip
    out("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|")
    first, notes = 1, []
    for students in args.students:
        watch = ProcWatch(descendants(server_pids))
        runs, errors, probe, wall = await class_round(students, first, base, args.ramp, watch)
        theirs = reference_seconds(ref, [prompt(first + i) for i in range(students)])
        same = sum(same_as_alone(run, lone_page(decoder, n)) for n, run in runs.items())
        first += students
        ours_rate, their_rate = students * NEW / wall, students * NEW / theirs
        firsts = [first_token(r, prompt(n)) for n, r in runs.items()]
        firsts = [f for f in firsts if f is not None] or [np.nan]
        done = [r.seconds for r in runs.values()] or [np.nan]
        text_p95 = np.percentile(probe, 95) if probe else np.nan
        out(f"| {students} | {wall:.1f} | {ours_rate:.1f} | {quantiles(firsts).replace('|', '/')}"
            f" | {quantiles(done).replace('|', '/')} | {theirs:.2f} | {their_rate:.1f}"
            f" | {ours_rate / their_rate:.2f} | {text_p95:.2f} | {watch.peak_rss:.0f}"
            f" | {same} of {len(runs)} | {len(errors)} |")  # fmt: skip
        notes += errors[:3]
    for note in notes:
        out(f"- error: {note}")
    out("")
