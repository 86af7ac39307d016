"""Speed and memory of zoo models side by side with keras-hub and timm, measured in one interleaved run.

    >>> from benchmarks.peers import run_benchmark, write_report
    >>> report = run_benchmark("vit_b16", ["keras_vit:predict", "keras_hub:predict"], batch_size=8)
    >>> write_report(report, "bench_out")   # bench_out/vit_b16_b8.{json,md,png}

Each case runs in its own worker process (cases.py lists them); the runner (runner.py) interleaves timed rounds and
reports medians, paired ratios, images/s, GFLOP/s against a matmul ceiling measured in the same run and each
worker's peak RSS; report.py writes the files. The command line is `python -m benchmarks peers` (docs/speed.md).
"""

from benchmarks.peers.report import markdown, write_report
from benchmarks.peers.runner import run_benchmark

__all__ = ["markdown", "run_benchmark", "write_report"]
