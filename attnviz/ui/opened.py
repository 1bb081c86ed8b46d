"""Where the open page's numbers come from: an uploaded trace file read once (keyed by a hash
of its bytes, in the server's byte-bounded cache; the bytes are never written to disk), and what
is computed from it (head statistics, rollout), cached beside it.
"""

from __future__ import annotations

import hashlib

import numpy as np

from attnviz import headstats, opentrace
from attnviz.rollout import rollout
from attnviz.ui import cache


def analyse(data: bytes) -> tuple[str, opentrace.OpenTrace, list[str]]:
    """(digest, trace, notices) of an uploaded file's bytes; InputError when it is refused
    (exceptions are not cached: a retry reads again)."""
    digest = hashlib.sha256(data).hexdigest()
    return digest, *cache.shared().get(("open", digest), lambda: opentrace.read(data))


def get_stats(digest: str, trace: opentrace.OpenTrace) -> headstats.HeadStats:
    """Every head's statistics (self-attention only); special tokens read from the labels."""

    def make() -> headstats.HeadStats:
        return headstats.head_stats(
            trace.attentions,
            special=trace.special,
            punct=headstats.punct_mask(trace.keys),
            allowed=trace.layers[0].allowed if trace.layers else None,
        )

    return cache.shared().get(("open_stats", digest), make)


def get_rollout(digest: str, trace: opentrace.OpenTrace) -> np.ndarray:
    """(L, T, T) cumulative rollout after every layer (self-attention only)."""
    return cache.shared().get(
        ("open_rollout", digest), lambda: rollout(trace.attentions).astype(np.float32)
    )
