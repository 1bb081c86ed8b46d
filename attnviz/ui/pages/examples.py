"""Worked examples: each article's example step by step, the article's version beside the
correct one, and an errata box.

Only wiring: the numbers come from attnviz.examples (computed through attention.attend), the
figures from attnviz.figures, every word from the `examples.*` catalog keys.
"""

import numpy as np
import pandas as pd
import streamlit as st

from attnviz import examples
from attnviz.figures.heatmap import heatmap
from attnviz.ui.common import labeler, render_breakdown, t

DIGITS = 4  # the articles print three decimals; one more shows where they rounded


def frame(values: np.ndarray, rows, cols) -> pd.DataFrame:
    return pd.DataFrame(np.round(np.asarray(values, dtype=float), DIGITS), index=rows, columns=cols)


def show_table(table: examples.Table) -> None:
    rows = [t(r) for r in table.rows] if table.keyed_rows else list(table.rows)
    if table.heatmap:
        signed = bool((table.values < 0).any())
        st.plotly_chart(
            heatmap(
                table.values,
                table.cols,
                rows,
                title=t(table.caption),
                zmin=None if signed else 0.0,
                colorscale="RdBu_r" if signed else "Blues",
            ),
            key=f"table_{table.caption}",
        )
        return
    st.caption(t(table.caption))
    st.dataframe(frame(table.values, rows, table.cols), width="stretch")
    if not np.isfinite(table.values).all():
        st.caption(t("examples.page.nonfinite"))


def show_claims(claims: tuple[examples.Claim, ...]) -> None:
    st.markdown(f"**{t('examples.page.claims')}**")
    for claim in claims:
        st.latex(claim.symbol)
        numbers = pd.DataFrame(
            [np.round(claim.claimed, DIGITS), np.round(claim.correct, DIGITS)],
            index=[t("examples.page.claim_claimed"), t("examples.page.claim_correct")],
            columns=[str(i + 1) for i in range(len(claim.claimed))],
        )
        st.dataframe(numbers, width="stretch")
        st.caption(f"{t('examples.page.claim_holds')}: {'✅' if claim.holds else '❌'}")


def show_failures(failures: tuple[examples.Failure, ...]) -> None:
    st.markdown(f"**{t('examples.page.failures')}**")
    for failure in failures:
        st.code(failure.code, language="python", wrap_lines=True)
        observed = "failure_observed" if failure.observed else "failure_stated"
        st.caption(t(f"examples.page.{observed}"))
        st.code(
            t("examples.page.failure_line", error=failure.error, message=failure.message),
            language=None,
            wrap_lines=True,
        )


def show_walk(walk: examples.Walk, key: str) -> None:
    step = walk.step
    st.markdown(f"**{t(walk.caption)}**")
    st.plotly_chart(
        heatmap(
            step.weights,
            walk.keys,
            walk.queries,
            title=t("examples.page.heatmap_weights"),
            zmax=1.0,
        ),
        key=f"{key}_heatmap",
    )
    tabs = st.tabs(
        [t(f"examples.page.step_{name}") for name in ("scores", "scaled", "weights", "context")]
    )
    for tab, name in zip(tabs, ("scores", "scaled", "weights"), strict=False):
        with tab:
            st.dataframe(frame(getattr(step, name), walk.queries, walk.keys), width="stretch")
    with tabs[3]:
        st.dataframe(frame(step.context, walk.queries, walk.features), width="stretch")


st.title(t("examples.page.heading"))
st.markdown(t("examples.page.lead"))

names = examples.names()
wanted = st.query_params.get("example")
start = names.index(wanted) if wanted in names else 0
left, right = st.columns(2)
article = left.selectbox(
    t("examples.page.article"),
    examples.ARTICLES,
    index=examples.ARTICLES.index(names[start][:3]),
    format_func=labeler("examples.article."),
    key="examples_article",
)
choices = examples.names_of(article)
name = right.selectbox(
    t("examples.page.example"),
    choices,
    index=choices.index(names[start]) if names[start] in choices else 0,
    format_func=labeler("examples.title."),
    key=f"examples_name_{article}",
)
ex = examples.run(name)  # computed once per process (functools.cache)

st.header(t(ex.title))
if ex.section == "code":
    st.caption(t("examples.page.section_code", article=ex.article))
else:
    st.caption(t("examples.page.section", article=ex.article, section=ex.section))
st.markdown(t(ex.intro))

st.markdown(f"**{t('examples.page.notation')}**")
st.latex(r",\quad ".join(rf"{symbol} \mapsto \mathtt{{{ours}}}" for symbol, ours in ex.notation))

st.subheader(t("examples.page.inputs"))
for column, table in zip(st.columns(len(ex.inputs)), ex.inputs, strict=True):
    with column:
        show_table(table)

said, correct = st.columns(2)
with said:
    st.subheader(t("examples.page.article_side"))
    st.markdown(f"**{t('examples.page.article_formulas')}**")
    for formula in ex.article_formulas:
        st.latex(formula)
    if ex.claims:
        show_claims(ex.claims)
    if ex.as_written:
        st.markdown(f"**{t('examples.page.as_written')}**")
        for table in ex.as_written:
            show_table(table)
    if ex.failures:
        show_failures(ex.failures)
with correct:
    st.subheader(t("examples.page.correct_side"))
    st.markdown(f"**{t('examples.page.correct_formulas')}**")
    for formula in ex.correct_formulas:
        st.latex(formula)
    for i, walk in enumerate(ex.steps):
        show_walk(walk, key=f"{name}_walk{i}")
    if ex.results:
        st.markdown(f"**{t('examples.page.results')}**")
        for table in ex.results:
            show_table(table)

st.subheader(t("examples.page.errata"))
if ex.errata:
    st.warning("\n".join(f"- {t(key)}" for key in ex.errata), icon="⚠️")
else:
    st.info(t("examples.page.no_errata"))
if examples.ARTICLE_ERRATA[ex.article]:
    st.markdown(f"**{t('examples.page.article_errata', article=ex.article)}**")
    st.warning("\n".join(f"- {t(key)}" for key in examples.ARTICLE_ERRATA[ex.article]), icon="📚")

st.subheader(t("examples.page.breakdown"))
walk_index = 0
if len(ex.steps) > 1:
    caption = st.radio(
        t("examples.page.correct_side"),
        [walk.caption for walk in ex.steps],
        format_func=labeler(""),
        horizontal=True,
        key=f"{name}_walk",
    )
    walk_index = [walk.caption for walk in ex.steps].index(caption)
walk = ex.steps[walk_index]
query = 0
if len(walk.queries) > 1:
    query = st.selectbox(
        t("examples.page.query"),
        range(len(walk.queries)),
        format_func=lambda i: walk.queries[i],
        key=f"{name}_{walk_index}_query",
    )
render_breakdown(walk.step, walk.keys, query=query, widget_key=f"{name}_{walk_index}_breakdown")
