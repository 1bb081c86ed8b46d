"""One decoding engine per server process: every session's generation advances in one forward.

A class pressing Generate together used to run one batch-of-one forward per student in turn, and
every token of every student read all the weights again. Here one worker thread owns the
generations of every session (continuous batching, as LLM servers do):

    each step:  apply cancels and branches; admit queued generations (up to LIMIT in progress,
                at most PREFILL prompt tokens read in one step)
                one Llama.step over every generation in progress: a newcomer reads its prompt,
                the others their newest token, each against its own KV cache
                each one keeps its step's trace, picks its next token with its own sampling and
                random generator, and leaves when it has its tokens or end-of-text

Sessions only submit, read snapshots (`generation.Generation`) and ask for cancels and branches;
the worker alone changes a generation, between steps, so a page run that comes while another
streams (a language switch, an edited prompt) reads the same tokens and never writes them twice.
A session holds a `Handle`: when the session is dropped, so is the handle, and its generation is
cancelled. A finished generation keeps its traces, not its cache: a branch rebuilds the cache from
the traces' keys and values (the same numbers), so only generations in progress hold caches: slots
of the engine's one `Pool`, so that a step's newest tokens attend in one product; an idle engine
lets the pool go.
"""

from __future__ import annotations

import logging
import sys
import threading
import weakref
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch

from attnviz import generation
from attnviz.generation import Generation, Sampling
from attnviz.zoo.batch import Cache
from attnviz.zoo.llama import Llama, Prompt

LIMIT = 40  # generations in progress at once per server; later ones wait in the queue
# prompt tokens read in one step at most: 40 prompts of ~18 tokens in one step (their first token
# p95 2.5-2.8 s over the websocket, against 2.9-3.1 s in waves of 256, BENCHMARKS.md); longer
# prompts arrive in waves, and the others' next tokens wait one step at most
PREFILL = 1024
# Python's switch interval while an engine runs (the default is 5 ms): a torch call lets go of the
# GIL and takes it back, and while a page runs Python each retake waits up to the interval. A
# step's layers are one call (`llama_layer.batched`), its traces' copies and the logits a few
# more (`python -m benchmarks.bench_gil`: a 17-token prompt's step, 75-81 ms alone, took 668 ms
# beside a thread running Python, 270 ms at 0.5 ms; BENCHMARKS.md, "Fifth pass")
SWITCH_INTERVAL = 0.0005
log = logging.getLogger(__name__)


class Job:
    """One generation, owned by the engine: changed only by its worker, under its lock."""

    def __init__(
        self, prompt: Prompt, sampling: Sampling, target: int, seed: int, eos: int, script=()
    ):
        self.prompt_length = len(prompt.ids)
        self.ids = [int(i) for i in prompt.ids]
        self.steps: list = []  # traces are never changed: copies of a generation may share them
        self.sampling, self.target, self.eos = sampling, target, eos
        self.seed, self.rng = seed, np.random.default_rng(seed)
        self.feed: list[int] = list(self.ids)  # what the next forward reads
        self.cache: Cache | None = None
        self.status = "queued"
        self.branch: tuple[int, int] | None = None  # (step, token) asked for, applied by the worker
        self.script = tuple(int(i) for i in script)  # new tokens to take instead of choosing
        # new tokens after which it ends before its limit: a replayed link's (exactly its
        # tokens: a generation stopped early replays as stopped), Next's one more; None: the limit
        self.stop: int | None = len(self.script) or None

    def snapshot(self, place: int) -> Generation:
        ids = self.ids
        if self.status == "running" and self.steps and self.branch is None:
            ids = ids + self.feed  # the token its last step chose: shown before it is read
        return Generation(
            self.prompt_length, tuple(ids), tuple(self.steps), self.target, self.sampling,
            self.status, place, self.seed,
        )  # fmt: skip

    def ended(self) -> bool:
        made = len(self.ids) - self.prompt_length
        return generation.ended(self.ids, self.prompt_length, self.eos, self.target) or (
            self.stop is not None and made >= self.stop
        )


@dataclass(eq=False)
class Handle:
    """A session's hold on its generation; dropping it (the session ends) cancels the generation."""

    job: Job


class Engine:
    def __init__(self, net: Llama, eos: int, limit: int = LIMIT, prefill: int = PREFILL):
        self.net, self.eos, self.limit, self.prefill = net, eos, limit, prefill
        self.pool = net.pool(limit)  # every running generation's cache is a slot of it
        self._changed = threading.Condition()
        self._queue: deque[Job] = deque()
        self._active: list[Job] = []
        self._worker: threading.Thread | None = None

    # ------------------------------------------------------------ what sessions call

    def submit(
        self, prompt: Prompt, sampling: Sampling, max_new: int, seed: int = 0, script=()
    ) -> Handle:
        """Queue a new generation of up to `max_new` tokens (checked: InputError); given a
        `script`, its new tokens are the script's and it ends after them (a linked generation
        replayed, see ui/replay.py)."""
        max_new = generation.check_max_new(max_new)
        job = Job(prompt, sampling, max_new, generation.check_seed(seed), self.eos, script)
        handle = Handle(job)
        weakref.finalize(handle, self.cancel, job)
        with self._changed:
            self._queue.append(job)
            self._start()
            self._changed.notify_all()
        return handle

    def _start(self) -> None:
        """The worker, started by the first request (nothing runs at import or creation)."""
        if self._worker is None:
            sys.setswitchinterval(SWITCH_INTERVAL)  # the process's: it serves this engine
            self._worker = threading.Thread(target=self._run, name="attnviz-engine", daemon=True)
            self._worker.start()

    def read(self, handle: Handle) -> Generation:
        with self._changed:
            return handle.job.snapshot(self._place(handle.job))

    def wait(self, handle: Handle, steps: int, timeout: float = 1.0) -> Generation:
        """The snapshot once the generation has more than `steps` steps or is no longer in
        progress (or as it is after `timeout` seconds)."""
        job = handle.job
        with self._changed:
            self._changed.wait_for(
                lambda: len(job.steps) > steps or job.status not in ("queued", "running"),
                timeout,
            )
            return job.snapshot(self._place(job))

    def result(self, handle: Handle, timeout: float | None = None) -> Generation:
        """The generation once it is no longer in progress (or as it is after `timeout`)."""
        job = handle.job
        with self._changed:
            self._changed.wait_for(lambda: job.status not in ("queued", "running"), timeout)
            return job.snapshot(self._place(job))

    def cancel(self, job: Job) -> None:
        """Stop a generation (its session pressed Stop, started another, or is gone)."""
        with self._changed:
            if job.status in ("queued", "running"):
                job.status = "cancelled"
                self._changed.notify_all()

    def branch(self, handle: Handle, step: int, token: int) -> bool:
        """Forget everything after `step` and continue with `token` there, up to the same number
        of new tokens. False (nothing changes) past the token limit or end-of-text."""
        job = handle.job
        with self._changed:
            if not generation.can_branch(job.snapshot(0), step, self.eos) or job.branch:
                return False
            if job in self._queue or job in self._active:
                self._forget(job)
            job.branch, job.status, job.stop = (step, int(token)), "queued", None
            self._queue.appendleft(job)  # a branch was in progress or done: it goes first
            self._start()
            self._changed.notify_all()
        return True

    def own(self, gen: Generation) -> Handle:
        """A copy of `gen` (a generation shared by every session, which nobody may change) that
        is one's own to branch or extend."""
        copy = Job(Prompt(np.asarray(gen.ids[: gen.prompt_length]), 0, ""), gen.sampling,
                   gen.target, 0, self.eos)  # fmt: skip
        copy.ids, copy.steps, copy.status = list(gen.ids), list(gen.steps), "done"
        handle = Handle(copy)
        weakref.finalize(handle, self.cancel, copy)
        return handle

    def fork(self, gen: Generation, step: int, token: int) -> Handle | None:
        """`own(gen)` branched at `step` with `token`; None where `branch` refuses."""
        handle = self.own(gen)
        return handle if self.branch(handle, step, token) else None

    def extend(self, handle: Handle) -> bool:
        """One more token after the last step of a generation no longer in progress (its own
        choice, with its sampling); False at end-of-text or MAX_NEW new tokens."""
        job = handle.job
        with self._changed:  # a reentrant lock: `branch` takes it again
            gen = job.snapshot(0)
            new = gen.new_ids
            if gen.live or not gen.steps or len(new) >= generation.MAX_NEW or self.eos in new[-1:]:
                return False
            grown = len(new) >= job.target
            job.target += grown
            token = generation.choose(gen.steps[-1].logits, job.sampling, job.rng)
            if self.branch(handle, len(gen.steps) - 1, token):
                job.stop = len(new) + 1  # one token, not on to the limit (a replay stops early)
                return True
            job.target -= grown
            return False

    def load(self) -> tuple[int, int]:
        """(generations in progress, queued)."""
        with self._changed:
            return len(self._active), len(self._queue)

    # ------------------------------------------------------------ the worker

    def _place(self, job: Job) -> int:
        return self._queue.index(job) + 1 if job in self._queue else 0

    def _forget(self, job: Job) -> None:
        if job in self._queue:
            self._queue.remove(job)
        if job in self._active:
            self._active.remove(job)
        if job.cache is not None:  # its slot is taken again after the step in flight, if any
            self.pool.release(job.cache)
        job.cache = None

    def _admit(self) -> None:
        """Drop what was cancelled; let queued generations in while there is room."""
        for job in [j for j in (*self._active, *self._queue) if j.status == "cancelled"]:
            self._forget(job)
        budget = self.prefill
        while self._queue and len(self._active) < self.limit:
            job = self._queue[0]
            if job.branch:  # its cache went with the branch request (see `branch`)
                self._apply_branch(job)
            elif len(job.feed) > budget and budget < self.prefill:
                break  # its prompt waits for the next step's budget
            budget -= len(job.feed)
            if job.cache is None:
                job.cache = self.pool.cache(job.prompt_length + job.target)
                if job.steps:  # a branch of a finished generation: its keys are in its traces
                    self._refill(job)
            self._queue.popleft()
            job.status = "running"
            self._active.append(job)
        if not self._active and self.pool.slots:  # idle: the memory it grew to goes
            self.pool = self.net.pool(self.limit)

    def _apply_branch(self, job: Job) -> None:
        (step, token), job.branch = job.branch, None
        keep = job.prompt_length + step
        del job.ids[keep:], job.steps[step + 1 :]
        job.feed, job.script = [token], ()  # a branch leaves the linked tokens

    def _refill(self, job: Job) -> None:
        """Rebuild the cache from the traces: each step's trace holds its positions' k and v."""
        cache = job.cache
        for name, buffer in (("k", cache.k), ("v", cache.v)):
            parts = np.concatenate([getattr(s, name) for s in job.steps], axis=2)
            buffer[:, :, : parts.shape[2]] = torch.from_numpy(parts)
        cache.length = len(job.ids)

    def _run(self) -> None:
        while True:
            with self._changed:
                self._admit()
                while not self._active:
                    self._changed.wait()
                    self._admit()
                batch = [(job, job.feed, job.cache) for job in self._active]
            try:
                results = self.net.step([(feed, cache) for _, feed, cache in batch])
            except Exception:  # noqa: BLE001 - the worker must outlive one bad step
                log.exception("a decoding step failed")
                with self._changed:
                    for job, _, _ in batch:
                        self._forget(job)
                        job.status = "failed"
                    self._changed.notify_all()
                continue
            with self._changed:
                for (job, feed, _), (_, trace) in zip(batch, results, strict=True):
                    if job.status == "running" and job.branch is None:
                        self._keep(job, feed, trace)
                self._changed.notify_all()

    def _keep(self, job: Job, feed: list[int], trace) -> None:
        if job.steps:  # the token it read is now part of the sequence
            job.ids.extend(feed)
        job.steps.append(trace)
        if job.ended():
            job.status = "done"
            self._forget(job)
        else:  # drawn even where scripted: a replay's generator stays where the original's was
            token = generation.choose(trace.logits, job.sampling, job.rng)
            n = len(job.steps) - 1  # the new token this step chooses: n + 1
            job.feed = [job.script[n] if n < len(job.script) else token]
