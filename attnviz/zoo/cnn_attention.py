"""004's CNN with spatial self-attention over its feature map, with the article's gaps filled.

    x = maxpool(relu(conv(x))) twice                       (B, C, S, S)   S = 7 for 28 × 28
    q, k = 1×1 conv(x), 1×1 conv(x)                        (B, P, Dk)     P = S × S positions
    v = 1×1 conv(x)                                        (B, P, C)
    context = softmax(q kᵀ / √Dk) v                        (B, P, C)      attention.compute
    y = gate · context + x                                 learned residual gate, starts at 0
    logits = fc(flatten(y))                                (B, 10)

The article reads projection weights it never creates and scales by the hidden size; here the
projections are 1×1 convolutions (one linear map per position) and the scale is 1/√Dk.
`forward` returns `(logits, steps)`; nothing is stored on the module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from attnviz import attention, loading
from attnviz.loading import trained
from attnviz.trace import DigitTrace
from attnviz.zoo import registry
from attnviz.zoo.registry import Prediction

SIDE = 28  # MNIST pictures are 28 × 28


@dataclass(frozen=True)
class DigitsConfig:
    name: str
    channels: tuple[int, int]  # widths of the two convolutions; C = channels[1]
    key_width: int  # Dk of q and k
    classes: int

    def __post_init__(self) -> None:
        if min(*self.channels, self.key_width, self.classes) <= 0:
            raise ValueError("channels, key_width and classes must be positive")

    @property
    def side(self) -> int:
        """S: the feature map's side after two 2 × 2 poolings."""
        return SIDE // 4


class DigitsCNN(nn.Module):
    def __init__(self, config: DigitsConfig) -> None:
        super().__init__()
        c1, c2 = config.channels
        self.config = config
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.query = nn.Conv2d(c2, config.key_width, 1)
        self.key = nn.Conv2d(c2, config.key_width, 1)
        self.value = nn.Conv2d(c2, c2, 1)
        self.gate = nn.Parameter(torch.zeros(1))  # starts as the identity: y = x
        self.dropout = nn.Dropout(0.3)  # active only while training
        self.fc = nn.Linear(c2 * config.side**2, config.classes)

    def forward(self, pixels: torch.Tensor) -> tuple[torch.Tensor, attention.Steps]:
        """pixels (B, 1, 28, 28) in [0, 1] -> logits (B, 10), steps over P positions."""
        x = F.max_pool2d(F.relu(self.conv1(pixels)), 2)  # (B, C1, 14, 14)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (B, C, S, S)
        b, c, s, _ = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, P, Dk)
        k = self.key(x).flatten(2).transpose(1, 2)  # (B, P, Dk)
        v = self.value(x).flatten(2).transpose(1, 2)  # (B, P, C)
        steps = attention.compute(q, k, v, score="scaled_dot")
        context = steps.context.transpose(1, 2).reshape(b, c, s, s)  # (B, C, S, S)
        y = self.gate * context + x  # (B, C, S, S)
        return self.fc(self.dropout(y.flatten(1))), steps


@dataclass(frozen=True)
class Loaded:
    config: DigitsConfig
    model: DigitsCNN
    device: torch.device


def load(name: str = "digits") -> Loaded:
    """models/digits/ read strictly (see loading.trained.load_strict)."""
    folder = registry.model_dir(name)
    config = trained.as_config(DigitsConfig, trained.read_config(folder))
    model = trained.load_strict(DigitsCNN(config), folder / "model.safetensors")
    device = loading.pick_device()
    return Loaded(config, model.to(device).eval(), device)


def trace(loaded: Loaded, pixel_values: np.ndarray) -> DigitTrace:
    """One (28, 28) picture in [0, 1] (ink bright) through the loaded model."""
    pixels = torch.as_tensor(np.asarray(pixel_values, dtype=np.float32), device=loaded.device)
    with torch.no_grad():
        logits, steps = loaded.model(pixels[None, None])  # (1, 10)
    logits = logits[0].double()
    step = attention.sample_step(steps, 0, "scaled_dot")
    return DigitTrace(
        pixel_values=np.asarray(pixel_values, dtype=np.float32),
        side=loaded.config.side,
        step=step,
        gate=loaded.model.gate.item(),
        logits=attention.to_numpy(logits),
        probabilities=attention.to_numpy(torch.softmax(logits, dim=0)),
    )


READS = "image"


def prepare(request) -> np.ndarray:
    """The (28, 28) picture of a registry.Request's image bytes (InputError if unreadable)."""
    from attnviz import digit_images

    return digit_images.from_bytes(request.image)[0]


def notes(name: str, request) -> tuple:
    """What the digits page says about this picture too (e.g. it does not look like a digit)."""
    from attnviz import digit_images

    return digit_images.from_bytes(request.image)[1]


def run(model: Loaded, name: str, pixel_values: np.ndarray) -> DigitTrace:
    return trace(model, pixel_values)


def predict(result: DigitTrace):
    arrays = npz_arrays(result)
    shares = zip(map(str, range(len(result.logits))), arrays["probabilities"].tolist(), strict=True)
    return Prediction(str(arrays["prediction"]), shares=tuple(shares))


def npz_arrays(result) -> dict[str, np.ndarray]:
    """The .npz arrays of one trace (the page's download and the CLI's `trace`)."""
    return {
        "pixel_values": result.pixel_values,  # (28, 28)
        "attentions": result.step.weights.astype(np.float32),  # (P, P)
        "prediction": np.array(result.prediction),
        "probabilities": result.probabilities.astype(np.float32),  # (10,)
    }
