"""The five articles' worked examples, as data and code, recomputed correctly.

Each example is named `<article>-<section>` (`001-4.4` is article 001, section 4.4). `run(name)`
recomputes it through `attention.attend` (the only attention math) and returns a frozen
`WorkedExample`: the inputs in the article's own notation, the correct computation step by step,
what the article's text or code actually produces (side by side with the correct numbers), the
numbers the article claims, the code lines that fail as written (with the real exception where we
can run a faithful snippet), and the errata as catalog keys (`examples.errata.*`).

The article's notation is mapped to ours once, in each example's `notation`:
    Q -> q,  K_i -> k,  V_i / x_j -> v,  Q.K_i -> scores,  Q.K_i/sqrt(d_k) -> scaled,
    softmax -> weights,  y / Y / output -> context.

Code examples that cannot run as written are rebuilt (tiny torch modules with seeded weights,
small inputs) so every number on the page is real. Nothing runs at import time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import torch
from torch import nn

from attnviz.attention import attend
from attnviz.trace import AttentionStep

ARTICLES = ("000", "001", "002", "003", "004")


def _frozen(values) -> np.ndarray:
    array = np.array(values, dtype=np.float64)
    array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class Table:
    """A labelled matrix for the page: the article's inputs, or what broken code produces.

    `values` may hold inf or nan when it shows what the article's own recipe gives.
    """

    caption: str  # catalog key
    values: np.ndarray  # (rows, cols)
    rows: tuple[str, ...]  # labels, or catalog keys when keyed_rows
    cols: tuple[str, ...]
    keyed_rows: bool = False  # rows name readings of the article (catalog keys), not positions
    heatmap: bool = False  # a (Tq, Tk) matrix too large to read as numbers: draw it

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen(self.values))
        if self.values.shape != (len(self.rows), len(self.cols)):
            raise ValueError(f"{self.caption}: {self.values.shape} vs {self.rows} x {self.cols}")


@dataclass(frozen=True, eq=False)
class Walk:
    """One attention computation of the example, with the labels of its axes."""

    caption: str  # catalog key
    step: AttentionStep  # (Tq, Tk) weights, no leading dimensions
    queries: tuple[str, ...]  # (Tq,)
    keys: tuple[str, ...]  # (Tk,)
    features: tuple[str, ...]  # (Dv,) columns of v and context

    def __post_init__(self) -> None:
        tq, tk = self.step.weights.shape
        if (tq, tk, self.step.v.shape[-1]) != (
            len(self.queries),
            len(self.keys),
            len(self.features),
        ):
            raise ValueError(f"{self.caption}: labels do not match the step's shapes")


@dataclass(frozen=True)
class Claim:
    """A number (or numbers) the article prints, beside the correct value."""

    symbol: str  # LaTeX, in the article's notation
    claimed: tuple[float, ...]
    correct: tuple[float, ...]
    tolerance: float = 5e-4  # the articles round to three decimals

    @property
    def holds(self) -> bool:
        return len(self.claimed) == len(self.correct) and all(
            abs(a - b) <= self.tolerance for a, b in zip(self.claimed, self.correct, strict=True)
        )


@dataclass(frozen=True)
class Failure:
    """A line of the article's code that cannot run as written.

    `observed` is True when we ran a faithful snippet and caught this exception; False when the
    failure is stated from the library's documented behaviour (TensorFlow is not installed here).
    """

    code: str  # the failing expression, shortened
    error: str  # exception type
    message: str
    observed: bool


@dataclass(frozen=True, eq=False)
class WorkedExample:
    name: str  # "001-4.4"
    article: str  # "001"
    section: str  # "4.4" (the page writes it as §4.4)
    notation: tuple[tuple[str, str], ...]  # (article symbol in LaTeX, our name)
    inputs: tuple[Table, ...]  # in the article's notation
    article_formulas: tuple[str, ...]  # LaTeX, as the article writes them
    correct_formulas: tuple[str, ...]  # LaTeX
    steps: tuple[Walk, ...]  # the correct computation(s), through attention.attend
    as_written: tuple[Table, ...]  # what the article's text or code actually gives
    results: tuple[Table, ...]  # further correct numbers (model outputs, X' ...)
    claims: tuple[Claim, ...]
    failures: tuple[Failure, ...]
    errata: tuple[str, ...]  # catalog keys

    @property
    def title(self) -> str:
        """Catalog key of the example's title."""
        return f"examples.title.{self.name}"

    @property
    def intro(self) -> str:
        """Catalog key of the example's explanation."""
        return f"examples.intro.{self.name}"


# Errata about an article as a whole (claims in prose, references), not one computation.
ARTICLE_ERRATA: dict[str, tuple[str, ...]] = {
    "000": (
        "examples.errata.e000_arxiv_sat",
        "examples.errata.e000_arxiv_bahdanau",
        "examples.errata.e000_multihead",
    ),
    "001": (
        "examples.errata.e001_complexity",
        "examples.errata.e001_static",
        "examples.errata.e001_origin",
        "examples.errata.e001_ref_vit",
        "examples.errata.e001_ref_dropout",
    ),
    "002": ("examples.errata.e002_context_dup", "examples.errata.e002_cnn_faq"),
    "003": (),
    "004": (),
}


def _labels(prefix: str, n: int, start: int = 1) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(start, start + n))


def _dims(n: int) -> tuple[str, ...]:
    """Column labels of vector components, 1-based like the articles."""
    return tuple(f"[{i}]" for i in range(1, n + 1))


def _catch(code: str, fn: Callable[[], object]) -> Failure:
    """Run a faithful-but-broken snippet and keep the exception it raises."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the exception itself is the data we keep
        return Failure(code=code, error=type(exc).__name__, message=str(exc), observed=True)
    raise AssertionError(f"{code!r} was expected to fail but ran")


def _softmax_rows(x: np.ndarray) -> np.ndarray:
    """Plain softmax for the article's alternative readings (not attention: no q, k, v)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------
# 000: LSTM encoder + "attention" + LSTM decoder (code section)
# ---------------------------------------------------------------------------------------------

# The article's widths are 50 -> 256 -> 50; we keep the structure with widths 4 -> 6 -> 4 so
# every number fits on screen. The bugs do not depend on the widths.
_E000, _H000, _T000, _B000 = 4, 6, 5, 2


def _ex000() -> WorkedExample:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = nn.LSTM(_E000, _H000).double()  # article: LSTM(50, 256), batch_first=False
        gate = nn.Linear(_H000, _H000).double()  # article: Linear(256, 256)
        decoder = nn.LSTM(_H000, _E000).double()  # article: LSTM(256, 50)
        score = nn.Linear(_H000, 1).double()  # ours: one score per position
        # A stand-in for a trained scorer: wide enough that the weights visibly differ.
        nn.init.normal_(score.weight, std=4.0)
        inputs = torch.randn(_T000, _B000, _E000, dtype=torch.float64)  # (T, B, E)

    with torch.no_grad():
        # As written: LSTM output is (T, B, H) because batch_first defaults to False.
        h, _ = encoder(inputs)  # (T, B, H)
        gate_weights = torch.softmax(gate(h), dim=1)  # (T, B, H): normalised over B
        gated = h * gate_weights  # (T, B, H): elementwise, no sum over positions
        decoder(gated)  # runs without an error: the bug is silent
        # With a batch of one, softmax over a length-1 axis is exactly 1: the module is a no-op.
        h1, _ = encoder(inputs[:, :1])  # (T, 1, H)
        ones = torch.softmax(gate(h1), dim=1)  # (T, 1, H)
        # Unbatched input (T, E): the output is (T, H) and dim=1 is now the feature axis.
        h_unbatched, _ = encoder(inputs[:, 0])  # (T, H)
        per_feature = torch.softmax(gate(h_unbatched), dim=1)  # (T, H): rows sum to 1

        # Corrected: one score per position, softmax over time, weighted sum of the positions.
        hb = h.transpose(0, 1)  # (B, T, H)
        w = score.weight[0]  # (H,); the bias adds the same number to every score: no effect
        walks = []
        contexts = []
        for b in range(_B000):
            step = attend(
                np.zeros((1, _H000)),  # the linear score ignores the query; it only sets Tq = 1
                hb[b].numpy(),  # (T, H)
                hb[b].numpy(),  # (T, H)
                score="linear",
                params={"w": w.numpy()},
            )
            walks.append(
                Walk(
                    f"examples.step.sequence{b + 1}",
                    step,
                    ("c",),
                    _labels("h_", _T000),
                    _dims(_H000),
                )
            )
            contexts.append(step.context[0])
        context = torch.as_tensor(np.stack(contexts))  # (B, H)
        # The same decoder reads the context at every step, in its own (T, B, H) layout.
        decoded, _ = decoder(context[None].expand(_T000, _B000, _H000))  # (T, B, E)

    features = _dims(_H000)
    batch = _labels("b=", _B000)
    return WorkedExample(
        name="000-code",
        article="000",
        section="code",
        notation=(
            (r"\text{Input Data}", "k, v"),
            (r"\text{Attention Score}", "scores"),
            (r"\text{Attention Weight}", "weights"),
            (r"\text{Output}", "context"),
        ),
        inputs=(
            Table("examples.table.input_t1", inputs[0].numpy(), batch, _dims(_E000)),
            Table("examples.table.encoder_t1", h[0].numpy(), batch, features),
        ),
        article_formulas=(
            r"\text{Attention Score} = \text{Attention Network}(\text{Input Data})",
            r"\text{Attention Weight} = \mathrm{softmax}(\text{Attention Score})",
            r"\text{Output} = \text{Weighted Sum}(\text{Input Data}, \text{Attention Weight})",
        ),
        correct_formulas=(
            r"s_t = w^\top h_t + b",
            r"\alpha_t = \frac{\exp(s_t)}{\sum_{t'=1}^{T} \exp(s_{t'})}",
            r"c = \sum_{t=1}^{T} \alpha_t h_t",
        ),
        steps=tuple(walks),
        as_written=(
            Table("examples.table.gate_t1", gate_weights[0].numpy(), batch, features),
            Table(
                "examples.table.gate_sum_batch",
                gate_weights.sum(dim=1).numpy(),  # (T, H): all ones
                _labels("t=", _T000),
                features,
            ),
            Table("examples.table.gated_t1", gated[0].numpy(), batch, features),
            Table("examples.table.gate_batch1", ones[:, 0].numpy(), _labels("t=", _T000), features),
            Table(
                "examples.table.gate_unbatched",
                per_feature.numpy(),
                _labels("t=", _T000),
                features,
            ),
        ),
        results=(
            Table("examples.table.context", context.numpy(), batch, features),
            Table("examples.table.decoder_t1", decoded[0].numpy(), batch, _dims(_E000)),
        ),
        claims=(),
        failures=(),
        errata=("examples.errata.e000_batch_axis", "examples.errata.e000_gate"),
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
    points = _labels("x_", n)
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
        inputs=(Table("examples.table.x", x, points, _dims(x.shape[1])),),
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
        steps=(Walk("examples.step.correct", step, points, points, _dims(x.shape[1])),),
        as_written=(
            Table("examples.table.relevance", relevance, points, points),
            Table("examples.table.rowsum_weights", rowsum, points, points),
        ),
        results=(),
        claims=(),
        failures=(_catch("relevance[i][j] / sum(relevance[i])", lambda: _rowsum_pseudocode(_X32)),),
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
        Table("examples.table.x", _X44, _labels("x_", 3), _dims(3)),
        Table("examples.table.query", (q,), ("Q",), _dims(3)),
        Table("examples.table.keys_vectors", _K44, _labels("K_", 3), _dims(3)),
        Table("examples.table.keys_pairs", _KV44, _labels("i=", 3), ("K_i", "V_i")),
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
            _softmax_rows(scaled) / _softmax_rows(scaled).sum(),  # softmax, then divided again
            scaled / scaled.sum(),  # §4.3: no softmax, plain division
        ]
    )
    keys = _labels("K_", 3)
    return WorkedExample(
        name="001-4.2",
        article="001",
        section="4.2",
        notation=_NOTATION_4,
        inputs=(
            Table("examples.table.x", _X44, _labels("x_", 3), _dims(3)),
            Table("examples.table.query_ours", q, ("Q",), _dims(3)),
            Table("examples.table.keys_vectors", _K44, keys, _dims(3)),
        ),
        article_formulas=_FORMULAS_42 + _FORMULAS_43,
        correct_formulas=_CORRECT_4,
        steps=(Walk("examples.step.correct", step, ("Q",), keys, _dims(3)),),
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
    keys = _labels("K_", 3)
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
            Walk("examples.step.correct", step, ("Q",), keys, _dims(3)),
            Walk("examples.step.values_v", step_v, ("Q",), keys, ("V",)),
            Walk("examples.step.three_queries", step_self, _labels("x_", 3), keys, _dims(3)),
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
        _catch("model(inputs)  # inputs: (T,)", lambda: as_written(tokens[0])),
        _catch("model(batch)  # hidden_dim=100", lambda: as_written(tokens)),
        _catch("model(batch)  # hidden_dim=1", lambda: hidden_one(tokens)),
        _catch("targets.unsqueeze(1)", lambda: target.unsqueeze(1)),
        _catch("targets.size(0)", lambda: target.size(0)),
        _catch(
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
            labels = tuple(list(text) + ["<PAD>"] * (length - len(text)))
            walks.append(
                Walk(f"examples.step.sequence{b + 1}", step, ("c",), labels, _dims(_EMBED52))
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
            Table("examples.table.token_ids", tokens.numpy(), rows, _labels("t=", length)),
            Table(
                "examples.table.embedding",
                embedding.weight.detach().numpy(),
                tuple(_VOCAB),
                _dims(_EMBED52),
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
            Table("examples.table.unmasked", unmasked.numpy(), rows, _labels("t=", length)),
        ),
        results=(
            Table("examples.table.pooled", pooled_t.numpy(), rows, _dims(_EMBED52)),
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


# ---------------------------------------------------------------------------------------------
# 002 §4: cosine-similarity self-attention in numpy
# ---------------------------------------------------------------------------------------------

_X002 = ((0.1, 0.2), (0.3, 0.4), (0.5, 0.6))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _ex002() -> WorkedExample:
    x = np.array(_X002)  # (3, 2): three positions, two features
    n, d = x.shape
    # As written: the inner loop runs over the feature axis (d = 2), not the positions (n = 3).
    loop_as_written = np.array([[_cosine(x[i], x[j]) for j in range(d)] for i in range(n)])
    norm_as_written = np.exp(loop_as_written) / loop_as_written.sum(axis=1, keepdims=True)
    # Loop fixed, normalisation as written: rows sum to about e, not 1.
    cos_full = np.array([[_cosine(x[i], x[j]) for j in range(n)] for i in range(n)])
    norm_loop_fixed = np.exp(cos_full) / cos_full.sum(axis=1, keepdims=True)
    step = attend(x, x, x, score="cosine")
    step_euclid = attend(x, x, x, score="neg_euclidean")
    points = _labels("h_", n)
    return WorkedExample(
        name="002-4",
        article="002",
        section="4",
        notation=(
            (r"h_j", "k, v"),
            (r"s(i, j)", "scores"),
            (r"\alpha_{i,j}", "weights"),
            (r"a_i", "context"),
        ),
        inputs=(Table("examples.table.x", x, points, _dims(d)),),
        article_formulas=(
            r"\cos(\theta) = \frac{a \cdot b}{\|a\| \cdot \|b\|}",
            r"d(a, b) = \sqrt{\sum_{i=1}^{n} (a_i - b_i)^2}",
            r"\alpha_{i,j} = \frac{\exp(s(i, j))}{\sum_{k=1}^{T} \exp(s(i, k))}",
            r"a_i = \sum_{j=1}^{T} \alpha_{i,j} \cdot h_j",
        ),
        correct_formulas=(
            r"s(i, j) = \cos(h_i, h_j) \quad \text{or} \quad s(i, j) = -d(h_i, h_j)",
            r"\alpha_{i,j} = \frac{\exp(s(i, j))}{\sum_{k=1}^{T} \exp(s(i, k))}",
            r"a_i = \sum_{j=1}^{T} \alpha_{i,j} h_j \quad (A = \alpha H)",
        ),
        steps=(
            Walk("examples.step.cosine", step, points, points, _dims(d)),
            Walk("examples.step.neg_euclidean", step_euclid, points, points, _dims(d)),
        ),
        as_written=(
            Table("examples.table.loop_as_written", loop_as_written, points, points[:d]),
            Table("examples.table.norm_as_written", norm_as_written, points, points[:d]),
            Table("examples.table.norm_loop_fixed", norm_loop_fixed, points, points),
            Table(
                "examples.table.row_sums",
                np.column_stack([norm_loop_fixed.sum(axis=1), step.weights.sum(axis=1)]),
                points,
                ("exp(s)/Σs", "softmax"),
            ),
        ),
        results=(),
        claims=(),
        failures=(
            _catch(
                "np.dot(input_sequence, attention_weights)  # (3,2)·(3,2)",
                lambda: np.dot(x, norm_as_written),
            ),
            _catch(
                "np.dot(input_sequence, attention_weights)  # (3,2)·(3,3)",
                lambda: np.dot(x, norm_loop_fixed),
            ),
        ),
        errata=(
            "examples.errata.e002_axis",
            "examples.errata.e002_norm",
            "examples.errata.e002_order",
            "examples.errata.e002_euclid",
            "examples.errata.e002_steps_text",
        ),
    )


# ---------------------------------------------------------------------------------------------
# 003 §4-5: softmax(W^T X), elementwise product, sum (TensorFlow code on strings)
# ---------------------------------------------------------------------------------------------

# Two words need numbers before any product: small embeddings of our choosing, and a weight
# vector w (the article draws W at random, shape [1, 2]).
_WORDS003 = ("hello", "world")
_X003 = ((1.0, 2.0), (3.0, -1.0))
_W003 = (0.5, -0.5)


def _ex003() -> WorkedExample:
    x = np.array(_X003)  # (2 positions, 2 features)
    w = np.array(_W003)  # (2,)
    step = attend(np.zeros((1, 2)), x, x, score="linear", params={"w": w})
    weights = step.weights[0]  # (2,): alpha, one per word
    transformed = weights[:, None] * x  # (2, 2): X' = alpha (.) X, row i scaled by alpha_i
    strings = np.array(_WORDS003)
    rng = np.random.default_rng(0)
    return WorkedExample(
        name="003-5",
        article="003",
        section="5",
        notation=(
            (r"X_i", "k, v"),
            (r"W^\top X_i", "scores"),
            (r"\alpha_i", "weights"),
            (r"Y", "context"),
        ),
        inputs=(
            Table("examples.table.embeddings", x, _WORDS003, _dims(2)),
            Table("examples.table.w", (w,), ("W",), _dims(2)),
        ),
        article_formulas=(
            r"\alpha = \mathrm{softmax}(W^\top X)",
            r"X' = \alpha \odot X",
            r"Y = \sum_i \alpha_i X_i",
        ),
        correct_formulas=(
            r"\alpha_i = \frac{\exp(W^\top X_i)}{\sum_j \exp(W^\top X_j)}",
            r"X'_i = \alpha_i X_i",
            r"Y = \sum_i X'_i = \sum_i \alpha_i X_i",
        ),
        steps=(Walk("examples.step.correct", step, ("Y",), _WORDS003, _dims(2)),),
        as_written=(
            # The text's last step adds the transformed input to the input: X + X'.
            Table("examples.table.text_add", x + transformed, _WORDS003, _dims(2)),
        ),
        results=(Table("examples.table.transformed", transformed, _WORDS003, _dims(2)),),
        claims=(),
        failures=(
            _catch(
                "W @ X1  # X1 = ['hello', 'world'] (numpy)",
                lambda: rng.normal(size=(1, 2)) @ strings,
            ),
            _catch("reduce_sum(..., axis=1)  # rank-1 input (numpy)", lambda: np.sum(x[0], axis=1)),
            Failure(
                "tf.Session()",
                "AttributeError",
                "module 'tensorflow' has no attribute 'Session'",
                observed=False,
            ),
        ),
        errata=(
            "examples.errata.e003_strings",
            "examples.errata.e003_tf_versions",
            "examples.errata.e003_shapes",
            "examples.errata.e003_add",
            "examples.errata.e003_alpha_axis",
        ),
    )


# ---------------------------------------------------------------------------------------------
# 004 §3.2 and §4: scaled dot-product attention over a CNN feature map
# ---------------------------------------------------------------------------------------------

_SIDE004, _CH004, _DK004 = 4, 8, 4  # 4 x 4 map, 8 channels, keys 4 wide


class _Undefined004(nn.Module):
    """The article's module as structured: it reads projection weights it never creates."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size

    def forward(self, hidden: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        q = hidden @ self.weight1  # AttributeError: never defined
        return q


def _image004() -> torch.Tensor:
    """A 1-channel 4 x 4 picture: a bright 2 x 2 square in the top-left corner."""
    image = torch.zeros(1, 1, _SIDE004, _SIDE004, dtype=torch.float64)  # (B, C, H, W)
    image[0, 0, :2, :2] = 1.0
    return image


def _ex004() -> WorkedExample:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        conv = nn.Conv2d(1, _CH004, kernel_size=3, padding=1).double()
        wq = nn.Linear(_CH004, _DK004, bias=False).double()
        wk = nn.Linear(_CH004, _DK004, bias=False).double()
        wv = nn.Linear(_CH004, _DK004, bias=False).double()
        # Stand-ins for trained weights: with PyTorch's default (small) initialisation every
        # weight would be close to 1/16 and the picture would show nothing.
        nn.init.normal_(conv.weight, std=0.3)
        nn.init.normal_(wq.weight, std=1.0)
        nn.init.normal_(wk.weight, std=1.0)
    image = _image004()
    with torch.no_grad():
        fmap = torch.relu(conv(image))  # (1, C, 4, 4)
        x = fmap[0].flatten(1).T  # (P, C): P = 16 positions, row-major
        q, k, v = wq(x), wk(x), wv(x)  # (P, dk) each
    # Correct: divide by sqrt(d_k) = 2. As written: by sqrt(hidden_size) = sqrt(8).
    step = attend(q.numpy(), k.numpy(), v.numpy(), score="scaled_dot")
    step_written = attend(
        q.numpy(), k.numpy(), v.numpy(), score="dot", temperature=math.sqrt(_CH004)
    )
    positions = tuple(f"({r},{c})" for r in range(_SIDE004) for c in range(_SIDE004))
    return WorkedExample(
        name="004-4",
        article="004",
        section="4",
        notation=(
            (r"Q", "q"),
            (r"K", "k"),
            (r"V", "v"),
            (r"QK^\top", "scores"),
            (r"\frac{QK^\top}{\sqrt{d_k}}", "scaled"),
            (r"\mathrm{softmax}(\cdot)", "weights"),
            (r"\text{Attention}(Q, K, V)", "context"),
        ),
        inputs=(
            Table(
                "examples.table.image", image[0, 0].numpy(), _labels("r", 4, 0), _labels("c", 4, 0)
            ),
            Table("examples.table.feature_map", x.numpy(), positions, _labels("ch", _CH004)),
        ),
        article_formulas=(
            r"\text{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V",
            r"\text{code: } \frac{QK^\top}{\sqrt{\text{hidden\_size}}}",
        ),
        correct_formulas=(
            r"Q = XW_Q,\; K = XW_K,\; V = XW_V \quad (X: P \times C)",
            r"\text{Attention}(Q, K, V) = \mathrm{softmax}\left(\frac{QK^\top}{\sqrt{d_k}}\right)V",
        ),
        steps=(Walk("examples.step.correct", step, positions, positions, _dims(_DK004)),),
        as_written=(
            Table(
                "examples.table.weights_hidden_size",
                step_written.weights,
                positions,
                positions,
                heatmap=True,
            ),
        ),
        results=(
            Table(
                "examples.table.weights_difference",
                step.weights - step_written.weights,
                positions,
                positions,
                heatmap=True,
            ),
        ),
        claims=(),
        failures=(
            _catch(
                "Q = matmul(hidden, self.weight1)",
                lambda: _Undefined004(_CH004)(x, x),
            ),
            # The module never imports numpy; evaluate its scaling line where np is unbound.
            _catch(
                "np.sqrt(self.hidden_size)",
                lambda: eval("np.sqrt(8)", {"__builtins__": {}}),  # noqa: S307 - fixed text
            ),
        ),
        errata=(
            "examples.errata.e004_undefined",
            "examples.errata.e004_scale",
            "examples.errata.e004_soft_threshold",
            "examples.errata.e004_pooling",
            "examples.errata.e004_scores_weights",
        ),
    )


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[[], WorkedExample]] = {
    "000-code": _ex000,
    "001-3.2": _ex001_32,
    "001-4.2": _ex001_42,
    "001-4.4": _ex001_44,
    "001-5.2": _ex001_52,
    "002-4": _ex002,
    "003-5": _ex003,
    "004-4": _ex004,
}


def names() -> list[str]:
    """Stable ids of every worked example, in article order."""
    return list(_BUILDERS)


def names_of(article: str) -> list[str]:
    """The examples of one article (`"001"`)."""
    return [name for name in _BUILDERS if name.split("-")[0] == article]


@cache
def run(name: str) -> WorkedExample:
    """Compute one worked example (cached: the result is frozen and deterministic)."""
    if name not in _BUILDERS:
        raise KeyError(f"unknown example {name!r}; known: {', '.join(_BUILDERS)}")
    return _BUILDERS[name]()


def _json_array(values: np.ndarray) -> list:
    """Nested lists; inf / -inf / nan (masked cells, broken recipes) become strings."""
    array = np.asarray(values, dtype=np.float64)
    if np.isfinite(array).all():
        return array.tolist()
    flat = [v if math.isfinite(v) else str(v) for v in array.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(array.shape).tolist()


def _json_table(table: Table) -> dict:
    return {
        "caption": table.caption,
        "rows": list(table.rows),
        "cols": list(table.cols),
        "values": _json_array(table.values),
    }


def _json_walk(walk: Walk) -> dict:
    step = walk.step
    return {
        "caption": walk.caption,
        "queries": list(walk.queries),
        "keys": list(walk.keys),
        "features": list(walk.features),
        "score": step.score,
        "scale": step.scale,
        "temperature": step.temperature,
        **{
            name: _json_array(getattr(step, name))
            for name in ("q", "k", "v", "scores", "scaled", "masked", "weights", "context")
        },
    }


def to_json(name: str) -> dict:
    """One example as plain JSON types: inputs, every step's arrays, claims, failures, errata.

    Non-finite numbers are written as the strings "inf", "-inf" and "nan" so the output is
    strict JSON.
    """
    example = run(name)
    return {
        "name": example.name,
        "article": example.article,
        "section": example.section,
        "notation": [{"article": a, "ours": b} for a, b in example.notation],
        "inputs": [_json_table(t) for t in example.inputs],
        "article_formulas": list(example.article_formulas),
        "correct_formulas": list(example.correct_formulas),
        "steps": [_json_walk(w) for w in example.steps],
        "as_written": [_json_table(t) for t in example.as_written],
        "results": [_json_table(t) for t in example.results],
        "claims": [
            {
                "symbol": c.symbol,
                "claimed": list(c.claimed),
                "correct": list(c.correct),
                "holds": c.holds,
            }
            for c in example.claims
        ],
        "failures": [
            {"code": f.code, "error": f.error, "message": f.message, "observed": f.observed}
            for f in example.failures
        ],
        "errata": list(example.errata),
        "article_errata": list(ARTICLE_ERRATA[example.article]),
    }
