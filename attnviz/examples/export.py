"""One worked example as plain JSON types, its words in one language (`python -m attnviz
example NAME --json --lang zh`).

Non-finite numbers are written as the strings "inf", "-inf" and "nan" so the output is strict
JSON.
"""

from __future__ import annotations

import math

import numpy as np

from attnviz.examples import ARTICLE_ERRATA, run
from attnviz.examples.base import Erratum, Listing, Table, Walk, ranked
from attnviz.i18n import t

STEP_FIELDS = ("q", "k", "v", "scores", "scaled", "masked", "weights", "context")


def _array(values: np.ndarray) -> list:
    """Nested lists; inf / -inf / nan (masked cells, broken recipes) become strings."""
    array = np.asarray(values, dtype=np.float64)
    if np.isfinite(array).all():
        return array.tolist()
    flat = [v if math.isfinite(v) else str(v) for v in array.ravel().tolist()]
    return np.array(flat, dtype=object).reshape(array.shape).tolist()


def _table(table: Table, lang: str) -> dict:
    return {
        "caption": t(table.caption, lang),
        "rows": [t(r, lang) for r in table.rows] if table.keyed_rows else list(table.rows),
        "cols": list(table.cols),
        "values": _array(table.values),
    }


def _walk(walk: Walk, lang: str) -> dict:
    step = walk.step
    return {
        "caption": t(walk.caption, lang),
        "queries": list(walk.queries),
        "keys": list(walk.keys),
        "features": list(walk.features),
        "stages": {ours: symbol for ours, symbol in walk.stages},
        "skipped": list(walk.skipped),  # stages that change nothing here (not in the breakdown)
        "formulas": list(walk.formulas),  # LaTeX where it differs from correct_formulas
        "score": step.score,
        "scale": step.scale,
        "temperature": step.temperature,
        **{name: _array(getattr(step, name)) for name in STEP_FIELDS},
    }


def _erratum(erratum: Erratum, lang: str, listings: tuple[Listing, ...]) -> dict:
    fixed = {code.module: code.line_of(erratum.key) for code in listings}
    return {
        "text": t(erratum.key, lang),
        "kind": erratum.kind,
        "note": erratum.note,  # a clarification, not an error
        "section": erratum.section,
        "lines": list(erratum.lines),
        "also": [{"section": section, "lines": list(lines)} for section, lines in erratum.also],
        "at": t(erratum.at, lang) if erratum.at else "",
        "fixed_at": {module: line for module, line in fixed.items() if line},
    }


def to_json(name: str, lang: str = "en") -> dict:
    """Inputs, every step's arrays, claims, failures, corrected code and errata; captions and
    notes as text in `lang`, never catalog keys."""
    example = run(name)
    listings = example.listings
    return {
        "name": example.name,
        "article": example.article,
        "section": example.section,
        "title": t(example.title, lang),
        "summary": t(example.summary, lang),
        "intro": t(example.intro, lang),
        "notation": [{"article": a, "ours": b} for a, b in example.notation],
        "inputs": [_table(table, lang) for table in example.inputs],
        "article_formulas": list(example.article_formulas),
        "correct_formulas": list(example.correct_formulas),
        "steps": [_walk(walk, lang) for walk in example.steps],
        "as_written": [_table(table, lang) for table in example.as_written],
        "results": [_table(table, lang) for table in example.results],
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
            {
                "caption": t(f.caption, lang),
                "code": f.code,
                "error": f.error,
                "message": f.message,
                "observed": f.observed,
                "section": f.section,
                "lines": list(f.lines),
                "framework": f.framework,
                "framework_error": f.framework_error,
            }
            for f in example.failures
        ],
        "listings": [
            {
                "caption": t(code.caption, lang),
                "section": code.section,
                "lines": list(code.lines),
                "module": code.module,
                "source": code.source,
                "output": code.output,
            }
            for code in listings
        ],
        "errata": [_erratum(e, lang, listings) for e in ranked(example.errata)],
        "article_errata": [_erratum(e, lang, ()) for e in ARTICLE_ERRATA[example.article]],
    }
