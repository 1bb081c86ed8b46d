"""Run every benchmark module in this folder and print its markdown table, with the machine."""

import datetime
import importlib
import os
import pkgutil
import platform

import torch

import benchmarks
from attnviz.loading import pick_device

if __name__ == "__main__":
    print(f"# attnviz benchmarks — {datetime.date.today().isoformat()}")
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {device},"
        f" torch {torch.__version__}"
    )
    print(f"device the models ran on: {pick_device()}")
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if info.name.startswith("bench_"):
            print(f"\n## {info.name}\n")
            importlib.import_module(f"benchmarks.{info.name}").main()
