"""The examples page under AppTest, and the breakdown's layout for it (figures/breakdown.py)."""

from __future__ import annotations

import pytest
from conftest import open_app

from attnviz import examples
from attnviz.figures.breakdown import short, vector_text, visible
from attnviz.i18n import LANGS, catalog, t

# --- the page --------------------------------------------------------------------------------


def open_examples(lang: str, **params: str):
    at = open_app("examples", lang, first_run=False, **params)
    assert not at.exception, [e.message for e in at.exception]
    return at


def shown_errata(at) -> str:
    """Errors (warnings) and notes (information boxes) as the page shows them."""
    return "\n".join(w.value for w in (*at.warning, *at.info))


@pytest.mark.parametrize("lang", LANGS)
def test_page_opens_on_4_4_in_both_languages(lang):
    at = open_examples(lang)
    words = catalog(lang)
    assert at.header[0].value == words["examples.title.001-4.4"]
    assert at.info[0].value == words["examples.summary.001-4.4"]
    assert words["examples.errata.e001_0577"] in shown_errata(at)


def test_page_walks_the_whole_path():
    lang = "zh"  # the other language is opened above; one full walk keeps the suite quick
    at = open_examples(lang)
    words = catalog(lang)
    assert at.title[0].value == words["examples.page.heading"]
    assert at.header[0].value == words["examples.title.001-4.4"]  # the gentlest example first
    assert at.query_params["example"] == "001-4.4"
    for name in examples.PATH:
        at.selectbox(key="examples_path").set_value(name).run()
        assert not at.exception, (name, [e.message for e in at.exception])
        ex = examples.run(name)
        assert at.header[0].value == words[ex.title]
        assert any(words[f"examples.article.{ex.article}"] in m.value for m in at.markdown)
        assert words[f"examples.article_summary.{ex.article}"] in [c.value for c in at.caption]
        assert at.info[0].value == words[ex.summary]
        errata = shown_errata(at)
        assert all(words[e.key] in errata for e in ex.errata), name
        shown_code = [c.value.strip() for c in at.code]
        for code in ex.listings:
            assert code.source.strip() in shown_code and code.output.strip() in shown_code
        for walk in ex.steps:
            index = ex.steps.index(walk)
            if len(ex.steps) > 1:
                at.radio(key=f"{name}_walk").set_value(index).run()
                assert at.query_params["step"] == str(index)
            if len(walk.queries) > 1:
                at.selectbox(key=f"{name}_{index}_query").set_value(len(walk.queries) - 1)
                at.run()
            assert not at.exception, (name, walk.caption, [e.message for e in at.exception])
            query = len(walk.queries) - 1 if len(walk.queries) > 1 else 0
            vector = vector_text(walk.step.context[query], limit=8)
            symbol = walk.notation  # the breakdown speaks the article's notation
            assert at.text[-1].value == t(
                "examples.breakdown.context",
                lang,
                context=symbol["context"],
                weights=short(symbol["weights"]),
                vector=vector,
            ), name
            # and shows a scaled or masked column only where something is scaled or masked
            columns = list(at.dataframe[-1].value.columns)
            assert len(columns) == len(visible(5, walk.skipped)), (name, columns)
            assert symbol["weights"] in columns and t("step.weights", lang) not in columns
            assert (t("step.masked", lang) in columns) == walk.masked, (name, columns)
            for stage in walk.skipped:
                assert words[f"examples.page.skipped_{stage}"] in [c.value for c in at.caption]


def display_values(dataframe) -> list[list[str]]:
    """The cells as the page writes them (the Styler's text), not the numbers behind them."""
    import pyarrow as pa

    data = dataframe.proto.arrow_data.styler.display_values
    return pa.ipc.open_stream(data).read_all().to_pandas().values.tolist() if data else []


def test_page_opens_the_example_and_step_named_in_the_url_and_shows_nan_as_a_dash():
    at = open_examples("zh", example="004-4", step="1")
    assert at.header[0].value == catalog("zh")["examples.title.004-4"]
    assert at.radio(key="004-4_walk").value == 1
    assert at.info[0].value == catalog("zh")["examples.summary.004-4"]
    notes = [catalog("zh")[e.key] for e in examples.run("004-4").errata if e.note]
    assert all(any(n in box.value for n in notes) for box in at.info[1:])  # notes only
    tables = [cells for cells in map(display_values, at.dataframe) if cells]
    # the shapes table: Q is (2, 4), no third axis; as written Q Kᵀ is (2, 2, 16)
    assert next(cells[:2] for cells in tables if cells[0][-1] == "—") == [
        ["2.0000", "4.0000", "—"],
        ["2.0000", "16.0000", "4.0000"],
    ]
    assert not any("nan" in str(cells).lower() or "None" in str(cells) for cells in tables)


def test_page_bad_url_values_get_a_notice_and_the_default():
    at = open_examples("en", example="nope", step="7")
    words = catalog("en")
    assert at.header[0].value == words["examples.title.001-4.4"]
    assert t("link.bad_value", "en", param="example") in [w.value for w in at.warning]
    at = open_examples("en", example="001-4.4", step="7")
    assert t("link.bad_value", "en", param="step") in [w.value for w in at.warning]
    assert at.radio(key="001-4.4_walk").value == 0 and at.query_params["step"] == "0"


# --- the breakdown's layout (figures/breakdown.py) -------------------------------------------


def test_breakdown_figures_are_pure_and_select_columns_by_name():
    import subprocess
    import sys

    code = (
        "import sys, attnviz.figures.breakdown\n"
        "bad = {'torch', 'attnviz.attention', 'streamlit'} & set(sys.modules)\n"
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    from attnviz.figures import breakdown

    assert breakdown.visible(1) == ["key", "k", "scores"]
    assert breakdown.visible(4, ("scaled", "masked")) == ["key", "k", "scores", "exp", "weights"]
    walk = examples.run("002-4").steps[0]
    names = breakdown.headers("en", walk.notation)
    assert (names["scores"], names["weights"]) == ("s(i, j)", "αᵢⱼ")
    assert names["masked"] == t("step.masked", "en")  # no article symbol: our word, translated
    assert names["exp"] == "exp(masked − max)"  # the softmax reads the masked scores ...
    assert breakdown.headers("en", walk.notation, walk.skipped)["exp"] == "exp(s(i, j) − max)"
    four = examples.run("001-4.4").steps[0]  # ... or, with nothing masked, the scaled ones
    assert breakdown.headers("zh", four.notation, four.skipped)["exp"] == "exp(aᵢ − max)"
    assert [
        short(s) for s in ("aᵢ = Q·Kᵢ/√dₖ", "sₜ (Attention Score)", "s(i, j)", "y (Vᵢ = xᵢ)")
    ] == [
        "aᵢ",
        "sₜ",
        "s(i, j)",
        "y",
    ]
    assert breakdown.headers("en")["weights"] == t("step.weights", "en")  # other pages: ours


def test_notes_repeats_and_framework_errors_reach_the_json():
    payload = examples.to_json("004-4", "zh")
    notes = [e for e in payload["errata"] if e["note"]]
    assert [e["text"] for e in notes] == [catalog("zh")["examples.errata.e004_pooling"]]
    pooling = notes[0]
    assert pooling["also"] == [
        {"section": "4", "lines": [88, 88]},
        {"section": "6", "lines": [106, 106]},
    ]
    assert all(e["note"] is False for e in payload["errata"] if e is not pooling)
    # clarifications, not errors, everywhere they are worded as such
    for name, key in (("001-4.2", "e001_sqrt_reason"), ("001-5.2", "e001_loss_name")):
        (erratum,) = [e for e in examples.run(name).errata if e.key.endswith(key)]
        assert erratum.note and not erratum.at.startswith("examples.failure.")
    failures = examples.to_json("003-5")["failures"]
    assert [f["framework"] for f in failures] == ["TensorFlow 2", "TensorFlow 2", ""]
    assert failures[0]["error"] == "UFuncTypeError"  # what ran here, NumPy's
    assert failures[0]["framework_error"].startswith("InvalidArgumentError: cannot compute MatMul")
    steps = examples.to_json("001-5.2")["steps"]
    # "abc" fills the row: nothing masked; "ca" is padded: its <PAD> is masked
    assert [s["skipped"] for s in steps] == [["scaled", "masked"], ["scaled"]]
