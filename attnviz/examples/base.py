"""The worked examples' data model: tables, walks, claims, failures, errata."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from attnviz.trace import AttentionStep


def frozen(values) -> np.ndarray:
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
        object.__setattr__(self, "values", frozen(self.values))
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


def labels(prefix: str, n: int, start: int = 1) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(start, start + n))


def dims(n: int) -> tuple[str, ...]:
    """Column labels of vector components, 1-based like the articles."""
    return tuple(f"[{i}]" for i in range(1, n + 1))


def catch(code: str, fn: Callable[[], object]) -> Failure:
    """Run a faithful-but-broken snippet and keep the exception it raises."""
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - the exception itself is the data we keep
        return Failure(code=code, error=type(exc).__name__, message=str(exc), observed=True)
    raise AssertionError(f"{code!r} was expected to fail but ran")


def softmax_rows(x: np.ndarray) -> np.ndarray:
    """Plain softmax for the article's alternative readings (not attention: no q, k, v)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
