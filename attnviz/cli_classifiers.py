"""The CLI's side of the project's trained classifiers: sentiment-*, lstm-* and digits.

python -m attnviz trace --model sentiment-zh --text "..." --out F.npz
python -m attnviz trace --model digits --image digit.png --out F.npz
python -m attnviz predict --model lstm-en --text "..."
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from attnviz import digit_images
from attnviz.errors import InputError

TEXT = ("sentiment-zh", "sentiment-en", "lstm-zh", "lstm-en")
IMAGE = ("digits",)
NAMES = TEXT + IMAGE


def arrays(args: argparse.Namespace) -> dict[str, np.ndarray]:
    """tokens or pixel_values, attentions, prediction and probabilities of one input."""
    if args.model in IMAGE:
        from attnviz.zoo import cnn_attention

        if not args.image:
            raise InputError("error.cli_needs_image")
        try:
            data = Path(args.image).read_bytes()
        except OSError as exc:
            raise InputError("error.cli_unreadable", path=args.image, reason=exc.strerror) from None
        pixels, _ = digit_images.from_bytes(data)
        return cnn_attention.trace_arrays(pixels)
    from attnviz.zoo import classifier

    if args.text is None:
        raise InputError("error.cli_needs_text")
    return classifier.trace_arrays(args.model, args.text)


def predict(args: argparse.Namespace) -> None:
    """One line: the predicted class and the probability of each class."""
    result = arrays(args)
    labels = result["labels"] if "labels" in result else [str(d) for d in range(10)]
    shares = "  ".join(
        f"{label} {p:.4f}" for label, p in zip(labels, result["probabilities"], strict=True)
    )
    print(f"{result['prediction']}  ({shares})")
