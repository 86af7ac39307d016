"""MultiWorkerMirroredStrategy with two worker processes on localhost: both workers end with equal weights.

Keras 3.15 fails here out of the box (keras issue #20585); keras_vit's DistributedStepsMixin in ZooModel fixes it
for keras_vit.train and for a user's own `create` in `strategy.scope()` + `model.fit`.
"""

import json
import sys

import numpy as np
import pytest

from tests.train.processes import ROOT, environment, free_ports, run_all, tail, tf_config

JOB = str(ROOT / "tests" / "train" / "multi_worker_job.py")


def run_two_workers(mode, tmp_path, timeout=400):
    ports = free_ports(2)
    envs = [environment(TF_CONFIG=tf_config(ports, i)) for i in range(2)]
    results = run_all([[sys.executable, JOB, mode, str(tmp_path)]] * 2, envs, cwd=tmp_path, timeout=timeout)
    for index, (code, output) in enumerate(results):
        assert code == 0, f"worker {index} failed:\n{tail(output)}"
    return [dict(np.load(tmp_path / f"weights_{i}.npz")) for i in range(2)]


def assert_equal_weights(first, second):
    assert first.keys() == second.keys() and len(first) > 10
    for key in first:
        np.testing.assert_array_equal(first[key], second[key])  # all-reduced updates: bit-identical


def test_user_model_fit_on_two_workers(tmp_path):
    first, second = run_two_workers("fit", tmp_path)
    assert_equal_weights(first, second)
    initial = dict(np.load(tmp_path / "initial_0.npz"))
    assert any(not np.allclose(initial[k], first[k]) for k in first)  # it trained
    logs = [json.loads((tmp_path / f"logs_{i}.json").read_text()) for i in range(2)]
    assert logs[0] == logs[1]  # the reduced losses and metrics are the same on both workers
    assert logs[0]["steps"] == 6 and np.isfinite(logs[0]["loss"]).all()


@pytest.mark.slow
def test_keras_vit_train_on_two_workers(tmp_path):
    first, second = run_two_workers("train", tmp_path)
    assert_equal_weights(first, second)
    head = [k for k in first if first[k].shape == (16, 10)]
    assert head and np.abs(first[head[0]]).max() > 0  # the zero-initialized head was trained
    summaries = [json.loads((tmp_path / f"summary_{i}.json").read_text()) for i in range(2)]
    assert [s["optimizer_steps"] for s in summaries] == [6, 6]
    assert [s["replicas"] for s in summaries] == [2, 2]
    # only the chief writes into the output folder
    assert summaries[0]["model_path"] and "model_path" not in summaries[1]
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir()) == ["epoch_001.keras", "epoch_002.keras"]
