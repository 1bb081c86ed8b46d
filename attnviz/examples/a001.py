"""Article 001: dot-product relevance, the formulas of §4, the §4.4 example, the classifier."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from attnviz.attention import attend
from attnviz.examples.base import (
    Claim,
    Failure,
    Table,
    Walk,
    WorkedExample,
    catch,
    dims,
    labels,
    softmax_rows,
)

# ---------------------------------------------------------------------------------------------
# 001 §3.2-3.3: relevance by dot product, weights by dividing by the row sum
# ---------------------------------------------------------------------------------------------

# The article gives no numbers here; these three 2-d points are ours, chosen so the row-sum
# recipe shows both of its failures: row 1 of R is [1, -1, 0] and sums to 0 (division by zero);
# row 2 is [-1, 2, 1], sums to 2 and gives the weights -0.5, 1, 0.5 (one negative).
_X32 = ((1.0, 0.0), (-1.0, 1.0), (0.0, 1.0))


def _rowsum_pseudocode(points) -> list:
    """The §3.3 pseudocode made into Python, keeping its recipe (row-sum division, no sum)."""
    n = len(points)
    relevance = [
        [sum(a * b for a, b in zip(points[i], points[j], strict=True)) for j in range(n)]
        for i in range(n)
    ]
    weights = [[relevance[i][j] / sum(relevance[i]) for j in range(n)] for i in range(n)]
    return [[[weights[i][j] * c for c in points[j]] for j in range(n)] for i in range(n)]


def _ex001_32() -> WorkedExample:
    x = np.array(_X32)  # (n, D)
    n = len(x)
    relevance = x @ x.T  # (n, n): R_ij = x_i . x_j
    with np.errstate(divide="ignore", invalid="ignore"):
        rowsum = relevance / relevance.sum(axis=1, keepdims=True)  # the article's w
    step = attend(x, x, x, score="dot")
    points = labels("x_", n)
    return WorkedExample(
        name="001-3.2",
        article="001",
        section="3.2",
        notation=(
            (r"x_i", "q"),
            (r"x_j", "k, v"),
            (r"r(x_i, x_j) = x_i \cdot x_j", "scores"),
            (r"w_i", "weights"),
            (r"y_i", "context"),
        ),
        inputs=(Table("examples.table.x", x, points, dims(x.shape[1])),),
        article_formulas=(
            r"r(x_i, x_j) = x_i \cdot x_j",
            r"w_i = \frac{r(x_i, x_j)}{\sum_{j=1}^{n} r(x_i, x_j)}",
            r"y_i = \sum_{j=1}^{n} w_i x_j",
        ),
        correct_formulas=(
            r"r_{ij} = x_i \cdot x_j",
            r"w_{ij} = \frac{\exp(r_{ij})}{\sum_{k=1}^{n} \exp(r_{ik})}",
            r"y_i = \sum_{j=1}^{n} w_{ij} x_j",
        ),
        steps=(Walk("examples.step.correct", step, points, points, dims(x.shape[1])),),
        as_written=(
            Table("examples.table.relevance", relevance, points, points),
            Table("examples.table.rowsum_weights", rowsum, points, points),
        ),
        results=(),
        claims=(),
        failures=(catch("relevance[i][j] / sum(relevance[i])", lambda: _rowsum_pseudocode(_X32)),),
        errata=(
            "examples.errata.e001_rowsum",
            "examples.errata.e001_index",
            "examples.errata.e001_unsummed",
        ),
    )


# ---------------------------------------------------------------------------------------------
# 001 §4.2-4.4: scaled dot-product with one query
# ---------------------------------------------------------------------------------------------

_X44 = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))  # x_1, x_2, x_3
_Q44 = (1.0, 1.0, 1.0)
_K44 = ((1.0, 1.0, 0.0), (0.0, 1.0, 1.0), (1.0, 0.0, 1.0))  # as used in the computation
_KV44 = ((1.0, 1.0), (0.0, 1.0), (1.0, 0.0))  # (K_i, V_i) as listed, scalars
_NOTATION_4 = (
    (r"Q", "q"),
    (r"K_i", "k"),
    (r"V_i", "v"),
    (r"Q \cdot K_i", "scores"),
    (r"\frac{Q \cdot K_i}{\sqrt{d_k}}", "scaled"),
    (r"w_i", "weights"),
    (r"y", "context"),
)
_FORMULAS_42 = (
    r"a_i = \mathrm{softmax}\left(\frac{Q \cdot K_i}{\sqrt{d_k}}\right)",
    r"w_i = \frac{a_i}{\sum_{j=1}^{n} a_j}",
    r"y_i = \sum_{j=1}^{n} w_i x_j",
)
_FORMULAS_43 = (
    r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}",
    r"w_i = \frac{a_i}{\sum_{j=1}^{n} a_j} \quad (\text{“softmax”})",
)
_CORRECT_4 = (
    r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}",
    r"w_i = \mathrm{softmax}(a)_i = \frac{\exp(a_i)}{\sum_{j=1}^{n} \exp(a_j)}",
    r"y = \sum_{i=1}^{n} w_i V_i",
)


def _inputs_4(q: tuple[float, ...]) -> tuple[Table, ...]:
    return (
        Table("examples.table.x", _X44, labels("x_", 3), dims(3)),
        Table("examples.table.query", (q,), ("Q",), dims(3)),
        Table("examples.table.keys_vectors", _K44, labels("K_", 3), dims(3)),
        Table("examples.table.keys_pairs", _KV44, labels("i=", 3), ("K_i", "V_i")),
    )


def _ex001_42() -> WorkedExample:
    # §4.4's query gives three equal scores, so every reading of the formulas agrees there.
    # With the query x_1 = [1, 0, 0] (our choice) the scores differ and the readings split.
    q = np.array([_X44[0]])  # (1, 3)
    k, x = np.array(_K44), np.array(_X44)
    step = attend(q, k, x, score="scaled_dot")
    scaled = step.scaled[0]  # (3,)
    readings = np.stack(
        [
            np.full(3, 1 / 3),  # softmax of each scalar alone is 1, then 1 / (1 + 1 + 1)
            softmax_rows(scaled) / softmax_rows(scaled).sum(),  # softmax, then divided again
            scaled / scaled.sum(),  # §4.3: no softmax, plain division
        ]
    )
    keys = labels("K_", 3)
    return WorkedExample(
        name="001-4.2",
        article="001",
        section="4.2",
        notation=_NOTATION_4,
        inputs=(
            Table("examples.table.x", _X44, labels("x_", 3), dims(3)),
            Table("examples.table.query_ours", q, ("Q",), dims(3)),
            Table("examples.table.keys_vectors", _K44, keys, dims(3)),
        ),
        article_formulas=_FORMULAS_42 + _FORMULAS_43,
        correct_formulas=_CORRECT_4,
        steps=(Walk("examples.step.correct", step, ("Q",), keys, dims(3)),),
        as_written=(
            Table(
                "examples.table.readings",
                readings,
                ("examples.reading.scalar", "examples.reading.double", "examples.reading.plain"),
                keys,
                keyed_rows=True,
            ),
        ),
        results=(),
        claims=(),
        failures=(),
        errata=(
            "examples.errata.e001_double_norm",
            "examples.errata.e001_plain_norm",
            "examples.errata.e001_values",
            "examples.errata.e001_sqrt_reason",
            "examples.errata.e001_query_def",
        ),
    )


def _ex001_44() -> WorkedExample:
    q, k, x = np.array([_Q44]), np.array(_K44), np.array(_X44)
    keys = labels("K_", 3)
    # The article's own output uses x_j as the values; here V = X, so y matches its numbers.
    step = attend(q, k, x, score="scaled_dot")
    # If the values were the V_i of the listed pairs (1, 1, 0), y would be a number, 2/3.
    values = np.array([[pair[1]] for pair in _KV44])  # (3, 1)
    step_v = attend(q, k, values, score="scaled_dot")
    # Three outputs y_1, y_2, y_3 need three queries; with queries x_1, x_2, x_3 they differ.
    step_self = attend(x, k, x, score="scaled_dot")
    one_over_root3 = 1 / math.sqrt(3)
    return WorkedExample(
        name="001-4.4",
        article="001",
        section="4.4",
        notation=_NOTATION_4,
        inputs=_inputs_4(_Q44),
        article_formulas=_FORMULAS_42,
        correct_formulas=_CORRECT_4,
        steps=(
            Walk("examples.step.correct", step, ("Q",), keys, dims(3)),
            Walk("examples.step.values_v", step_v, ("Q",), keys, ("V",)),
            Walk("examples.step.three_queries", step_self, labels("x_", 3), keys, dims(3)),
        ),
        as_written=(
            Table(
                "examples.table.softmax_one",
                [[1.0, 1.0, 1.0], [one_over_root3] * 3, [0.577] * 3],
                ("examples.reading.scalar", "examples.reading.root3", "examples.reading.claimed"),
                keys,
                keyed_rows=True,
            ),
        ),
        results=(),
        claims=(
            Claim(
                r"\frac{Q \cdot K_i}{\sqrt{d_k}} = \frac{2}{\sqrt{3}}",
                (2 / math.sqrt(3),) * 3,
                tuple(step.scaled[0]),
            ),
            Claim(r"a_i", (0.577,) * 3, tuple(step.weights[0])),
            Claim(r"w_i", (0.333,) * 3, tuple(step.weights[0])),
            Claim(r"y_1", (0.333,) * 3, tuple(step.context[0])),
        ),
        failures=(),
        errata=(
            "examples.errata.e001_keys_two_ways",
            "examples.errata.e001_0577",
            "examples.errata.e001_values",
            "examples.errata.e001_one_query",
        ),
    )


# ---------------------------------------------------------------------------------------------
# 001 §5.2: embedding + attention pooling classifier
# ---------------------------------------------------------------------------------------------

# Character tokens, as the article's vocabulary loop yields for string sequences.
_VOCAB = {"<PAD>": 0, "a": 1, "b": 2, "c": 3}
_SEQS = ("abc", "ca")
_EMBED52 = 4  # ours, so the numbers fit on screen (the article uses 50)


class _Pooling52(nn.Module):
    """The article's classifier with its shapes as written (embed -> Linear -> squeeze(2))."""

    def __init__(self, vocab: int, embed_dim: int, hidden_dim: int, fc_in: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed_dim)
        self.attention = nn.Linear(embed_dim, hidden_dim)
        self.fc = nn.Linear(fc_in, 1)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        embed = self.embedding(tokens)  # (B, T, E), or (T, E) for one unbatched sample
        scores = self.attention(embed).squeeze(2)  # (B, T) only when hidden_dim == 1
        weights = torch.softmax(scores, dim=1)
        pooled = torch.bmm(weights.unsqueeze(1), embed).squeeze(1)  # needs 3-d weights
        return self.fc(pooled)


def _failures52(tokens: torch.Tensor) -> tuple[Failure, ...]:
    """Run the article's model and loops as written (its sizes: embed 50, hidden 100)."""
    vocab = len(_VOCAB)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        as_written = _Pooling52(vocab, 50, 100, fc_in=100)
        hidden_one = _Pooling52(vocab, 50, 1, fc_in=1)
    target = torch.tensor([1, 0])[0]  # one label, as the zip() loop yields it: a 0-d tensor
    return (
        catch("model(inputs)  # inputs: (T,)", lambda: as_written(tokens[0])),
        catch("model(batch)  # hidden_dim=100", lambda: as_written(tokens)),
        catch("model(batch)  # hidden_dim=1", lambda: hidden_one(tokens)),
        catch("targets.unsqueeze(1)", lambda: target.unsqueeze(1)),
        catch("targets.size(0)", lambda: target.size(0)),
        catch(
            "BCEWithLogitsLoss()(outputs, int targets)",
            lambda: nn.BCEWithLogitsLoss()(torch.zeros(1, 1), target.reshape(1, 1)),
        ),
    )


def _ex001_52() -> WorkedExample:
    length = max(len(s) for s in _SEQS)
    ids = [[_VOCAB[c] for c in s] + [_VOCAB["<PAD>"]] * (length - len(s)) for s in _SEQS]
    tokens = torch.tensor(ids)  # (B, T)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        embedding = nn.Embedding(len(_VOCAB), _EMBED52).double()
        score = nn.Linear(_EMBED52, 1).double()  # one score per token: hidden_dim = 1
        fc = nn.Linear(_EMBED52, 1).double()  # reads the pooled embedding: embed_dim wide
    with torch.no_grad():
        embed = embedding(tokens)  # (B, T, E)
        allowed = tokens != _VOCAB["<PAD>"]  # (B, T): padding gets no weight
        walks, pooled = [], []
        for b, text in enumerate(_SEQS):
            step = attend(
                np.zeros((1, _EMBED52)),  # the linear score ignores the query
                embed[b].numpy(),  # (T, E)
                embed[b].numpy(),  # (T, E)
                score="linear",
                params={"w": score.weight[0].numpy()},  # the bias cancels in the softmax
                allowed=allowed[b : b + 1].numpy(),  # (1, T)
            )
            tokens_b = tuple(list(text) + ["<PAD>"] * (length - len(text)))
            walks.append(
                Walk(f"examples.step.sequence{b + 1}", step, ("c",), tokens_b, dims(_EMBED52))
            )
            pooled.append(step.context[0])
        pooled_t = torch.as_tensor(np.stack(pooled))  # (B, E)
        logits = fc(pooled_t)  # (B, 1)
        # Without the mask the <PAD> token takes part of the weight.
        unmasked = torch.softmax(score(embed).squeeze(-1), dim=1)  # (B, T)
    rows = tuple(f"“{s}”" for s in _SEQS)
    return WorkedExample(
        name="001-5.2",
        article="001",
        section="5.2",
        notation=(
            (r"\text{embed}", "k, v"),
            (r"\text{attention\_scores}", "scores"),
            (r"\text{weights}", "weights"),
            (r"\text{attended\_embed}", "context"),
        ),
        inputs=(
            Table("examples.table.token_ids", tokens.numpy(), rows, labels("t=", length)),
            Table(
                "examples.table.embedding",
                embedding.weight.detach().numpy(),
                tuple(_VOCAB),
                dims(_EMBED52),
            ),
        ),
        article_formulas=(
            r"\text{scores} = \mathrm{squeeze}_2(\mathrm{Linear}_{E \to H}(\text{embed}))",
            r"\text{weights} = \mathrm{softmax}_{\dim=1}(\text{scores})",
            r"\text{output} = \mathrm{Linear}_{H \to 1}(\text{weights} \cdot \text{embed})",
        ),
        correct_formulas=(
            r"s_t = w^\top e_t + b, \quad s_t = -\infty \text{ at } \langle PAD \rangle",
            r"\alpha_t = \mathrm{softmax}(s)_t",
            r"\text{logit} = \mathrm{Linear}_{E \to 1}\Big(\sum_t \alpha_t e_t\Big)",
        ),
        steps=tuple(walks),
        as_written=(
            Table("examples.table.unmasked", unmasked.numpy(), rows, labels("t=", length)),
        ),
        results=(
            Table("examples.table.pooled", pooled_t.numpy(), rows, dims(_EMBED52)),
            Table(
                "examples.table.logits",
                np.column_stack([logits.numpy()[:, 0], torch.sigmoid(logits).numpy()[:, 0]]),
                rows,
                ("logit", "sigmoid"),
            ),
        ),
        claims=(),
        failures=_failures52(tokens),
        errata=(
            "examples.errata.e001_squeeze",
            "examples.errata.e001_fc_width",
            "examples.errata.e001_unbatched",
            "examples.errata.e001_target_dtype",
            "examples.errata.e001_padding",
            "examples.errata.e001_loss_name",
        ),
    )


BUILDERS = {"001-3.2": _ex001_32, "001-4.2": _ex001_42, "001-4.4": _ex001_44, "001-5.2": _ex001_52}
