"""Worked examples: each article's example step by step, the article's version beside the
correct one, the corrected code run beside the math, and each erratum where it belongs.

Only wiring: the numbers come from attnviz.examples (computed through attention.attend), the
figures from attnviz.figures, every word from the `examples.*` catalog keys. The URL keeps the
state (ui/state.py): `?example=ID&step=N&query=I` (N = which computation the step-by-step
section opens on, I = its query row).
"""

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import examples
from attnviz.figures.heatmap import heatmap
from attnviz.ui import charts, present, state
from attnviz.ui.breakdown import render_breakdown
from attnviz.ui.common import t

DIGITS = 4  # the articles print three decimals; one more shows where they rounded


def styled(values: np.ndarray, rows, cols):
    """A table of numbers; a cell with no number (nan) reads "—"."""
    table = pd.DataFrame(np.asarray(values, dtype=float), index=rows, columns=cols)
    return table.style.format(precision=DIGITS, na_rep="—")


def cite(section: str, lines: tuple[int, int]) -> str:
    """ "§5.2.3, lines 369–375"; article 000 has no numbered sections, only named parts."""
    first, last = lines
    where = t("examples.page.line", line=first) if first == last else None
    where = where or t("examples.page.lines", first=first, last=last)
    if not section[0].isdigit():
        return t("examples.page.cite_part", part=t(f"examples.page.part_{section}"), where=where)
    return t("examples.page.cite", section=section, where=where)


def show_errata(ex: examples.WorkedExample, errata) -> None:
    """The errata of one place, math first, then code, then references: the errors as a
    warning, the clarifications (notes) apart, as information."""
    for note, icon, box in ((False, "⚠️", st.warning), (True, "ℹ️", st.info)):
        items = []
        for erratum in (e for e in errata if e.note == note):
            fixed = [code.line_of(erratum.key) for code in ex.listings]
            fix = [t("examples.page.fixed_at", line=line) for line in fixed if line]
            again = [cite(section, lines) for section, lines in erratum.also]
            also = [t("examples.page.also", where="; ".join(again))] if again else []
            where = " · ".join([cite(erratum.section, erratum.lines), *also, *fix])
            kind = t(f"examples.page.kind_{erratum.kind}")
            label = f"{t('examples.page.note')} · {kind}" if note else kind
            items.append(f"- **{label}** · {where}  \n{t(erratum.key)}")
        if items:
            box("\n".join(items), icon=icon)


def show_table(ex: examples.WorkedExample, table: examples.Table) -> None:
    rows = [t(r) for r in table.rows] if table.keyed_rows else list(table.rows)
    if table.heatmap:
        signed = bool((table.values < 0).any())
        charts.chart(
            heatmap(
                table.values,
                table.cols,
                rows,
                title=t(table.caption),
                zmin=None if signed else 0.0,
                colorscale="RdBu_r" if signed else "Blues",
            ),
            key=f"table_{table.caption}",
            name=f"{ex.name}-{table.caption.rsplit('.', 1)[-1]}",
            matrix=table.values,
            rows=rows,
            cols=table.cols,
        )
    else:
        st.caption(t(table.caption))
        present.table(styled(table.values, rows, table.cols), width="stretch")
        if np.isinf(table.values).any():
            st.caption(t("examples.page.nonfinite"))
        if np.isnan(table.values).any():
            st.caption(t("examples.page.no_number"))
    show_errata(ex, ex.errata_at(table.caption))


def show_claims(claims: tuple[examples.Claim, ...]) -> None:
    st.markdown(f"**{t('examples.page.claims')}**")
    for claim in claims:
        st.latex(claim.symbol)
        present.table(
            styled(
                [claim.claimed, claim.correct],
                [t("examples.page.claim_claimed"), t("examples.page.claim_correct")],
                [str(i + 1) for i in range(len(claim.claimed))],
            ),
            width="stretch",
        )
        st.caption(f"{t('examples.page.claim_holds')}: {'✅' if claim.holds else '❌'}")


def show_failures(ex: examples.WorkedExample) -> None:
    st.subheader(t("examples.page.failures"))
    st.caption(t("examples.page.failures_lead"))
    for failure in ex.failures:
        st.markdown(f"**{t(failure.caption)}** · {cite(failure.section, failure.lines)}")
        st.code(failure.code, language="python", wrap_lines=True)
        if failure.framework:  # our code is NumPy's stand-in for the article's library
            st.caption(t("examples.page.failure_numpy", framework=failure.framework))
        else:
            observed = "failure_observed" if failure.observed else "failure_stated"
            st.caption(t(f"examples.page.{observed}"))
        st.code(f"{failure.error}: {failure.message}", language=None, wrap_lines=True)
        if failure.framework:
            st.caption(t("examples.page.failure_framework", framework=failure.framework))
            st.code(failure.framework_error, language=None, wrap_lines=True)
        show_errata(ex, ex.errata_at(failure.caption))


def show_walk(ex: examples.WorkedExample, walk: examples.Walk, key: str, first: bool) -> None:
    step = walk.step
    st.markdown(f"**{t(walk.caption)}**")
    charts.chart(
        heatmap(
            step.weights,
            walk.keys,
            walk.queries,
            title=t("examples.page.heatmap_weights"),
            zmax=1.0,
        ),
        key=f"{key}_heatmap",
        name=f"{key}-weights",
        matrix=step.weights,
        rows=walk.queries,
        cols=walk.keys,
    )
    stages = walk.stages
    if first:  # our names beside the article's symbols, once per example
        pairs = ", ".join(f"{symbol} = {ours}" for ours, symbol in stages)
        st.caption(t("examples.page.stage_names", pairs=pairs))
    for tab, (ours, _) in zip(st.tabs([symbol for _, symbol in stages]), stages, strict=True):
        with tab:
            columns = walk.features if ours == "context" else walk.keys
            present.table(styled(getattr(step, ours), walk.queries, columns), width="stretch")
    show_errata(ex, ex.errata_at(walk.caption))


def show_listing(ex: examples.WorkedExample, code: examples.Listing) -> None:
    st.markdown(f"**{t(code.caption)}**")
    st.caption(
        t("examples.page.listing_cite", where=cite(code.section, code.lines), module=code.module)
    )
    st.code(code.source, language="python", line_numbers=True)
    st.markdown(f"**{t('examples.page.listing_output')}**")
    st.code(code.output, language=None)
    show_errata(ex, ex.errata_at(code.caption))


st.title(t("examples.page.heading"))

path = list(examples.PATH)
# labels made now, in today's language (format_func may be called outside the script run)
titles = {
    option: t("examples.page.path_item", n=n, title=t(f"examples.title.{option}"))
    for n, option in enumerate(path, start=1)
}
# The picker on one row with the page's lead folded beside it, and below it the example's words
# beside its computation: the first figure starts above the fold at 1366×768 (issue 17).
with present.fold(t("present.inputs")):
    picker, about = st.columns([3, 1], vertical_alignment="bottom")
    state.bind("examples_path", "example", examples.START, state.choice(path))
    name = picker.selectbox(
        t("examples.page.path"), path, format_func=titles.get, key="examples_path"
    )
    about.popover(t("examples.page.about"), width="stretch").markdown(t("examples.page.lead"))
ex = examples.run(name)  # computed once per process (functools.cache)

st.header(t(ex.title))
words, figures = st.columns([2, 3], gap="medium")  # stacked on a phone: words first
with words:
    if ex.section == "code":
        st.caption(t("examples.page.section_code", article=ex.article))
    else:
        st.caption(t("examples.page.section", article=ex.article, section=ex.section))
    st.info(t(ex.summary), icon="📌")
    show_errata(ex, ex.errata_at(""))
    st.markdown(f"**{t(f'examples.article.{ex.article}')}**")
    st.caption(t(f"examples.article_summary.{ex.article}"))
    st.markdown(t(ex.intro))
    # inline formulas: they wrap at the column's width instead of scrolling sideways
    pairs = " · ".join(rf"${symbol} \mapsto \mathtt{{{ours}}}$" for symbol, ours in ex.notation)
    st.markdown(f"**{t('examples.page.notation')}**  \n{pairs}")
    st.subheader(t("examples.page.inputs"))
    for table in ex.inputs:
        show_table(ex, table)
with figures:
    st.subheader(t("examples.page.correct_side"))
    for i, walk in enumerate(ex.steps):
        show_walk(ex, walk, key=f"{name}_walk{i}", first=i == 0)

st.subheader(t("examples.page.formulas"))
said, correct = st.columns(2)
with said:
    st.markdown(f"**{t('examples.page.article_formulas')}**")
    for formula in ex.article_formulas:
        st.latex(formula)
with correct:
    st.markdown(f"**{t('examples.page.correct_formulas')}**")
    for formula in ex.correct_formulas:
        st.latex(formula)

if ex.listings:  # the code beside the math: the same computation, written out and run
    st.subheader(t("examples.page.listings"))
    for code in ex.listings:
        show_listing(ex, code)
if ex.results:
    st.markdown(f"**{t('examples.page.results')}**")
    for table in ex.results:
        show_table(ex, table)

if ex.claims or ex.as_written:
    st.subheader(t("examples.page.article_side"))
    if ex.claims:
        show_claims(ex.claims)
    for table in ex.as_written:
        show_table(ex, table)
if ex.failures:
    show_failures(ex)

if examples.ARTICLE_ERRATA[ex.article]:
    st.subheader(t("examples.page.article_errata", article=ex.article))
    show_errata(ex, examples.ARTICLE_ERRATA[ex.article])

st.subheader(t("examples.page.breakdown"))
# Keys per example: another example opens on its own first computation (or the one last seen).
walk_index = state.bind(f"{name}_walk", "step", 0, state.choice(range(len(ex.steps))))
if len(ex.steps) > 1:
    captions = [t(walk.caption) for walk in ex.steps]
    walk_index = st.radio(
        t("examples.page.computation"),
        range(len(ex.steps)),
        format_func=captions.__getitem__,
        horizontal=True,
        key=f"{name}_walk",
    )
walk = ex.steps[walk_index]
query_key = f"{name}_{walk_index}_query"
query = state.bind(query_key, "query", 0, state.choice(range(len(walk.queries))))
if len(walk.queries) > 1:
    query = st.selectbox(
        t("examples.page.query"),
        range(len(walk.queries)),
        format_func=lambda i: walk.queries[i],
        key=query_key,
    )
for stage in walk.skipped:  # said once, so a missing column is not a puzzle
    st.caption(t(f"examples.page.skipped_{stage}"))
render_breakdown(
    walk.step, walk.keys, query=query, widget_key=f"{name}_{walk_index}_breakdown",
    shown=present.steps("examples", len(present.STEPS)),
    notation={**walk.notation, "q": walk.queries[query]}, skipped=walk.skipped,
    formulas=walk.formulas or ex.correct_formulas,
)  # fmt: skip
state.link_box()
