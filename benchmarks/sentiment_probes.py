"""How far the Chinese reviews let any model go: two probes of other kinds on the very split the
classifiers train and are tested on (data.corpus("zh", ...)), recorded in models/*-zh/CARD.md.

    python benchmarks/sentiment_probes.py nb [--longest N] [--alpha A]
                                                        # character 1- to N-gram naive Bayes
    python benchmarks/sentiment_probes.py e5 [--train N] [--max-tokens T]
                                                        # frozen multilingual-e5-small, mean-pooled,
                                                        # + logistic regression

nb: multinomial naive Bayes over character 1- to N-grams (default 3), additive smoothing A
(default 1), tens of seconds.
e5: the app's own E5 encoder (4-bit, 12 layers) embeds each text once, with the "query: " prefix
its model card asks for, cut at T tokens; a logistic regression (torch, L-BFGS, L2 1e-4) is fit on
the embeddings of N training texts (all by default; fewer to finish sooner on a busy machine).
Both print the held-out accuracy.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

# Run as a script from anywhere: the repository root holds the attnviz package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attnviz.loading import data  # noqa: E402


def grams(text: str, longest: int) -> Counter:
    return Counter(text[i : i + n] for n in range(1, longest + 1) for i in range(len(text) - n + 1))


def naive_bayes(longest: int, alpha: float) -> float:
    texts, labels, _ = data.corpus("zh", "train")
    classes = int(labels.max()) + 1
    counts = [Counter() for _ in range(classes)]
    for text, label in zip(texts, labels, strict=True):
        counts[label].update(grams(text, longest))
    vocab = set().union(*counts)
    totals = [sum(c.values()) + alpha * len(vocab) for c in counts]
    prior = np.log(np.bincount(labels) / len(labels))
    held_texts, held_labels, _ = data.corpus("zh", "held_out")
    right = 0
    for text, label in zip(held_texts, held_labels, strict=True):
        seen = [(g, n) for g, n in grams(text, longest).items() if g in vocab]
        score = [
            prior[c] + sum(n * np.log((counts[c][g] + alpha) / totals[c]) for g, n in seen)
            for c in range(classes)
        ]
        right += int(np.argmax(score)) == label
    return right / len(held_texts)


def embed(texts: list[str], max_tokens: int) -> np.ndarray:
    """(N, D) mean-pooled, unit-length E5 embeddings, one text at a time (no padding)."""
    from attnviz.zoo import bert

    model = bert.load("e5")
    out = []
    with torch.inference_mode():
        for text in texts:
            enc = model.tokenizer.encode("query: " + text)
            ids = torch.as_tensor(enc.ids[:max_tokens])
            x = model.net.embed(ids, torch.zeros_like(ids))
            allowed = np.ones((len(ids), len(ids)), dtype=bool)
            for layer in model.net.layers:
                x, _ = layer(x, allowed)
            out.append(torch.nn.functional.normalize(x.mean(dim=0), dim=0).numpy())
    return np.stack(out)


def logistic_regression(x: np.ndarray, y: np.ndarray, classes: int) -> torch.nn.Linear:
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], classes)
    xs, ys = torch.as_tensor(x), torch.as_tensor(y)
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(xs), ys)
        loss = loss + 1e-4 * linear.weight.square().sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return linear


def encoder_probe(train: int | None, max_tokens: int) -> float:
    texts, labels, _ = data.corpus("zh", "train")
    if train is not None:  # a fixed random subset of the training part
        chosen = np.random.default_rng(0).permutation(len(texts))[:train]
        texts, labels = [texts[i] for i in chosen], labels[chosen]
    held_texts, held_labels, _ = data.corpus("zh", "held_out")
    linear = logistic_regression(embed(texts, max_tokens), labels, int(labels.max()) + 1)
    with torch.no_grad():
        predicted = linear(torch.as_tensor(embed(held_texts, max_tokens))).argmax(dim=1).numpy()
    return float((predicted == held_labels).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("probe", choices=("nb", "e5"))
    parser.add_argument("--longest", type=int, default=3, help="nb: longest n-gram")
    parser.add_argument("--alpha", type=float, default=1.0, help="nb: additive smoothing")
    parser.add_argument("--train", type=int, help="e5: training texts used (default all)")
    parser.add_argument("--max-tokens", type=int, default=128, help="e5: tokens read per text")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    if args.probe == "nb":
        accuracy = naive_bayes(args.longest, args.alpha)
    else:
        accuracy = encoder_probe(args.train, args.max_tokens)
    took = time.perf_counter() - start
    print(f"{args.probe} {vars(args)}: held-out accuracy {accuracy:.4f} ({took:.0f} s wall)")


if __name__ == "__main__":
    main()
