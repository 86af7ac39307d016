"""A benchmark worker: one process per case, driven over stdin/stdout by benchmarks.peers.runner.

Protocol: one JSON object per line. The first line names the case and config; the worker builds it and answers
{"ready": ...}. Then each {"cmd": "run", "iterations": n} is answered with the seconds of each iteration, and
{"cmd": "exit"} (or the end of stdin, when the parent is gone) ends the process. Answers are the lines starting
with `PREFIX`; anything else a framework prints to stdout is ignored by the parent.

    python benchmarks/peers/worker.py   (started by the runner; not meant to be run by hand)

It runs as a script, not as `-m benchmarks.peers.worker`, so that a timm worker never imports keras_vit (whose
package import loads TensorFlow: TensorFlow and PyTorch in one process can crash, and would share memory anyway).
"""

from __future__ import annotations

import json
import resource
import sys
import time
import traceback

PREFIX = "@@keras_vit_bench "


def peak_rss_mb():
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mb():
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * resource.getpagesize() / 2**20
    except OSError:  # not Linux
        return float("nan")


def _answer(message, out):
    out.write(PREFIX + json.dumps(message) + "\n")
    out.flush()


def _load_cases():
    """benchmarks/peers/cases.py, imported from its file without importing any package (keras_vit's import loads
    TensorFlow)."""
    import importlib.util
    import os

    module = sys.modules.get("benchmarks.peers.cases")
    if module is not None:
        return module
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases.py")
    spec = importlib.util.spec_from_file_location("_keras_vit_bench_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def serve(stdin=sys.stdin, stdout=sys.stdout):
    setup = _load_cases().setup

    first = stdin.readline()
    if not first:
        return
    job = json.loads(first)
    try:
        started = time.perf_counter()
        step = setup(job["case"], job["config"])
        setup_s = time.perf_counter() - started
        warmup = []
        for _ in range(int(job.get("warmup", 1))):
            t0 = time.perf_counter()
            step.run()
            warmup.append(time.perf_counter() - t0)
    except Exception as e:  # reported to the parent, which records the case as failed
        _answer({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-4000:]}, stdout)
        return
    _answer(
        {
            "ready": True,
            "images": step.images,
            "flops": step.flops,
            "steps": step.steps,
            "info": step.info,
            "setup_s": setup_s,
            "warmup_s": warmup,
            "rss_after_warmup_mb": current_rss_mb(),
        },
        stdout,
    )
    for line in stdin:
        command = json.loads(line)
        if command.get("cmd") != "run":
            break
        times = []
        for _ in range(int(command.get("iterations", 1))):
            t0 = time.perf_counter()
            step.run()
            times.append(time.perf_counter() - t0)
        _answer({"times": times, "peak_rss_mb": peak_rss_mb()}, stdout)
    _answer({"exit": True, "peak_rss_mb": peak_rss_mb()}, stdout)


if __name__ == "__main__":
    # Run as a script: this folder is sys.path[0]; drop it so that its module names shadow nothing.
    sys.path.pop(0)
    serve()
