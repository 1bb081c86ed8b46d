"""Benchmarks: `make bench` runs every `bench_*.py` here; results are recorded in BENCHMARKS.md."""
