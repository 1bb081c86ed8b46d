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
from functools import cache

import numpy as np

from attnviz.examples import a000, a001, a002, a003, a004
from attnviz.examples.base import Claim, Failure, Table, Walk, WorkedExample

__all__ = ["ARTICLES", "ARTICLE_ERRATA", "Claim", "Failure", "Table", "Walk", "WorkedExample"]
__all__ += ["names", "names_of", "run", "to_json"]

ARTICLES = ("000", "001", "002", "003", "004")

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


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------

_BUILDERS: dict[str, Callable[[], WorkedExample]] = {
    **a000.BUILDERS,
    **a001.BUILDERS,
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
