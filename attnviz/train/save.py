"""What every recipe shares: seeds, the device, timing, and writing models/NAME/."""

from __future__ import annotations

import argparse
import json
import platform
import random
import resource
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from attnviz import loading
from attnviz.zoo import registry


def seed_everything(seed: int = 0) -> torch.device:
    """Fixed seeds everywhere; returns the device to train on (CUDA when present)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    device = loading.pick_device()
    if device.type == "cpu":
        # One thread: these models are small, and on a busy 2-core machine a second thread
        # mostly spins waiting for the first (measured: 2-4x the CPU time for the same steps).
        torch.set_num_threads(1)
    return device


class Clock:
    """Wall time and this process's CPU time (user + system) since creation."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = self._cpu()

    @staticmethod
    def _cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def read(self) -> dict[str, float]:
        return {
            "wall_s": round(time.perf_counter() - self.wall, 1),
            "cpu_s": round(self._cpu() - self.cpu, 1),
        }


def machine() -> str:
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {torch.get_num_threads()} torch threads, {cuda}"


def write(folder: Path, model: torch.nn.Module, config, card: str) -> None:
    """model.safetensors (float32, CPU), config.json and CARD.md into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()
    }
    save_file(tensors, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(
        json.dumps(asdict(config), ensure_ascii=False, indent=2) + "\n", "utf-8"
    )
    (folder / "CARD.md").write_text(card, "utf-8")


def step(optimizer: torch.optim.Optimizer, loss: torch.Tensor, bar, epoch: int) -> None:
    """One optimiser step on `loss`, shown on the progress bar."""
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    bar.update()
    bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.3f}")


def run(train, name: str, argv: list[str]) -> None:
    """A recipe's command line: `--out DIR` (default models/NAME/) and `--steps N` (a quick check),
    then `train(name, out, steps)`."""
    parser = argparse.ArgumentParser(prog=f"python -m attnviz.train {name}")
    parser.add_argument("--out", type=Path, help="folder to write (default models/NAME/)")
    parser.add_argument("--steps", type=int, help="stop after this many batches (a quick check)")
    args = parser.parse_args(argv)
    train(name, args.out or registry.model_dir(name), steps=args.steps)
