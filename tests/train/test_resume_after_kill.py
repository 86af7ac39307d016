"""Kill `keras-vit train` with SIGKILL in the middle of an epoch, start it again with the same command: it resumes
from the backup of its last finished epoch and ends bit-identical to a run that was never killed. A changed recipe
does not resume the killed run unless the command says --start_over, which moves the old run aside."""

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np
import pytest

from keras_vit.data import load_dataset, make_pipeline
from tests.train.processes import ROOT, environment, tail

EPOCHS, STEPS = 3, 60


def command(output_dir, *extra):
    sets = ["model.hidden_dim=16", "model.num_layers=1", "model.num_heads=2", "model.intermediate_dim=32",
            "model.drop_path_rate=0.1", "data.horizontal_flip=true", "run.jit_compile=false",
            "run.tensorboard=false", "run.verbose=0", "run.eval_steps=2"]
    return [sys.executable, "-m", "keras_vit.cli", "train", "--recipe", "mnist_vit", f"--epochs={EPOCHS}",
            f"--steps_per_epoch={STEPS}", "--batch_size=16", f"--output_dir={output_dir}",
            *[f"--set={s}" for s in sets], *extra]


def run(args):
    return subprocess.run(args, cwd=ROOT, env=environment(), capture_output=True, text=True, timeout=300)


def epoch_records(output_dir):
    path = output_dir / "train_log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def epochs_backed_up(output_dir):
    try:
        return json.loads((output_dir / "backup" / "backup.json").read_text())["epochs_done"]
    except (FileNotFoundError, ValueError):
        return 0


def kill_after_first_backup(output_dir):
    """Starts the command, waits for the backup of epoch 1, lets the next epoch run a little, then SIGKILL."""
    proc = subprocess.Popen(command(output_dir), cwd=ROOT, env=environment(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None and not epochs_backed_up(output_dir):
            time.sleep(0.02)
        assert proc.poll() is None, "the run ended before it could be killed:\n" + tail(proc.communicate()[0])
        time.sleep(0.3)  # a few steps into epoch 2 (an epoch takes seconds here)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL


def final_state(output_dir):
    """{path: array} of every variable that model.keras holds: the weights and the optimizer's state."""
    with zipfile.ZipFile(output_dir / "model.keras") as archive, h5py.File(
            io.BytesIO(archive.read("model.weights.h5")), "r") as store:
        arrays = {}
        store.visititems(lambda path, item: arrays.update({path: item[()]}) if isinstance(item, h5py.Dataset) else None)
    assert any(path.startswith("optimizer/") for path in arrays) and len(arrays) > 20
    return arrays


@pytest.mark.slow
def test_a_killed_run_resumes_and_ends_as_a_run_that_was_never_killed(tmp_path):
    whole = run(command(tmp_path / "whole"))
    assert whole.returncode == 0, tail(whole.stdout + whole.stderr)

    output_dir = tmp_path / "run"
    kill_after_first_backup(output_dir)
    done = epochs_backed_up(output_dir)
    finished = [r["epoch"] for r in epoch_records(output_dir) if r["event"] == "epoch"]
    assert 1 <= done < EPOCHS and finished[-1] == done and not (output_dir / "summary.json").exists()
    recipe = (output_dir / "recipe.json").read_bytes()

    # another learning rate: refused, naming the key and both values; recipe.json stays as it was
    changed = run(command(output_dir, "--learning_rate=0.001"))
    assert changed.returncode != 0
    assert "optimizer.learning_rate: 0.002 in that run, 0.001 now" in changed.stderr, tail(changed.stderr)
    assert "--start_over" in changed.stderr
    assert (output_dir / "recipe.json").read_bytes() == recipe and epochs_backed_up(output_dir) == done

    rerun = run(command(output_dir))
    assert rerun.returncode == 0, tail(rerun.stdout + rerun.stderr)
    summary = json.loads((output_dir / "summary.json").read_text())
    expected = json.loads((tmp_path / "whole" / "summary.json").read_text())
    assert summary["resumed_from_epoch"] == done + 1  # started again at the epoch that was killed
    assert summary["optimizer_steps"] == expected["optimizer_steps"] == EPOCHS * STEPS
    assert summary["eval_loss"] == expected["eval_loss"]
    starts = [r for r in epoch_records(output_dir) if r["event"] == "start"]
    assert [s["resumed"] for s in starts] == [False, True]
    # bit for bit: every weight and optimizer variable
    got, want = final_state(output_dir), final_state(tmp_path / "whole")
    assert sorted(got) == sorted(want)
    for path in want:
        np.testing.assert_array_equal(got[path], want[path], err_msg=path)


@pytest.mark.slow
def test_start_over_moves_a_killed_run_aside_and_starts_anew(tmp_path):
    output_dir = tmp_path / "run"
    kill_after_first_backup(output_dir)
    before = sorted(p.relative_to(output_dir) for p in output_dir.rglob("*"))
    fresh = run(command(output_dir, "--learning_rate=0.001", "--epochs=1", "--steps_per_epoch=2", "--start_over"))
    assert fresh.returncode == 0, tail(fresh.stdout + fresh.stderr)
    summary = json.loads((output_dir / "summary.json").read_text())
    assert summary["resumed_from_epoch"] is None and summary["optimizer_steps"] == 2
    moved = tmp_path / summary["previous_run"]
    assert moved.name.startswith("run.replaced_")
    assert sorted(p.relative_to(moved) for p in moved.rglob("*")) == before  # kept whole, nothing deleted
    assert json.loads((moved / "recipe.json").read_text())["optimizer"]["learning_rate"] == 0.002


def test_the_training_stream_starts_at_any_batch_with_the_batches_of_a_run_from_the_start():
    data = load_dataset("offline", split="test")  # 1,000 digits: 62.5 batches of 16 per pass
    options = {"image_size": 28, "batch_size": 16, "training": True, "repeat": True, "random_crop": True,
               "horizontal_flip": True, "mixup_alpha": 0.4, "cutmix_alpha": 1.0, "label_smoothing": 0.1, "seed": 3}
    from_start = list(make_pipeline(data, **options).take(140).as_numpy_iterator())
    assert not np.array_equal(from_start[0][0], from_start[63][0])  # the next pass is shuffled anew
    for start in (1, 62, 125):
        resumed = list(make_pipeline(data, start_batch=start, **options).take(140 - start).as_numpy_iterator())
        for (images, labels), (want_images, want_labels) in zip(resumed, from_start[start:], strict=True):
            np.testing.assert_array_equal(images, want_images)
            np.testing.assert_array_equal(labels, want_labels)
    with pytest.raises(ValueError, match="start_batch needs training=True and repeat=True"):
        make_pipeline(data, image_size=28, batch_size=16, training=True, start_batch=2)
