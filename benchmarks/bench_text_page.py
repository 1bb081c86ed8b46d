"""What the text page sends to the browser, and how long it takes, for a 512-token input.

Two tables:

1. Figure builders alone (attnviz/figures/*): JSON bytes of each figure as streamlit sends it
   (`plotly.io.to_json`, which streamlit calls) and the time to build it from a real trace.
2. The page itself under streamlit's AppTest, one rerun per view: the bytes of every element's
   protobuf message in the rerun (figures, tables, text: what goes over the websocket) and the
   wall time of the rerun with the trace already cached.

    python benchmarks/bench_text_page.py [--models minilm e5] [--tokens 512]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from attnviz import headstats, i18n  # noqa: E402
from attnviz.figures import text as figs  # noqa: E402
from attnviz.figures.heatmap import heatmap  # noqa: E402
from attnviz.rollout import rollout  # noqa: E402
from attnviz.views import text as views  # noqa: E402
from attnviz.zoo import registry  # noqa: E402

VIEWS = ("heads", "overview", "lines", "stats", "rollout")
WORDS = (
    "the",
    "animal",
    "did",
    "not",
    "cross",
    "the",
    "street",
    "because",
    "it",
    "was",
    "too",
    "tired",
)


def text_of(n: int) -> str:
    """More plain English words than the model reads, so the input is cut at 512 tokens."""
    return " ".join(WORDS[i % len(WORDS)] for i in range(n + 50))


def timed(fn, repeat: int = 3):
    """(result, best wall seconds of `repeat` runs)."""
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return result, best


def figure_rows(name: str, tokens: int) -> list[tuple]:
    from attnviz.zoo import bert

    model = bert.load(name)
    trace, forward = timed(lambda: model.trace(text_of(tokens)), repeat=1)
    t = len(trace.tokens)
    attentions = trace.attentions  # (L, H, T, T)
    labels = list(trace.tokens)
    weights = attentions[0, 0]
    rows = [(name, t, "forward with trace (model.trace)", "-", forward)]

    fig, s = timed(lambda: heatmap(weights, labels, labels, title="layer 1, head 1"))
    rows.append((name, t, "one head: figures.heatmap", figs.figure_bytes(fig), s))
    layers = [layer.weights for layer in trace.layers]  # L x (H, T, T), as the page reads them
    (fig, side), s = timed(lambda: figs.overview_of(layers, labels, trace.special, trace.segment))
    rows.append(
        (name, t, f"all heads overview ({side}×{side} per head)", figs.figure_bytes(fig), s)
    )
    window = views.window(
        views.select(attentions[0], labels, trace.special, np.zeros(t)), 0, 64
    )  # (H, 64, 64)
    fig, s = timed(lambda: figs.head_lines(window.matrix, range(attentions.shape[1]),
                                            window.row_labels, window.col_labels))  # fmt: skip
    rows.append((name, t, "lines, all heads, 64-token window", figs.figure_bytes(fig), s))
    full = views.select(attentions[0, :1], labels, trace.special, np.zeros(t))
    fig, s = timed(lambda: figs.head_lines(full.matrix, [0], labels, labels))
    rows.append(
        (name, t, "lines, one head, all tokens (not used by page)", figs.figure_bytes(fig), s)
    )
    stats, s = timed(lambda: headstats.trace_stats(trace))
    rows.append((name, t, "head statistics (numpy)", "-", s))
    fig, s = timed(lambda: figs.stats_map(stats.entropy))
    rows.append((name, t, "statistics map", figs.figure_bytes(fig), s))
    result, s = timed(lambda: rollout(layers))
    rows.append((name, t, "rollout (numpy)", "-", s))
    fig, s = timed(lambda: heatmap(result[-1], labels, labels))
    rows.append((name, t, "rollout heatmap", figs.figure_bytes(fig), s))
    return rows


def element_bytes(node) -> int:
    """Protobuf bytes of every element below a node of AppTest's element tree."""
    children = getattr(node, "children", None)
    if children:
        return sum(element_bytes(child) for child in children.values())
    proto = getattr(node, "proto", None)
    return proto.ByteSize() if proto is not None and hasattr(proto, "ByteSize") else 0


def page_rows(name: str, tokens: int) -> list[tuple]:
    from streamlit.testing.v1 import AppTest

    # A one-page app, so the measure does not depend on the other pages.
    main = Path(tempfile.mkdtemp()) / "text_only.py"
    main.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import streamlit as st\n"
        "st.session_state.setdefault('lang', 'en')\n"
        f"st.navigation([st.Page({str(ROOT / 'attnviz/ui/pages/text.py')!r})]).run()\n"
    )
    at = AppTest.from_file(str(main), default_timeout=600)
    at.run()
    at.text_area(key="text_a").input(text_of(tokens))
    at.run()  # the forward, once; later reruns hit the cache
    radio = next(r for r in at.radio if r.label == i18n.t("text.model", "en"))
    radio.set_value(name)
    at.run()
    rows = []
    for words in (False, True):
        at.radio(key="text_units").set_value("words" if words else "tokens")
        for view in VIEWS:
            at.radio(key="text_view").set_value(view)
            start = time.perf_counter()
            at.run()  # first draw of this view (its own figures are built and cached)
            first = time.perf_counter() - start
            start = time.perf_counter()
            at.run()  # a plain rerun, as after moving any widget that does not change the view
            again = time.perf_counter() - start
            if at.exception:
                raise RuntimeError([e.value for e in at.exception])
            unit = "words" if words else "tokens"
            rows.append((name, f"{view} ({unit})", element_bytes(at._tree), first, again))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["minilm", "e5"])
    parser.add_argument("--tokens", type=int, default=512)
    args = parser.parse_args(argv if argv is not None else [])
    models = [m for m in args.models if registry.installed(m)]
    for missing in sorted(set(args.models) - set(models)):
        print(f"(skipped {missing}: not installed, {registry.ModelMissing(missing).install})")

    print("| model | tokens | figure / step | JSON bytes | best of 3, s |")
    print("|---|---:|---|---:|---:|")
    for name in models:
        for model, t, what, size, seconds in figure_rows(name, args.tokens):
            size = f"{size:,}" if isinstance(size, int) else size
            print(f"| {model} | {t} | {what} | {size} | {seconds:.3f} |")

    print()
    print("| model | view (one rerun, 512 tokens) | bytes sent | first draw, s | rerun, s |")
    print("|---|---|---:|---:|---:|")
    for name in models:
        for model, view, size, first, again in page_rows(name, args.tokens):
            print(f"| {model} | {view} | {size:,} | {first:.2f} | {again:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
