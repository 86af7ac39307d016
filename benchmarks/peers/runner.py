"""Runs benchmark cases side by side: one worker process per case, warmed up, then timed in interleaved rounds.

Round r times one sample of every case in turn (A B C, then C B A on the next round, so that slow drifts of the
machine hit every case alike); a case's speed is its median over rounds, and the ratio of two cases is the median of
their per-round ratios (paired: both were measured within one round). Workers are always ended: each gets an exit
command, then is killed if it has not exited within a few seconds, and is waited for.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import selectors
import statistics
import subprocess
import sys
import time

from benchmarks.peers.cases import PEER_MODULES, PEERS, forward_flops, parse_case
from benchmarks.peers.worker import PREFIX

WORKER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "worker.py")


class WorkerError(RuntimeError):
    pass


class Worker:
    """One case's process. Use as a context manager, or call close()."""

    def __init__(self, case, config, warmup, env, log_path, timeout_s):
        self.case = case
        self.timeout_s = timeout_s
        self.log_path = log_path
        self._log = open(log_path, "w") if log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, WORKER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=env,
        )
        self.pid = self.process.pid
        self.exit_info = {}
        self.unresponsive = False
        try:
            self._send({"case": case, "config": config, "warmup": warmup})
        except OSError:
            pass  # the worker died at start; ready() reports it

    def _send(self, message):
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def _receive(self, timeout_s):
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.unresponsive = True
                    raise WorkerError(f"{self.case}: no answer within {timeout_s:.0f} s{self._log_hint()}")
                if not selector.select(left):
                    continue
                line = self.process.stdout.readline()
                if not line:
                    raise WorkerError(f"{self.case}: the worker exited (code {self.process.poll()}){self._log_hint()}")
                if line.startswith(PREFIX):
                    message = json.loads(line[len(PREFIX):])
                    if "error" in message:
                        raise WorkerError(f"{self.case}: {message['error']}{self._log_hint()}")
                    return message

    def _log_hint(self):
        return f" (worker log: {self.log_path})" if self.log_path else ""

    def ready(self):
        return self._receive(self.timeout_s)

    def run(self, iterations=1):
        self._send({"cmd": "run", "iterations": iterations})
        return self._receive(self.timeout_s)

    def close(self):
        """Asks the worker to exit, kills it if it does not, and always waits for it."""
        if self.process.poll() is None and self.unresponsive:
            self.process.kill()
        if self.process.poll() is None:
            try:
                self._send({"cmd": "exit"})
                self.exit_info = self._receive(30)
            except (OSError, ValueError, WorkerError):
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        if self._log is not subprocess.DEVNULL:
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def resolve_config(model, batch_size, overrides):
    """What every worker needs to know about the model, resolved here so that peers' workers need no keras_vit."""
    import keras_vit

    spec = keras_vit.get_spec(model, **overrides)
    config = {"model": spec.name, "batch_size": int(batch_size), "overrides": dict(overrides)}
    return {
        **config,
        "family": spec.family,
        "aliases": list(spec.aliases),
        "model_section": json.loads(json.dumps(spec.model)),  # plain dicts and lists, as the workers receive it
        "forward_flops": forward_flops(config),
    }


def available(case):
    """None when the case's peer is installed, else the reason it is skipped."""
    peer, _ = parse_case(case)
    module = PEER_MODULES.get(peer)
    if module and importlib.util.find_spec(module) is None:
        extra = "deploy" if peer in ("onnxruntime", "openvino", "litert") else "bench"
        return f"{module} is not installed (pip install 'keras-vit[{extra}]')"
    return None


def default_cases(model_name):
    """Every case for a model: all of keras_vit's and the peers' (the runner skips peers that are missing)."""
    return [f"{peer}:{mode}" for peer, modes in PEERS.items() for mode in modes]


def worker_env(onednn=True):
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if onednn:
        env.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    # The worker must import this checkout's keras_vit (the folder above benchmarks/) even when it is not installed.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


def run_benchmark(model, cases=None, *, batch_size=8, overrides=None, rounds=5, warmup=2, iterations=1,
                  onednn=True, log_dir=None, timeout_s=1800, reference=None, echo=print):
    """Runs `cases` ("peer:mode") for one zoo model and returns the report dict (see report.py for its files).

    Args:
        model: a zoo name ("vit_b16").
        cases: list of "peer:mode" (benchmarks.peers.cases.PEERS); default every case; "ceiling:matmul" is always
            added (GFLOP/s are reported against it).
        batch_size: images per step.
        overrides: model hyperparameter overrides (image_size=..., num_classes=...).
        rounds: timed samples per case, interleaved.
        warmup: untimed runs per case after setup (compilation happens there).
        iterations: runs per timed sample.
        onednn: sets TF_ENABLE_ONEDNN_OPTS=1 in the workers unless the environment says otherwise.
        log_dir: folder for one stderr log per worker (None: discarded).
        timeout_s: per-answer limit of a worker (setup included).
        reference: the case that ratios are reported against (default: the first peer case that ran, else the
            first case).
        echo: progress printer (None for silence).
    """
    echo = echo or (lambda *a, **k: None)
    overrides = dict(overrides or {})
    cases = list(dict.fromkeys(cases or default_cases(model)))
    if "ceiling:matmul" not in cases:
        cases.append("ceiling:matmul")
    config = resolve_config(model, batch_size, overrides)
    env = worker_env(onednn)
    if log_dir:
        os.makedirs(log_dir, exist_ok=True)
    skipped, failed, ready, samples, peak, final_peak = {}, {}, {}, {}, {}, {}
    workers = {}
    started, worker_pids = [], []
    try:
        for case in cases:
            reason = available(case)
            if reason:
                skipped[case] = reason
                echo(f"skip {case}: {reason}")
                continue
            log_path = os.path.join(log_dir, case.replace(":", "-") + ".log") if log_dir else None
            echo(f"setting up {case} ...")
            backend = parse_case(case)[0]
            case_env = {**env, "KERAS_BACKEND": backend} if backend in ("jax", "torch") else env
            worker = Worker(case, config, warmup, case_env, log_path, timeout_s)
            started.append(worker)
            worker_pids.append(worker.pid)
            try:
                ready[case] = worker.ready()
            except WorkerError as e:
                failed[case] = str(e)
                echo(f"failed {case}: {e}")
                worker.close()
                continue
            workers[case] = worker
            samples[case] = []
        order = list(workers)
        for r in range(rounds):
            for case in order if r % 2 == 0 else order[::-1]:
                if case in failed:
                    continue
                try:
                    answer = workers[case].run(iterations)
                except WorkerError as e:
                    failed[case] = str(e)
                    continue
                samples[case].append(statistics.median(answer["times"]))
                peak[case] = answer["peak_rss_mb"]
            echo(f"round {r + 1}/{rounds} done")
    finally:
        for worker in started:
            worker.close()
            if worker.exit_info:
                final_peak[worker.case] = worker.exit_info.get("peak_rss_mb")
    measured = [c for c in workers if c not in failed and samples.get(c)]
    for case in measured:
        peak[case] = final_peak.get(case, peak.get(case))
    return summarize(model, config, measured, samples, ready, peak, skipped, failed, reference, rounds, warmup,
                     iterations, env, worker_pids)


def summarize(model, config, cases, samples, ready, peak, skipped, failed, reference, rounds, warmup, iterations,
              env, worker_pids):
    ceiling = None
    if "ceiling:matmul" in cases:
        ceiling = ready["ceiling:matmul"]["flops"] / statistics.median(samples["ceiling:matmul"]) / 1e9
    model_cases = [c for c in cases if not c.startswith("ceiling:")]
    if reference not in model_cases:
        peers = [c for c in model_cases if not c.startswith("keras_vit:")]
        reference = peers[0] if peers else (model_cases[0] if model_cases else None)
    rows = []
    for case in model_cases:
        times = samples[case]
        median_s = statistics.median(times)
        info = ready[case]
        gflops = info["flops"] / median_s / 1e9
        row = {
            "case": case,
            "median_s": median_s,
            "steps_per_run": info.get("steps", 1),
            "median_step_s": median_s / info.get("steps", 1),
            "min_s": min(times),
            "max_s": max(times),
            "samples_s": times,
            "images_per_s": info["images"] / median_s,
            "gflops_per_s": gflops,
            "fraction_of_ceiling": gflops / ceiling if ceiling else None,
            "peak_rss_mb": peak.get(case),
            "rss_after_warmup_mb": info.get("rss_after_warmup_mb"),
            "setup_s": info.get("setup_s"),
            "warmup_s": info.get("warmup_s"),
            "info": info.get("info", {}),
        }
        if reference:
            row["speedup_vs_reference"] = paired_ratio(samples[reference], times)
        rows.append(row)
    ratios = {a: {b: paired_ratio(samples[b], samples[a]) for b in model_cases if b != a} for a in model_cases}
    return {
        "model": model,
        "config": config,
        "reference": reference,
        "rounds": rounds,
        "warmup": warmup,
        "iterations_per_sample": iterations,
        "matmul_ceiling_gflops_per_s": ceiling,
        "results": rows,
        "paired_speedups": ratios,
        "skipped": skipped,
        "failed": failed,
        "worker_pids": worker_pids,
        "environment": environment(env),
    }


def paired_ratio(slow_times, fast_times):
    """How many times faster `fast` is than `slow`: the median over rounds of slow[r] / fast[r], with its range."""
    pairs = [s / f for s, f in zip(slow_times, fast_times) if f > 0]
    if not pairs:
        return None
    return {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs), "rounds": len(pairs)}


def environment(env):
    import keras_vit

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "keras_vit": keras_vit.__version__,
        "TF_ENABLE_ONEDNN_OPTS": env.get("TF_ENABLE_ONEDNN_OPTS"),
        "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
