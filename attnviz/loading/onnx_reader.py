"""Read the weights of an ONNX file without onnxruntime: the initializers through
`onnx.numpy_helper`, each named by its role in the graph, and the graph indexed so that a model's
loader can find the rest by following it (which tensors a model expects is its zoo file's).

Exporters keep readable names for biases, norms and convolutions but often store every matrix
weight as an anonymous `onnx::MatMul_NNNN` initializer, [in, out]. Each is named here by the bias
of the one `Add` node that consumes the `MatMul`'s output (`...query.bias` -> `...query.weight`),
never by its position in the file. Every tensor is checked: no initializer left without a role,
the expected names present with their shapes, finite; a `Resize` must compute what torch's
`interpolate` computes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

# The ops that only move data around between an initializer and where it is used.
_PASS = ("Cast", "Transpose", "Reshape", "Unsqueeze")


class OnnxLayoutError(ValueError):
    """The ONNX file is not laid out as this reader expects: wrong file or a changed export."""


class Graph:
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

    def onward(self, value: str) -> tuple[onnx.NodeProto, str]:
        """The first node that uses `value` past ops that only move data, and what it reads."""
        node = self.only_consumer(value)
        while node.op_type in _PASS:
            value = node.output[0]
            node = self.only_consumer(value)
        return node, value

    def constant(self, value: str) -> np.ndarray:
        node = self.producer.get(value)
        if value in self.inits:
            return numpy_helper.to_array(self.inits[value])
        if node is None or node.op_type != "Constant":
            raise OnnxLayoutError(f"{value} is not a constant")
        return numpy_helper.to_array(node.attribute[0].t)


def attrs(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _matmul_names(g: Graph) -> dict[str, str]:
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


def check_resize(node: onnx.NodeProto, mode: str) -> None:
    """The Resize must compute what torch's interpolate(align_corners=False) computes."""
    given = attrs(node)
    want = {"mode": mode.encode(), "coordinate_transformation_mode": b"half_pixel"}
    if mode == "cubic":
        want["cubic_coeff_a"] = -0.75  # torch's bicubic uses A = -0.75
    if given.get("exclude_outside", 0) != 0 or given.get("antialias", 0) != 0:
        raise OnnxLayoutError(f"Resize {node.name}: exclude_outside/antialias not supported")
    for key, value in want.items():
        got = given.get(key)
        if got != value and not (isinstance(value, float) and math.isclose(got, value)):
            raise OnnxLayoutError(f"Resize {node.name}: {key} = {got!r}, expected {value!r}")


def scalar_input(g: Graph, node: onnx.NodeProto) -> float:
    """The one scalar constant among a node's inputs."""
    values = [name for name in node.input if g.producer.get(name, node).op_type == "Constant"]
    if len(values) != 1 or g.constant(values[0]).size != 1:
        raise OnnxLayoutError(f"{node.op_type} {node.name} has no single scalar constant input")
    return float(g.constant(values[0]))


def named_tensors(g: Graph, claimed: set[str]) -> dict[str, np.ndarray]:
    """Every initializer as float32 under its readable name: its own, or for an anonymous
    MatMul weight its bias's (see `_matmul_names`). `claimed` are anonymous initializers the
    caller reads itself; any other without a name raises OnnxLayoutError."""
    names = {name: name for name in g.inits if not name.startswith("onnx::")}
    names.update(_matmul_names(g))
    unmapped = sorted(set(g.inits) - set(names) - claimed)
    if unmapped:
        raise OnnxLayoutError(f"initializers without a role: {unmapped[:5]}")
    return {
        ours: numpy_helper.to_array(g.inits[name]).astype(np.float32, copy=False)
        for name, ours in names.items()
    }


def check_shapes(tensors: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> None:
    """Exactly the names of `shapes`, each with its shape and finite (OnnxLayoutError if not)."""
    missing = sorted(set(shapes) - set(tensors))
    extra = sorted(set(tensors) - set(shapes))
    if missing or extra:
        raise OnnxLayoutError(f"missing {missing[:5]}, unexpected {extra[:5]}")
    for name, shape in shapes.items():
        if tensors[name].shape != shape:
            raise OnnxLayoutError(f"{name} has shape {tensors[name].shape}, expected {shape}")
        if not np.isfinite(tensors[name]).all():
            raise OnnxLayoutError(f"{name} contains NaN or infinity")


def read(path: Path) -> Graph:
    """The graph of an ONNX file, indexed (the file is read whole; no onnxruntime)."""
    return Graph(onnx.load(str(path)).graph)
