"""The five articles' worked examples, as data and code, recomputed correctly.

Each example is named `<article>-<section>` (`001-4.4` is article 001, section 4.4); one module
per article (a000 ... a004; a001_52 holds 001's classifier). `run(name)` recomputes it through
`attention.attend` (the only attention math) and returns a frozen `WorkedExample`: the inputs in
the article's own notation, the correct computation step by step, what the article's text or
code actually produces (side by side with the correct numbers), the numbers the article claims,
the article's failing lines (each shown by our own smallest code that fails the same way), the
corrected code (attnviz.examples.code, run for its output) and the errata, each attached to the
step, table, failure or listing it concerns, with the article's section and lines.

The article's notation is mapped to ours once, in each example's `notation`:
    Q -> q,  K_i -> k,  V_i / x_j -> v,  Q.K_i -> scores,  Q.K_i/sqrt(d_k) -> scaled,
    softmax -> weights,  y / Y / output -> context.

The article's code is never reproduced. Nothing runs at import time. `PATH` is the order the
page teaches in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from attnviz.examples import a000, a001, a001_52, a002, a003, a004
from attnviz.examples.base import (
    Claim,
    Erratum,
    Failure,
    Listing,
    Table,
    Walk,
    WorkedExample,
    ranked,
)

__all__ = ["ARTICLES", "ARTICLE_ERRATA", "Claim", "Failure", "Table", "Walk", "WorkedExample"]
__all__ += ["Erratum", "Listing", "PATH", "START", "names", "names_of", "run", "to_json"]

ARTICLES = ("000", "001", "002", "003", "004")

# Errata about an article as a whole (claims in prose, references), not one computation.
ARTICLE_ERRATA: dict[str, tuple[Erratum, ...]] = {
    "000": ranked(a000.ARTICLE_ERRATA),
    "001": ranked(a001.ARTICLE_ERRATA),
    "002": ranked(a002.ARTICLE_ERRATA),
    "003": ranked(a003.ARTICLE_ERRATA),
    "004": (),
}

# The order that teaches: the gentlest numbers first, then the formulas they test, then code
# from the shortest to the longest, ending with the one that mixes a batch.
PATH = ("001-4.4", "001-4.2", "001-3.2", "002-4", "003-5", "000-code", "001-5.2", "004-4")
START = PATH[0]


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[[], WorkedExample]] = {
    **a000.BUILDERS,
    **a001.BUILDERS,
    **a001_52.BUILDERS,
    **a002.BUILDERS,
    **a003.BUILDERS,
    **a004.BUILDERS,
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


from attnviz.examples.export import to_json  # noqa: E402 - it reads run() above
