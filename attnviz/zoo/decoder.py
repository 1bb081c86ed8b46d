"""The registry's contract for the LLaMA-style decoder (SmolLM2): the model and its generation
loop live in zoo/llama.py and attnviz/generation.py; this file only adapts them.

`run` gives the `.npz` arrays of one forward over the prompt directly (generation.trace_arrays),
so `npz_arrays` passes them on.
"""

from __future__ import annotations

import numpy as np

READS = "text"


def prepare(request) -> str:
    return request.text  # checked when the prompt is prepared


def load(name: str = "smollm2"):
    from attnviz.zoo import llama

    return llama.load()


def run(model, name: str, text: str) -> dict[str, np.ndarray]:
    from attnviz import generation

    return generation.trace_arrays(model, text)


def npz_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return arrays
