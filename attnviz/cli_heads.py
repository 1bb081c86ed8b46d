"""The `heads`, `ablate` and `attribute` commands (registered by attnviz/__main__.py).

    python -m attnviz heads --model smollm2 --score induction --out F.npz [--length N] [--seed S]
    python -m attnviz ablate --model smollm2 --text T --heads L.H[,L.H...] --out F.npz
    python -m attnviz attribute --model sentiment-en|sentiment-zh|lstm-en|lstm-zh --text T
        --out F.npz

Heads are written L.H, 1-based; every array is float32 except ids (int64) and texts.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import numpy as np

from attnviz.errors import InputError
from attnviz.zoo import registry

CLASSIFIERS = sorted(name for name, m in registry.MODELS.items() if m.family == "classifier")


def _report(path: str, arrays: dict[str, np.ndarray]) -> None:
    shapes = ", ".join(f"{name} {tuple(np.shape(value))}" for name, value in arrays.items())
    print(f"wrote {path}: {shapes}")


def cmd_heads(args: argparse.Namespace) -> None:
    from attnviz import knownheads
    from attnviz.zoo import llama

    knownheads.check_length(args.length)  # before the model loads
    known = knownheads.find(llama.load(), args.length, args.seed)
    names = dict.fromkeys((args.score, "induction", "previous_token"))  # once each, in order
    arrays = {"ids": known.ids, **{n: known.scores[n].astype(np.float32) for n in names}}
    args.write(args.out, arrays)
    _report(args.out, arrays)


def cmd_ablate(args: argparse.Namespace) -> None:
    from attnviz import intervene
    from attnviz.ablation import Ablation, parse_heads
    from attnviz.zoo import llama

    decoder = llama.load()
    c = decoder.config
    heads = parse_heads(args.heads, c.layers, c.heads)  # checked before the forwards
    ids = decoder.tokenizer.encode(args.text)
    if len(ids) == 0:
        raise InputError("error.generate_empty")
    arrays = {
        "ids": np.asarray(ids, dtype=np.int64),
        "logits_clean": intervene.decoder_logits(decoder.net, ids).astype(np.float32),
        "logits_ablated": intervene.decoder_logits(decoder.net, ids, Ablation(heads)).astype(
            np.float32
        ),
    }
    args.write(args.out, arrays)
    _report(args.out, arrays)


def cmd_attribute(args: argparse.Namespace) -> None:
    from attnviz import attribution
    from attnviz.zoo import classifier

    arrays = attribution.classifier(classifier.load(args.model), args.text).arrays()
    args.write(args.out, arrays)
    _report(args.out, arrays)


def add_commands(commands, write: Callable[[str, dict], None]) -> None:
    """Add the three commands to `commands` (argparse subparsers); `write` saves an .npz."""
    from attnviz.knownheads import SCORES

    heads = commands.add_parser("heads", help="score every head on a repeated random sequence")
    heads.add_argument("--model", required=True, choices=["smollm2"])
    heads.add_argument("--score", required=True, choices=SCORES)
    heads.add_argument("--length", type=int, default=32, help="N random tokens, repeated once")
    heads.add_argument("--seed", type=int, default=0)
    heads.add_argument("--out", required=True, help="output .npz file")
    heads.set_defaults(run=cmd_heads, write=write)

    ablate = commands.add_parser("ablate", help="next-token logits with heads zeroed")
    ablate.add_argument("--model", required=True, choices=["smollm2"])
    ablate.add_argument("--text", required=True)
    ablate.add_argument("--heads", required=True, help="L.H[,L.H...], 1-based")
    ablate.add_argument("--out", required=True, help="output .npz file")
    ablate.set_defaults(run=cmd_ablate, write=write)

    attribute = commands.add_parser("attribute", help="attention beside attributions per token")
    attribute.add_argument("--model", required=True, choices=CLASSIFIERS)
    attribute.add_argument("--text", required=True)
    attribute.add_argument("--out", required=True, help="output .npz file")
    attribute.set_defaults(run=cmd_attribute, write=write)
