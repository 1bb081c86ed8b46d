"""Greedy decoding of the two date models: attention through `attention.compute` (every
intermediate kept, inputs checked) against the same network with the attention written as plain
fused torch (`torch.softmax`, no checks, W2·h computed once per input), on the same weights.

    python benchmarks/bench_seq2seq.py [--repeat 7] [--batch 512]

Prints a markdown table: a batch of held-out dates (all forms mixed) and one page trace
(batch 1, numpy copy included). Median of `repeat` rounds after one warm-up; the two take turns
within each round, so a change in the shared machine's load hits both alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attnviz import dateforms  # noqa: E402
from attnviz.train import dates  # noqa: E402
from attnviz.zoo import seq2seq  # noqa: E402


@torch.inference_mode()
def reference(model, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The decoder loop of Seq2Seq.forward with the score function and softmax inlined."""
    h, s, allowed = model.encode(ids, lengths)
    p = model.score_params
    # once per input: W2·h_j (B, Tk, Da) for additive, W·h_j (B, Tk, Dd) for general
    wk = h @ (p["W2"] if model.config.score == "additive" else p["W"]).T
    hidden = None if allowed is None else torch.from_numpy(~allowed[:, 0])  # (B, Tk)
    prev = torch.zeros(ids.shape[0], dtype=torch.long)
    out = []
    for _ in range(model.config.out_len):
        if model.config.score == "additive":
            scores = torch.tanh((s @ p["W1"].T).unsqueeze(1) + wk) @ p["w"]  # (B, Tk)
        else:
            scores = (wk @ s.unsqueeze(-1)).squeeze(-1)  # (B, Tk)
        if hidden is not None:
            scores = scores.masked_fill(hidden, float("-inf"))
        context = (torch.softmax(scores, -1).unsqueeze(1) @ h).squeeze(1)  # (B, 2He)
        e = model.out_embed(prev)
        s = model.cell(torch.cat([e, context], -1), s)
        logits = model.readout(torch.cat([s, context, e], -1))
        out.append(logits)
        prev = logits.argmax(-1)
    return torch.stack(out, 1)


def inference(model, ids, lengths):
    """Seq2Seq.forward without autograd, like the reference."""

    @torch.inference_mode()
    def run():
        return model(ids, lengths)

    return run


def timed(fns: list, repeat: int) -> list[float]:
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[i].append((time.perf_counter() - start) * 1000)
    return [statistics.median(t) for t in times]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args(argv if argv is not None else [])
    _, held = dates.split()
    per_form = dates.held_out_set(held, per_form=args.batch // len(dateforms.FORMS) + 1)
    texts = [dateforms.render(f, d) for f, days in per_form.items() for d in days][: args.batch]
    print(f"torch threads: {torch.get_num_threads()}\n")
    print("| model | input | ours (ms) | plain torch (ms) | ratio | same output |")
    print("|---|---|---|---|---|---|")
    one = "Sunday, 22 November 2026"
    for name in ("dates-additive", "dates-general"):
        model = seq2seq.load(name).cpu()
        print(row(model, texts, f"{len(texts)} held-out dates", args.repeat))
        print(row(model, [one], f"one page trace ({len(one)} chars)", args.repeat))


def row(model, texts: list[str], label: str, repeat: int) -> str:
    """One table row; a single text is timed as the page runs it (`trace`, numpy included)."""
    ids, lengths = model.batch(texts)
    with torch.inference_mode():
        ours = model.trace(texts[0]).prediction if len(texts) == 1 else model(ids, lengths)
        ref = reference(model, ids, lengths)
    if len(texts) == 1:
        same = ours == model.decode(ref)[0]
        ours_ms, ref_ms = timed(
            [lambda: model.trace(texts[0]), lambda: reference(model, ids, lengths)], repeat
        )
    else:
        same = bool((ours.argmax(-1) == ref.argmax(-1)).all())
        ours_ms, ref_ms = timed(
            [inference(model, ids, lengths), lambda: reference(model, ids, lengths)], repeat
        )
    name = model.config.score
    return f"| {name} | {label} | {ours_ms:.1f} | {ref_ms:.1f} | {ours_ms / ref_ms:.2f} | {same} |"


if __name__ == "__main__":
    main(sys.argv[1:])
