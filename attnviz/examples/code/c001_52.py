"""Article 001 §5.2, corrected: a text classifier that reads a text through attention pooling.

The pooling is the app's own attention (`attnviz.attention.compute`, score "linear": every
token gets the score w·eₜ + b, the same for any query), so this model and the page's walks run
one computation. Our toy data: label 1 when a text contains "b". Batches keep their batch
axis, <PAD> is masked, the held-out part is drawn at random, and each epoch reports the mean
loss over all its samples.

    python -m attnviz.examples.code.c001_52
"""

import torch
from torch import nn

from attnviz.attention import compute

PAD = 0
# (text, label), sorted by label as exported tables often are
DATA = (
    ("ac", 0), ("ca", 0), ("cca", 0), ("aca", 0), ("cac", 0),
    ("aac", 0), ("ab", 1), ("bca", 1), ("cb", 1), ("abc", 1),
)  # fmt: skip
WIDTH, EPOCHS, BATCH = 4, 30, 4


def char_ids(texts) -> tuple[torch.Tensor, tuple[str, ...]]:
    """(N, T) ids of the characters, <PAD> (0) after a text ends; and the alphabet, id -> char."""
    alphabet = ("<PAD>", *sorted(set("".join(texts))))
    ids = torch.full((len(texts), max(map(len, texts))), PAD)  # (N, T), all <PAD> to start
    for row, text in enumerate(texts):
        ids[row, : len(text)] = torch.tensor([alphabet.index(char) for char in text])
    return ids, alphabet


class Gate(nn.Module):
    """Attention pooling with a learned gate: one score per token, softmax, weighted sum."""

    def __init__(self, width: int) -> None:
        super().__init__()
        # w is (E,): one score per token, where the article's layer gave hidden_dim of them
        self.w = nn.Parameter(torch.randn(width) / width**0.5)  # fix: e001_squeeze
        self.b = nn.Parameter(torch.zeros(()))

    def forward(self, tokens: torch.Tensor, ids: torch.Tensor):
        """tokens (B, T, E) -> the attention Steps, one query row per text (Tq = 1)."""
        keep = (ids != PAD)[:, None, :].numpy()  # (B, 1, T): <PAD> weighs 0  # fix: e001_padding
        row = tokens[:, :1]  # the linear score ignores the query; this only makes Tq = 1
        gate = {"w": self.w, "b": self.b}
        return compute(row, tokens, tokens, score="linear", params=gate, allowed=keep)


class Reader(nn.Module):
    """ids (B, T) -> one logit per text (B,) and the attention weights (B, T)."""

    def __init__(self, symbols: int, width: int) -> None:
        super().__init__()
        self.vectors = nn.Embedding(symbols, width)  # ids -> vectors  # fix: e001_ids_embeddings
        self.gate = Gate(width)
        self.logit = nn.Linear(width, 1)  # as wide as the pooled vector  # fix: e001_fc_width

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        steps = self.gate(self.vectors(ids), ids)
        return self.logit(steps.context[:, 0]).squeeze(-1), steps.weights[:, 0]


def held_out(n: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Row numbers to train on and to hold out (a fifth), drawn at random with a seed."""
    drawn = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # fix: e001_split
    return drawn[n // 5 :], drawn[: n // 5]


def train(model: Reader, ids: torch.Tensor, answers: torch.Tensor) -> list[float]:
    """Adam on the binary cross-entropy of one logit; returns each epoch's mean loss."""
    bce = nn.BCEWithLogitsLoss(reduction="sum")
    adam = torch.optim.Adam(model.parameters(), lr=0.05)
    draw = torch.Generator().manual_seed(1)
    means = []
    for _ in range(EPOCHS):
        summed = 0.0
        for rows in torch.randperm(len(ids), generator=draw).split(BATCH):
            logits, _ = model(ids[rows])  # (B, T) in, (B,) out  # fix: e001_unbatched
            loss = bce(logits, answers[rows].float())  # float answers  # fix: e001_target_dtype
            adam.zero_grad()
            (loss / len(rows)).backward()
            adam.step()
            summed += loss.item()
        means.append(summed / len(ids))  # over every sample, not the last  # fix: e001_epoch_loss
    return means


def accuracy(model: Reader, ids: torch.Tensor, answers: torch.Tensor) -> float:
    with torch.no_grad():
        logits, _ = model(ids)
    return ((logits > 0).long() == answers).float().mean().item()


def fit():
    """The whole recipe, seeded: (model, ids, answers, alphabet, train rows, held-out rows,
    mean loss per epoch)."""
    torch.manual_seed(0)
    texts, classes = zip(*DATA, strict=True)
    ids, alphabet = char_ids(texts)
    answers = torch.tensor(classes)
    train_rows, test_rows = held_out(len(ids))
    model = Reader(len(alphabet), WIDTH)
    means = train(model, ids[train_rows], answers[train_rows])
    return model, ids, answers, alphabet, train_rows, test_rows, means


def main() -> None:
    model, ids, answers, alphabet, train_rows, test_rows, means = fit()
    print("alphabet:", " ".join(f"{i}={char}" for i, char in enumerate(alphabet)))
    print("held-out classes:", answers[test_rows].tolist())
    for epoch in (1, 10, 20, EPOCHS):
        print(f"epoch {epoch:2}: mean loss {means[epoch - 1]:.4f}")
    print(f"accuracy: train {accuracy(model, ids[train_rows], answers[train_rows]):.2f},", end=" ")
    print(f"validation {accuracy(model, ids[test_rows], answers[test_rows]):.2f}")


if __name__ == "__main__":
    main()
