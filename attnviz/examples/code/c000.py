"""Article 000, corrected: an LSTM encoder, attention pooling over time, an LSTM decoder.

Widths 4 -> 6 -> 4 instead of 50 -> 256 -> 50 so every number fits on a screen; 5 time steps,
a batch of 2 sequences, seeded weights (untrained).

    python -m attnviz.examples.code.c000
"""

import torch
from torch import nn

FEATURES, HIDDEN, STEPS, BATCH = 4, 6, 5, 2


class AttentionLSTM(nn.Module):
    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        # (batch, time, features) everywhere: dims are named by position, not guessed
        self.encoder = nn.LSTM(features, hidden, batch_first=True)  # fix: e000_batch_axis
        self.score = nn.Linear(hidden, 1)  # s_t = w·h_t + b, one number per step  # fix: e000_gate
        self.decoder = nn.LSTM(hidden, features, batch_first=True)

    def forward(self, x: torch.Tensor):
        """x (B, T, E) -> alpha (B, T), context c (B, H), decoded (B, T, E)."""
        states, _ = self.encoder(x)  # h_t: (B, T, H)
        scores = self.score(states).squeeze(-1)  # (B, T)
        alpha = torch.softmax(scores, dim=-1)  # over the T time steps, for each sequence
        context = (alpha.unsqueeze(-1) * states).sum(dim=1)  # c = sum_t alpha_t h_t: (B, H)
        decoded, _ = self.decoder(context.unsqueeze(1).expand(-1, x.shape[1], -1))  # c each step
        return alpha, context, decoded


def demo():
    """Seeded model and inputs (B, T, E); a wide scorer stands in for a trained one."""
    torch.manual_seed(0)
    model = AttentionLSTM(FEATURES, HIDDEN).double()
    nn.init.normal_(model.score.weight, std=4.0)
    inputs = torch.randn(BATCH, STEPS, FEATURES, dtype=torch.float64)
    return model, inputs


def main() -> None:
    model, inputs = demo()
    with torch.no_grad():
        alpha, context, decoded = model(inputs)
    torch.set_printoptions(precision=4, sci_mode=False)
    print("alpha (each row sums to 1 over time) =", alpha, sep="\n")
    print("row sums =", alpha.sum(dim=-1))
    print("c =", context, sep="\n")
    print("decoder output at t = 1 =", decoded[:, 0], sep="\n")


if __name__ == "__main__":
    main()
