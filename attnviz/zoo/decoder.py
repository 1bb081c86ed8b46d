"""The registry's contract for the LLaMA-style decoder (SmolLM2): the model and its prompt live
in zoo/llama.py (generation, over it, in attnviz/generation.py); this file only adapts them.

`run` gives the `.npz` arrays of one forward over the prompt directly, so `npz_arrays` passes
them on.
"""

from __future__ import annotations

import numpy as np

from attnviz import opentrace

READS = "text"


def prepare(request) -> str:
    return request.text  # checked when the prompt is prepared


def load(name: str = "smollm2"):
    from attnviz.zoo import llama

    return llama.load()


def run(model, name: str, text: str) -> dict[str, np.ndarray]:
    """What `python -m attnviz trace --model smollm2` writes: one forward over the text."""
    prompt = model.prompt(text)
    trace = model.net(prompt.ids)[2]
    return {  # an open trace (attnviz/opentrace.py) with the ids, logits and cut besides
        "version": np.array(opentrace.VERSION),
        "model": np.array(name),
        "ids": np.asarray(prompt.ids, dtype=np.int64),  # (T,)
        "tokens": np.array(model.tokenizer.labels(prompt.ids), dtype=str),  # (T,)
        "attentions": np.asarray(trace.weights, dtype=np.float32),  # (L, H, T, T)
        "logits": np.asarray(trace.logits, dtype=np.float32),  # (V,) of the last position
        "dropped": np.array(prompt.dropped),  # tokens cut from the front (over MAX_PROMPT)
    }


def npz_arrays(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return arrays
