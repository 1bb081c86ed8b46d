"""What every load scenario shares: the students' words, reading the servers from /proc, quantiles.

The scenarios (benchmarks/load.py: a lecture; load_generate.py: a class generating at once;
load_sentences.py: a class submitting sentences at once; soak.py: a long lecture) import it.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

SUBJECTS = (
    "the teacher",
    "my sister",
    "a tired student",
    "the old fisherman",
    "our neighbour",
    "the young doctor",
    "a curious child",
    "the small robot",
    "the farmer",
    "my friend",
)
VERBS = ("gave", "showed", "sold", "lent", "described", "returned", "painted", "explained")
OBJECTS = (
    "a red apple",
    "the blue notebook",
    "an old map",
    "the broken clock",
    "a warm coat",
    "the long letter",
    "a paper boat",
    "the heavy box",
    "a strange song",
    "the last ticket",
)
PLACES = ("near the river", "after the long lecture", "before the rain started",
          "in the crowded station", "at the end of the day", "behind the library")  # fmt: skip


def sentence(rng: random.Random, number: int) -> str:
    """A different English sentence of about 30 MiniLM tokens for every student."""
    s = rng.choice(SUBJECTS)
    return (
        f"{s.capitalize()} {rng.choice(VERBS)} {rng.choice(OBJECTS)} to student {number} "
        f"{rng.choice(PLACES)}, because {rng.choice(SUBJECTS)} {rng.choice(VERBS)} "
        f"{rng.choice(OBJECTS)} {rng.choice(PLACES)} yesterday."
    )


class ProcWatch:
    """CPU seconds and resident memory of some processes, read from /proc."""

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.tick = os.sysconf("SC_CLK_TCK")
        self.peak_rss = 0

    def cpu_seconds(self) -> float:
        total = 0
        for pid in self.pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError):
                pass
        return total / self.tick

    def rss_mb(self) -> float:
        total = 0
        for pid in self.pids:
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total / 1024

    async def sample(self, every: float = 0.25) -> None:
        while True:
            self.peak_rss = max(self.peak_rss, self.rss_mb())
            await asyncio.sleep(every)


def descendants(pids: list[int]) -> list[int]:
    """`pids` and every process below them (nginx's workers)."""
    children = defaultdict(list)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children[int(fields[1])].append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            pass
    found, todo = [], list(pids)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def quantiles(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{np.median(a):.2f} | {np.percentile(a, 95):.2f} | {a.max():.2f}"
