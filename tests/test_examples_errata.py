"""The worked examples' errata, listings, notation, JSON and catalogs: each erratum where it
occurs, our own code only, one meaning per symbol."""

from __future__ import annotations

import json
import math
from collections import Counter

import pytest
from handwork import close, keys_of

from attnviz import examples
from attnviz.examples.base import notation
from attnviz.i18n import LANGS, catalog

# --- errata, listings, own words -------------------------------------------------------------

# Fragments of the articles' code (short, for this check only): none may appear in our code.
ARTICLE_FRAGMENTS = (
    "torch.mul(x, attention_weights)",
    "R[i][j] / sum(R[i])",
    "torch.bmm(weights.unsqueeze(1), embed)",
    "self.attention(embed).squeeze(2)",
    "attention_weights = np.zeros",
    "np.dot(input_sequence, attention_weights)",
    "tf.nn.softmax(W @ X1)",
    "torch.matmul(hidden, self.weight1)",
    "np.sqrt(self.hidden_size)",
)


def all_places(ex) -> set[str]:
    return {
        *(w.caption for w in ex.steps),
        *(t.caption for t in (*ex.inputs, *ex.as_written, *ex.results)),
        *(f.caption for f in ex.failures),
        *(c.caption for c in ex.listings),
        "",
    }


@pytest.mark.parametrize("name", examples.names())
def test_each_erratum_is_attached_to_a_place_of_its_example_with_lines(name):
    ex = examples.run(name)
    places = all_places(ex)
    assert ex.errata
    for erratum in ex.errata:
        assert erratum.at in places, (name, erratum.key, erratum.at)
        assert erratum.kind in ("math", "code", "refs") and 0 < erratum.lines[0] <= erratum.lines[1]
        # a numbered section, or one of article 000's named parts, which the page names in words
        assert erratum.section[0].isdigit() or f"examples.page.part_{erratum.section}" in catalog(
            "zh"
        )
        for section, lines in erratum.also:  # where the article says it again
            assert section[0].isdigit() and 0 < lines[0] <= lines[1]
        # the corrected code says where it fixes an error (a note corrects nothing)
        if erratum.kind == "code" and ex.listings and not erratum.note:
            assert any(code.line_of(erratum.key) for code in ex.listings), erratum.key
    # ranked: errors before notes; math, then code, then references, on every place
    for place in places:
        order = [(e.note, ("math", "code", "refs").index(e.kind)) for e in ex.errata_at(place)]
        assert order == sorted(order)


def test_the_index_slip_is_attached_to_4_2_as_well_as_3_2():
    for name in ("001-4.2", "001-4.4"):  # beside y_i = sum_j w_i x_j, both where it is shown
        index = {e.key: e for e in examples.run(name).errata}["examples.errata.e001_index_4"]
        assert index.at == "examples.step.values_x"
        assert (index.lines, index.also) == ((213, 213), (("4.3", (242, 242)),))
    assert "examples.errata.e001_index" in keys_of(examples.run("001-3.2"))


def test_unverifiable_citations_are_worded_as_unverifiable():
    refs = {e.key: e for e in (*examples.ARTICLE_ERRATA["001"], *examples.ARTICLE_ERRATA["003"])}
    for key in ("examples.errata.e001_unverifiable", "examples.errata.e003_ref_tutorial"):
        assert refs[key].kind == "refs"
        en = catalog("en")[key]
        assert "cannot be" in en and "invented" not in en and "fake" not in en
    order = [
        (e.note, ("math", "code", "refs").index(e.kind)) for e in examples.ARTICLE_ERRATA["001"]
    ]
    assert order == sorted(order)  # errors before notes, then math, code, references


def test_reworded_errata_say_what_the_issue_asked():
    en = catalog("en")
    assert "mean 0" in en["examples.errata.e001_sqrt_reason"]
    assert "variance 1" in en["examples.errata.e001_sqrt_reason"]
    assert "build a graph first" not in en["examples.errata.e003_tf_versions"]
    assert "cannot produce" not in en["examples.errata.e004_pooling"]
    assert "learned projections" in en["examples.errata.e004_pooling"]
    assert "2/3" in en["examples.errata.e001_values"]
    assert "0.6096" in en["examples.errata.e001_values"]
    assert "second computation" not in en["examples.errata.e001_values"]
    assert all("on the left" not in text for text in catalog("en").values())
    assert all("左侧" not in text for text in catalog("zh").values())


@pytest.mark.parametrize("name", [n for n in examples.names() if examples.run(n).listings])
def test_listings_are_our_code_run_for_their_output(name):
    ex = examples.run(name)
    for code in ex.listings:
        assert code.output.strip() and code.module.startswith("attnviz.examples.code.")
        assert code.lines[0] < code.lines[1]
        assert not [f for f in ARTICLE_FRAGMENTS if f in code.source]
    for failure in ex.failures:
        assert not [f for f in ARTICLE_FRAGMENTS if f in failure.code]


def test_no_article_code_anywhere_in_the_examples_package():
    from pathlib import Path

    package = Path(examples.__file__).parent
    for path in package.rglob("*.py"):
        text = path.read_text("utf-8")
        assert not [f for f in ARTICLE_FRAGMENTS if f in text], path


def test_numpy_listings_run_on_their_own_and_print_what_the_page_shows():
    import subprocess
    import sys

    for name, module in (("002-4", "c002"), ("003-5", "c003"), ("001-3.2", "c001_33")):
        (code,) = examples.run(name).listings
        done = subprocess.run(
            [sys.executable, "-m", f"attnviz.examples.code.{module}"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert done.stdout == code.output


def test_listing_numbers_by_hand():
    out002 = examples.run("002-4").listings[0].output
    assert "row sums = [1. 1. 1.]" in out002
    a1, a2 = 1 / (1 + math.exp(2.5)), math.exp(2.5) / (1 + math.exp(2.5))
    out003 = examples.run("003-5").listings[0].output
    assert f"Y = [ {a1 + 3 * a2:.4f} {2 * a1 - a2:.4f}]" in out003
    assert f"alpha = [{a1:.4f} {a2:.4f}]" in out003


# --- notation and order ----------------------------------------------------------------------


def test_path_opens_on_4_4_and_covers_every_example_once():
    assert examples.START == examples.PATH[0] == "001-4.4"
    assert sorted(examples.PATH) == sorted(examples.names())


def test_step_labels_use_the_article_notation_and_scaled_only_when_scaled():
    walk = examples.run("001-4.4").steps[0]
    assert walk.stages == (
        ("scores", "Q·Kᵢ"),
        ("scaled", "aᵢ = Q·Kᵢ/√dₖ"),
        ("weights", "wᵢ"),
        ("context", "y (Vᵢ = xᵢ)"),
    )
    # 001-3.2's weights depend on i and j: the tab says so, as its erratum asks
    assert dict(examples.run("001-3.2").steps[0].stages)["weights"] == "wᵢⱼ"
    three = examples.run("001-4.4").steps[2]  # three queries: w_ij, y_i, in its formulas too
    assert dict(three.stages)["weights"] == "wᵢⱼ" and "w_{ij}" in three.formulas[-1]
    assert dict(examples.run("002-4").steps[0].stages)["weights"] == "αᵢⱼ"
    for name in examples.names():
        for walk in examples.run(name).steps:
            scaled = walk.step.scale != 1 or walk.step.temperature != 1
            assert ("scaled" in dict(walk.stages)) == scaled, (name, walk.caption)
            assert "c" not in walk.queries  # c is the output, never the query row


def test_notation_is_read_as_the_page_writes_it_and_refuses_other_names():
    assert notation(r"x_i ↦ q; r(x_i, x_j) = x_i \cdot x_j ↦ scores; h_j ↦ q, k, v") == (
        ("x_i", "q"),
        (r"r(x_i, x_j) = x_i \cdot x_j", "scores"),
        ("h_j", "q, k, v"),
    )
    ex = examples.run("001-4.4")  # the name is its article and section
    assert (ex.article, ex.section) == ("001", "4.4")
    assert dict(ex.notation)[r"a_i = \frac{Q \cdot K_i}{\sqrt{d_k}}"] == "scaled"
    for bad in ("x_i ↦ attn", "x_i = q", "x_i ↦ q; y ↦ alpha", "x_i ↦ q, probs"):
        with pytest.raises(ValueError):
            notation(bad)


# --- JSON and catalogs -----------------------------------------------------------------------


@pytest.mark.parametrize("name", examples.names())
def test_to_json_round_trips(name):
    payload = examples.to_json(name)
    text = json.dumps(payload, allow_nan=False, ensure_ascii=False)
    again = json.loads(text)
    assert again == payload
    assert again["name"] == name and again["errata"]
    ex = examples.run(name)
    for walk, step in zip(ex.steps, again["steps"], strict=True):
        for field in ("q", "k", "v", "scores", "scaled", "weights", "context"):
            close(step[field], getattr(walk.step, field))
    assert len(again["failures"]) == len(ex.failures)


def test_to_json_writes_non_finite_numbers_as_strings():
    payload = examples.to_json("001-3.2")
    assert payload["as_written"][1]["values"][0] == ["inf", "-inf", "nan"]
    masked = examples.to_json("001-5.2")["steps"][1]["masked"]
    assert masked[0][2] == "-inf"


def texts(payload) -> list[str]:
    """Every caption, note and title of a JSON payload."""
    out = [payload["title"], payload["summary"], payload["intro"]]
    for group in ("inputs", "as_written", "results", "steps", "failures", "listings"):
        out += [item["caption"] for item in payload[group]]
    out += [e["text"] for e in payload["errata"] + payload["article_errata"]]
    out += [e["at"] for e in payload["errata"] if e["at"]]
    return out


@pytest.mark.parametrize("lang", LANGS)
def test_cli_prints_caption_and_note_text_in_the_chosen_language(lang, capsys):
    from attnviz.__main__ import main

    assert main(["example", "004-4", "--json", "--lang", lang]) == 0
    payload = json.loads(capsys.readouterr().out)
    words = catalog(lang)
    assert payload["title"] == words["examples.title.004-4"]
    assert not [text for text in texts(payload) if text.startswith("examples.")]
    assert words["examples.errata.e004_broadcast"] in [e["text"] for e in payload["errata"]]
    broadcast = next(
        e for e in payload["errata"] if e["text"] == words["examples.errata.e004_broadcast"]
    )
    assert broadcast["fixed_at"] == {"attnviz.examples.code.c004": 26}
    assert payload["steps"][0]["stages"]["weights"] == "softmax(QKᵀ/√dₖ)"


def test_every_catalog_key_exists_in_both_languages():
    for name in examples.names():
        ex = examples.run(name)
        keys = [ex.title, ex.summary, ex.intro, *(e.key for e in ex.errata)]
        keys += [e.key for e in examples.ARTICLE_ERRATA[ex.article]]
        keys += [w.caption for w in ex.steps] + [f.caption for f in ex.failures]
        keys += [c.caption for c in ex.listings]
        for table in (*ex.inputs, *ex.as_written, *ex.results):
            keys.append(table.caption)
            if table.keyed_rows:
                keys += table.rows
        for lang in LANGS:
            missing = [k for k in keys if k not in catalog(lang)]
            assert not missing, (lang, name, missing)
    for article in examples.ARTICLES:
        for lang in LANGS:
            assert f"examples.article.{article}" in catalog(lang)
            assert f"examples.article_summary.{article}" in catalog(lang)


def test_errata_keys_are_used_exactly_once_and_none_is_orphaned():
    used = [e.key for name in examples.names() for e in examples.run(name).errata]
    used += [e.key for errata in examples.ARTICLE_ERRATA.values() for e in errata]
    repeated = {k for k, n in Counter(used).items() if n > 1}
    # §4.2's formulas and §4.4's example, where each is shown
    assert repeated == {"examples.errata.e001_values", "examples.errata.e001_index_4"}
    defined = {k for k in catalog("en") if k.startswith("examples.errata.")}
    assert defined == set(used)


def test_results_are_frozen():
    ex = examples.run("001-4.4")
    with pytest.raises(ValueError):
        ex.steps[0].step.weights[0, 0] = 1.0
    with pytest.raises(ValueError):
        ex.inputs[0].values[0, 0] = 2.0
