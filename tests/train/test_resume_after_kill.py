"""Kill `keras-vit train` with SIGKILL in the middle of an epoch, start it again: it resumes from the backup and ends
with the optimizer step count of an uninterrupted run (epochs x steps per epoch)."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.train.processes import ROOT, environment, tail

EPOCHS, STEPS = 4, 60


def command(output_dir):
    sets = ["model.hidden_dim=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_dim=32",
            "run.jit_compile=false", "run.tensorboard=false", "run.verbose=0", "run.eval_steps=2"]
    return [sys.executable, "-m", "keras_vit.cli", "train", "--recipe", "mnist_vit", f"--epochs={EPOCHS}",
            f"--steps_per_epoch={STEPS}", "--batch_size=16", f"--output_dir={output_dir}",
            *[f"--set={s}" for s in sets]]


def epoch_records(output_dir):
    path = output_dir / "train_log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(tmp_path):
    output_dir = tmp_path / "run"
    proc = subprocess.Popen(command(output_dir), cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            done = [r for r in epoch_records(output_dir) if r["event"] == "epoch"]
            if any(r["epoch"] == 2 for r in done):
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed:\n" + tail(proc.communicate()[0])
        # epoch 3 has begun: wait for part of it (about 40% of an epoch's time), then kill the process for real
        time.sleep(0.4 * done[-1]["seconds"])
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    finished = [r["epoch"] for r in epoch_records(output_dir) if r["event"] == "epoch"]
    assert finished[-1] < EPOCHS and not (output_dir / "summary.json").exists()
    assert (output_dir / "backup").is_dir()

    rerun = subprocess.run(command(output_dir), cwd=ROOT, env=environment(), capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, tail(rerun.stdout + rerun.stderr)
    summary = json.loads((output_dir / "summary.json").read_text())
    assert summary["resumed_from_epoch"] == finished[-1] + 1  # started again at the epoch that was killed
    assert summary["optimizer_steps"] == EPOCHS * STEPS  # as many as an uninterrupted run
    starts = [r for r in epoch_records(output_dir) if r["event"] == "start"]
    assert [s["resumed"] for s in starts] == [False, True]
