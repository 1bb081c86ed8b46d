"""Article 004 §4, corrected: a decoder state attends over a CNN feature map (cross-attention).

The query comes from the decoder's state (B, H); the keys and values from the encoder's
features, one per position of the map (B, P, C). Two 4 x 4 pictures make a batch of B = 2.

    python -m attnviz.examples.code.c004
"""

import math

import torch
from torch import nn

SIDE, CHANNELS, STATE, KEY = 4, 8, 8, 4  # 4 x 4 map, 8 channels, state 8 wide, keys 4 wide


class CrossAttention(nn.Module):
    def __init__(self, state_width: int, feature_width: int, key_width: int) -> None:
        super().__init__()
        self.to_q = nn.Linear(state_width, key_width, bias=False)  # fix: e004_undefined
        self.to_k = nn.Linear(feature_width, key_width, bias=False)
        self.to_v = nn.Linear(feature_width, key_width, bias=False)

    def forward(self, state: torch.Tensor, features: torch.Tensor):
        """state (B, H), features (B, P, C) -> weights (B, 1, P), context (B, 1, key_width)."""
        q = self.to_q(state).unsqueeze(1)  # (B, 1, dk): one query per item  # fix: e004_broadcast
        k = self.to_k(features)  # keys and values: from the features  # fix: e004_cross
        v = self.to_v(features)  # (B, P, dk) each
        scores = q @ k.transpose(1, 2)  # (B, 1, P)
        scaled = scores / math.sqrt(k.shape[-1])  # sqrt(d_k), the key width  # fix: e004_scale
        weights = torch.softmax(scaled, dim=-1)  # over the P positions
        return (
            weights,
            weights @ v,
        )  # the weights, not the scores, mix v  # fix: e004_scores_weights


def pictures() -> torch.Tensor:
    """Two 1-channel pictures (B, 1, 4, 4): a bright 2 x 2 square top-left, then bottom-right."""
    images = torch.zeros(2, 1, SIDE, SIDE, dtype=torch.float64)
    images[0, 0, :2, :2] = 1.0
    images[1, 0, 2:, 2:] = 1.0
    return images


def demo():
    """Seeded stand-ins for trained weights; returns (images, features, state, attention)."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, CHANNELS, kernel_size=3, padding=1).double()  # fix: e004_no_conv
    nn.init.normal_(conv.weight, std=0.3)  # visible contrast (PyTorch's default is tiny)
    attention = CrossAttention(STATE, CHANNELS, KEY).double()
    for layer in (attention.to_q, attention.to_k, attention.to_v):
        nn.init.normal_(layer.weight, std=1.0)
    state = torch.randn(2, STATE, dtype=torch.float64)  # the decoder's state, one per picture
    images = pictures()
    with torch.no_grad():
        features = torch.relu(conv(images)).flatten(2).transpose(1, 2)  # (B, P = 16, C)
    return images, features, state, attention


def main() -> None:
    _, features, state, attention = demo()
    with torch.no_grad():
        weights, context = attention(state, features)
    torch.set_printoptions(precision=3, sci_mode=False)
    print("state", tuple(state.shape), "features", tuple(features.shape))
    print("weights", tuple(weights.shape), "context", tuple(context.shape))
    for b in range(len(state)):
        print(
            f"picture {b + 1}: weights on the 4 x 4 map",
            weights[b, 0].reshape(SIDE, SIDE),
            sep="\n",
        )


if __name__ == "__main__":
    main()
