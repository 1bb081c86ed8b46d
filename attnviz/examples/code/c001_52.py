"""Article 001 §5.2, corrected: a sequence classifier that pools token embeddings by attention.

Our toy data: label 1 when a text contains "b". Batches keep their batch axis, padding is
masked, the split is shuffled, and each epoch reports the mean loss over all its samples.

    python -m attnviz.examples.code.c001_52
"""

import torch
from torch import nn

PAD = 0
# (text, label), sorted by label as exported tables often are
DATA = (
    ("ac", 0), ("ca", 0), ("cca", 0), ("aca", 0), ("cac", 0),
    ("aac", 0), ("ab", 1), ("bca", 1), ("cb", 1), ("abc", 1),
)  # fmt: skip
WIDTH, EPOCHS, BATCH = 4, 30, 4


def encode(texts) -> tuple[torch.Tensor, dict[str, int]]:
    """Character ids (N, T), <PAD> = 0 after the end of each text; ids in order of first use."""
    vocab = {"<PAD>": PAD}
    for text in texts:
        for char in text:
            vocab.setdefault(char, len(vocab))
    longest = max(len(text) for text in texts)
    rows = [[vocab[char] for char in text] + [PAD] * (longest - len(text)) for text in texts]
    return torch.tensor(rows), vocab


class PooledClassifier(nn.Module):
    def __init__(self, vocab_size: int, width: int) -> None:
        super().__init__()
        self.table = nn.Embedding(vocab_size, width)
        self.scorer = nn.Linear(width, 1)  # one score per token  # fix: e001_squeeze
        self.head = nn.Linear(width, 1)  # reads the pooled embedding  # fix: e001_fc_width

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, T) -> one logit per sequence (B,) and the weights alpha (B, T)."""
        e = self.table(ids)  # embeddings come from the ids here  # fix: e001_ids_embeddings
        s = self.scorer(e).squeeze(-1)  # s_t = w·e_t + b: (B, T)
        s = s.masked_fill(ids == PAD, float("-inf"))  # <PAD> gets weight 0  # fix: e001_padding
        alpha = torch.softmax(s, dim=-1)
        pooled = torch.einsum("bt,bte->be", alpha, e)  # sum_t alpha_t e_t: (B, E)
        return self.head(pooled).squeeze(-1), alpha


def split(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Row numbers of an 80/20 split after a seeded shuffle."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # fix: e001_split
    cut = int(0.8 * n)
    return order[:cut], order[cut:]


def train(model: PooledClassifier, ids: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """Adam on binary cross-entropy; returns the mean loss of each epoch."""
    loss_fn = nn.BCEWithLogitsLoss()  # binary cross-entropy on one logit  # fix: e001_loss_name
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    shuffle = torch.Generator().manual_seed(1)
    history = []
    for _ in range(EPOCHS):
        total = 0.0
        for rows in torch.randperm(len(ids), generator=shuffle).split(BATCH):
            batch_ids = ids[rows]  # new names: ids and labels stay whole  # fix: e001_rebind
            batch_labels = labels[rows].float()  # fix: e001_target_dtype
            logits, _ = model(batch_ids)  # (B, T) in, (B,) out  # fix: e001_unbatched
            loss = loss_fn(logits, batch_labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
        history.append(total / len(ids))  # every sample, not the last one  # fix: e001_epoch_loss
    return history


def accuracy(model: PooledClassifier, ids: torch.Tensor, labels: torch.Tensor) -> float:
    with torch.no_grad():
        logits, _ = model(ids)
    return ((logits > 0).long() == labels).float().mean().item()


def fit():
    """The whole recipe, seeded: (model, ids, labels, vocab, train rows, val rows, history)."""
    torch.manual_seed(0)
    texts, targets = zip(*DATA, strict=True)
    ids, vocab = encode(texts)
    labels = torch.tensor(targets)
    train_rows, val_rows = split(len(ids))
    model = PooledClassifier(len(vocab), WIDTH)
    history = train(model, ids[train_rows], labels[train_rows])
    return model, ids, labels, vocab, train_rows, val_rows, history


def main() -> None:
    model, ids, labels, vocab, train_rows, val_rows, history = fit()
    print("vocabulary:", vocab)
    print("validation labels:", labels[val_rows].tolist())
    for epoch in (1, 10, 20, EPOCHS):
        print(f"epoch {epoch:2}: mean loss {history[epoch - 1]:.4f}")
    print(f"accuracy: train {accuracy(model, ids[train_rows], labels[train_rows]):.2f},", end=" ")
    print(f"validation {accuracy(model, ids[val_rows], labels[val_rows]):.2f}")


if __name__ == "__main__":
    main()
