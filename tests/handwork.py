"""Arithmetic written out by hand for the worked-example tests (tests/test_examples*.py)."""

import math

import numpy as np


def softmax(*scores: float) -> list[float]:
    """Written out so each test reads as the arithmetic it checks."""
    exps = [math.exp(s) for s in scores]
    return [x / sum(exps) for x in exps]


def keys_of(ex) -> set[str]:
    return {e.key for e in ex.errata}


def close(actual, expected, tol: float = 1e-12) -> None:
    np.testing.assert_allclose(np.asarray(actual, dtype=float), expected, rtol=0, atol=tol)
