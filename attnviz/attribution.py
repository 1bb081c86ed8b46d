"""Attention beside attribution: per token, the attention weight, leave-one-out and
gradient × input of the predicted output, and how their rankings agree (Spearman).

    leave_one_out[j]     = p(pred | all tokens) − p(pred | all tokens but j)
    gradient_x_input[j]  = Σ_d  ∂p(pred)/∂x[j, d] · x[j, d]      x: the token vectors read

`pred` is the predicted class (classifiers) or the most likely next token (decoder); p its
probability. A weight says where the model looked; these two say what the output depends on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from attnviz.errors import InputError

METHODS = ("attention", "leave_one_out", "gradient_x_input")


@dataclass(frozen=True, eq=False)
class Attribution:
    tokens: tuple[str, ...]  # (T,)
    attention: np.ndarray  # (T,)
    leave_one_out: np.ndarray  # (T,)
    gradient_x_input: np.ndarray  # (T,)
    predicted: str  # class label, or the next token's text
    probability: float  # p(pred) with every token

    def arrays(self) -> dict[str, np.ndarray]:
        """What `python -m attnviz attribute` writes."""
        return {
            "tokens": np.array(self.tokens, dtype=str),
            **{m: getattr(self, m).astype(np.float32) for m in METHODS},
            "predicted": np.array(self.predicted),
        }

    def correlations(self) -> dict[tuple[str, str], float]:
        """Spearman's rank correlation of each pair of methods."""
        pairs = [(a, b) for i, a in enumerate(METHODS) for b in METHODS[i + 1 :]]
        return {(a, b): spearman(getattr(self, a), getattr(self, b)) for a, b in pairs}


def ranks(x: np.ndarray) -> np.ndarray:
    """Ranks 1..n, ties sharing their average rank."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="stable")
    ranked = np.empty(len(x))
    ranked[order] = np.arange(1, len(x) + 1)
    for value in np.unique(x):
        tied = x == value
        ranked[tied] = ranked[tied].mean()
    return ranked


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson's correlation of the ranks; NaN when either side is constant (or 1 token)."""
    ra, rb = ranks(a) - (len(a) + 1) / 2, ranks(b) - (len(b) + 1) / 2
    denominator = np.sqrt((ra**2).sum() * (rb**2).sum())
    return float((ra * rb).sum() / denominator) if denominator > 0 else float("nan")


# ---------------------------------------------------------------- classifiers


def classifier(loaded, sentence: str) -> Attribution:
    """The three attributions of one sentence through a loaded sentiment/lstm model
    (zoo.classifier.load)."""
    from attnviz import text
    from attnviz.zoo import classifier as zoo

    result = zoo.trace(loaded, sentence)  # checks the text, cuts it at max_tokens
    cleaned, _ = text.clean(sentence, key="error.text_empty")
    ids = zoo.encode(loaded.tokenizer, [cleaned], loaded.config.max_tokens)[0]  # as trace reads
    pred = result.prediction
    model, device = loaded.model, loaded.device
    # Every leave-one-out input in one batch; a one-token text left empty becomes [UNK], as
    # zoo.encode does for a text with no tokens.
    unk = loaded.tokenizer.token_to_id(zoo.UNK)
    rows = [ids[:j] + ids[j + 1 :] or [unk] for j in range(len(ids))]
    batch, allowed = zoo.batch(rows)
    with torch.no_grad():
        logits, _ = model(batch.to(device), allowed.to(device))
    without = torch.softmax(logits.double(), -1)[:, pred].cpu().numpy()  # (T,)
    one = torch.tensor([ids], device=device)
    x = model.embedding(one).detach().requires_grad_(True)  # (1, T, D)
    logits, _ = model(one, torch.ones_like(one, dtype=torch.bool), embedded=x)
    torch.softmax(logits[0], -1)[pred].backward()
    return Attribution(
        tokens=result.tokens,
        attention=result.step.weights[0].astype(np.float64),
        leave_one_out=result.probabilities[pred] - without,
        gradient_x_input=(x.grad * x)[0].sum(-1).detach().double().cpu().numpy(),
        predicted=result.labels[pred],
        probability=float(result.probabilities[pred]),
    )


# ---------------------------------------------------------------- decoder


def decoder(decoder, text: str) -> Attribution:
    """The three attributions of the decoder's most likely next token after `text`;
    attention: the newest position's weights averaged over every layer and head."""
    from attnviz import intervene

    ids = [int(i) for i in decoder.tokenizer.encode(text)]
    if not ids:
        raise InputError("error.generate_empty")
    net = decoder.net
    logits, _, trace = net(ids)
    probs = intervene.softmax(logits[-1].float().cpu().numpy())
    pred = int(probs.argmax())
    # p(pred) at the end of the text with token j removed; a text left empty reads [BOS]
    rows = [ids[:j] + ids[j + 1 :] or [decoder.tokenizer.bos] for j in range(len(ids))]
    without = np.array([intervene.softmax(intervene.decoder_logits(net, r))[pred] for r in rows])
    t = torch.as_tensor(ids, device=net.embed.weight.device)
    x = net.embed(t).detach().clone().requires_grad_(True)  # (T, D)
    with torch.enable_grad():
        out = intervene.last_logits_from(net, x, 0, intervene.turns_of(net, len(ids)))
        torch.softmax(out.float(), -1)[pred].backward()
    return Attribution(
        tokens=decoder.tokenizer.labels(ids),
        attention=trace.weights[:, :, -1].mean((0, 1)).astype(np.float64),
        leave_one_out=probs[pred] - without,
        gradient_x_input=(x.grad * x).sum(-1).detach().double().cpu().numpy(),
        predicted=decoder.tokenizer.decode([pred]),
        probability=float(probs[pred]),
    )
