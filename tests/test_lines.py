"""The line view as SVG (figures.lines): the lines kept, grouped by query for the hover rule,
every token escaped, the markup well-formed on its own (it is also the downloaded file)."""

import xml.etree.ElementTree as ET

import numpy as np

from attnviz.figures import lines

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # raises on markup that is not well-formed


def test_segments_keep_the_top_keys_above_the_threshold_relative_to_the_peak():
    w = np.array([[[0.9, 0.1, 0.0], [0.0, 0.05, 0.95], [0.34, 0.33, 0.33]]])  # (1, 3, 3)
    [(rows, cols, strength)] = lines.segments(w, top=2, min_weight=0.2)
    assert sorted(zip(rows.tolist(), cols.tolist(), strict=True)) == [
        (0, 0),
        (1, 2),
        (2, 0),
        (2, 1),
    ]
    found = {(r, c): s for r, c, s in zip(rows, cols, strength, strict=True)}
    np.testing.assert_allclose(found[(2, 0)], 0.34 / 0.95)
    assert strength.max() == 1.0
    [(rows, _, _)] = lines.segments(w, top=2, min_weight=0.2, query=2)
    assert set(rows.tolist()) == {2}


def test_each_query_group_holds_its_lines_in_every_head():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(4), size=(2, 4))  # (K=2, R=4, C=4), rows sum to 1
    root = parse(lines.lines_svg(w, [1, 5], list("abcd"), list("abcd"), top=2, min_weight=0.0))
    groups = root.findall("s:g[@class='q']", NS)
    assert [g.get("data-row") for g in groups] == ["0", "1", "2", "3"]
    for row, group in enumerate(groups):
        drawn = group.findall("s:line", NS)
        # two keys per head, both heads' colours, every line starting at the row's label
        assert len(drawn) == 4
        assert {d.get("stroke") for d in drawn} == {lines.HEAD_COLOURS[1], lines.HEAD_COLOURS[5]}
        assert {d.get("y1") for d in drawn} == {str(lines.TOP + lines.ROW * row + lines.ROW // 2)}
        # a line's class names its key, which the key label's hover rule highlights
        for d in drawn:
            col = int(d.get("class").removeprefix("k"))
            assert d.get("y2") == str(lines.TOP + lines.ROW * col + lines.ROW // 2)
    assert "svg:has(.k[data-col='3']:hover) line.k3" in root.find("s:style", NS).text


def test_tokens_are_text_never_markup():
    tokens = ["<img src=x onerror=alert(1)>", "<b>", "a&b", "x" * 40]
    svg = lines.lines_svg(np.eye(4)[None], [0], tokens, tokens, head_word="<i>head</i>")
    assert "<img" not in svg and "<b>" not in svg and "<i>" not in svg
    shown = [e.text for e in parse(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "<img src=x onerror=alert(1)>"[: lines.LABEL - 1] + "…" in shown
    assert "<b>" in shown and "a&b" in shown and "<i>head</i> 1" in shown
    assert max(len(s) for s in shown if s.startswith("x")) == lines.LABEL
