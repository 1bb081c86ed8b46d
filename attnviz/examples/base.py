"""The worked examples' data model: tables, walks, claims, failures, errata, listings."""

from __future__ import annotations

import contextlib
import inspect
import io
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
    # The article's symbols for scores, scaled, weights and context (plain text, e.g. "wᵢⱼ"):
    # the one place our names are mapped to the article's notation, for the tabs, the
    # step-by-step breakdown and the JSON export alike.
    symbols: tuple[str, str, str, str] = ("scores", "scaled", "weights", "context")
    # LaTeX of this computation in those symbols, where it differs from the example's
    # corrected formulas (a walk with a query per position).
    formulas: tuple[str, ...] = ()

    @property
    def scaled(self) -> bool:
        """Whether anything was scaled (a scale or temperature other than 1)."""
        return self.step.scale != 1.0 or self.step.temperature != 1.0

    @property
    def masked(self) -> bool:
        """Whether any key was hidden from a query (padding)."""
        return bool(np.isneginf(self.step.masked).any())

    @property
    def notation(self) -> dict[str, str]:
        """Our name -> the article's symbol for scores, scaled, weights and context (no article
        has a symbol for masked scores: that stage keeps our name)."""
        return dict(zip(("scores", "scaled", "weights", "context"), self.symbols, strict=True))

    @property
    def stages(self) -> tuple[tuple[str, str], ...]:
        """(our name, the article's symbol) of each stage worth a tab: "scaled" only when
        something was scaled."""
        names = ("scores", "scaled", "weights", "context")
        notation = self.notation
        return tuple((name, notation[name]) for name in names if self.scaled or name != "scaled")

    @property
    def skipped(self) -> tuple[str, ...]:
        """Stages that change nothing here, left out of the breakdown: "scaled" and "masked"
        would only repeat the scores."""
        return tuple(
            name for name, kept in (("scaled", self.scaled), ("masked", self.masked)) if not kept
        )

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


KINDS = ("math", "code", "refs")  # the order errata are listed in: math, then code, then references


@dataclass(frozen=True)
class Erratum:
    """One thing the article gets wrong, where it says it, and where the page shows it.

    A note (`note=True`) is a clarification: the article is not wrong but says too little or
    says it loosely; the page shows it apart from the errors.
    """

    key: str  # catalog key, examples.errata.*
    kind: str  # one of KINDS
    section: str  # the article's section, "5.2.3"
    lines: tuple[int, int]  # first and last line of the article's text that it concerns
    at: str = ""  # caption key of the step, table, failure or listing it belongs to; "" = all
    note: bool = False
    # Where the article says the same thing again: (section, (first, last)) each.
    also: tuple[tuple[str, tuple[int, int]], ...] = ()

    def __post_init__(self) -> None:
        spans = [self.lines, *(lines for _, lines in self.also)]
        if self.kind not in KINDS or any(first > last for first, last in spans):
            raise ValueError(f"{self.key}: kind {self.kind!r}, lines {spans}")


def ranked(errata) -> tuple[Erratum, ...]:
    """Errors before notes; math first, then code, then references; the article's order within
    each kind."""
    return tuple(sorted(errata, key=lambda e: (e.note, KINDS.index(e.kind), e.lines)))


@dataclass(frozen=True)
class Failure:
    """A line of the article's code that cannot run, shown by our own smallest code that fails
    the same way.

    `observed` is True when we ran `code` and caught this exception; False when the failure is
    stated from the library's documented behaviour (TensorFlow is not installed here).
    `framework` names the article's library when `code` is NumPy's equivalent of its failing
    line: `framework_error` is then what that library raises instead (stated, not run).
    """

    caption: str  # catalog key: what goes wrong, in words
    code: str  # our own smallest code with the same error (never the article's code)
    error: str  # exception type
    message: str
    observed: bool
    section: str  # where the article's failing line is
    lines: tuple[int, int]
    framework: str = ""  # "TensorFlow 2" when `code` is NumPy's stand-in for its line
    framework_error: str = ""  # "InvalidArgumentError: ...", as that library words it


def fails(
    caption: str, code: str, section: str, lines: tuple[int, int], **framework: str
) -> Failure:
    """Run our own smallest snippet (fixed text in this package) and keep the error it raises.
    `framework` (framework=..., framework_error=...) names what the article's library raises
    instead, when the snippet is NumPy's equivalent."""
    try:
        exec(code, {"__name__": "snippet"})  # noqa: S102 - our own constant code, never input
    except Exception as exc:  # noqa: BLE001 - the exception itself is the data we keep
        return Failure(
            caption, code, type(exc).__name__, str(exc), True, section, lines, **framework
        )
    raise AssertionError(f"{code!r} was expected to fail but ran")


@dataclass(frozen=True)
class Listing:
    """Corrected code for one code example of the article, in our own words, and its output.

    The code is a module of attnviz.examples.code: runnable on its own
    (`python -m attnviz.examples.code.c002`), and the example's numbers come from it.
    A line that corrects an erratum ends with the comment `# fix: <erratum name>`.
    """

    caption: str  # catalog key
    section: str  # the article's section the code corrects
    lines: tuple[int, int]  # first and last line of the article's code
    module: str  # dotted name of our module
    source: str  # its text
    output: str  # what its main() printed

    def line_of(self, key: str) -> int:
        """1-based line of `source` that fixes erratum `key`, 0 if none does."""
        tag = f"# fix: {key.rsplit('.', 1)[-1]}"
        for number, line in enumerate(self.source.splitlines(), start=1):
            if line.rstrip().endswith(tag):
                return number
        return 0


def listing(caption: str, section: str, lines: tuple[int, int], module) -> Listing:
    """Read one of our code modules and run its main(), keeping what it prints."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        module.main()
    source = inspect.getsource(module)
    return Listing(caption, section, lines, module.__name__, source, buffer.getvalue())


def notation(text: str) -> tuple[tuple[str, str], ...]:
    """An example's notation written as the page shows it, "symbol ↦ our name; ..." (the
    article's symbol in LaTeX; our name one of q, k, v, scores, scaled, weights, context, or a
    few: "k, v"), as (symbol, our name) pairs."""
    ours = {"q", "k", "v", "scores", "scaled", "weights", "context"}
    pairs = tuple(tuple(entry.split(" ↦ ")) for entry in text.split("; "))
    for pair in pairs:
        if len(pair) != 2 or not set(pair[-1].split(", ")) <= ours:
            raise ValueError(f"notation: {' ↦ '.join(pair)!r} is not 'symbol ↦ our name'")
    return pairs


@dataclass(frozen=True, eq=False)
class WorkedExample:
    name: str  # "001-4.4": article 001, section 4.4
    notation: tuple[tuple[str, str], ...]  # (article symbol in LaTeX, our name): notation(...)
    inputs: tuple[Table, ...]  # in the article's notation
    article_formulas: tuple[str, ...]  # LaTeX, as the article writes them
    correct_formulas: tuple[str, ...]  # LaTeX
    steps: tuple[Walk, ...]  # the correct computation(s), through attention.attend
    as_written: tuple[Table, ...]  # what the article's text or code actually gives
    results: tuple[Table, ...]  # further correct numbers (model outputs, X' ...)
    claims: tuple[Claim, ...]
    failures: tuple[Failure, ...]
    errata: tuple[Erratum, ...]
    listings: tuple[Listing, ...] = ()  # the corrected code, for code examples

    @property
    def article(self) -> str:
        """The article: "001" of "001-4.4"."""
        return self.name.split("-", 1)[0]

    @property
    def section(self) -> str:
        """The section: "4.4" of "001-4.4" (the page writes §4.4); article 000's is "code"."""
        return self.name.split("-", 1)[1]

    @property
    def title(self) -> str:
        """Catalog key of the example's title."""
        return f"examples.title.{self.name}"

    @property
    def summary(self) -> str:
        """Catalog key of the example's one-line summary."""
        return f"examples.summary.{self.name}"

    @property
    def intro(self) -> str:
        """Catalog key of the example's explanation."""
        return f"examples.intro.{self.name}"

    def errata_at(self, caption: str) -> tuple[Erratum, ...]:
        """The errata attached to one step, table, failure or listing ("" = the whole example),
        ranked."""
        return ranked(e for e in self.errata if e.at == caption)


def labels(prefix: str, n: int, start: int = 1) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(start, start + n))


def dims(n: int) -> tuple[str, ...]:
    """Column labels of vector components, 1-based like the articles."""
    return tuple(f"[{i}]" for i in range(1, n + 1))


def softmax_rows(x: np.ndarray) -> np.ndarray:
    """Plain softmax for the article's alternative readings (not attention: no q, k, v)."""
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
