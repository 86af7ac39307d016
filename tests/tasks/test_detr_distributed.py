"""DETR trains with model.fit under MirroredStrategy over two logical CPUs as on one device."""

import json
import sys

import numpy as np
import pytest

from tests.train.processes import ROOT, environment, run_all, tail


@pytest.mark.slow
def test_detr_mirrored_over_two_cpus_matches_one_device(tmp_path):
    [(code, output)] = run_all([[sys.executable, str(ROOT / "tests" / "tasks" / "detr_mirrored_job.py"), str(tmp_path)]],
                               [environment()], cwd=tmp_path, timeout=300)
    assert code == 0, tail(output)
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["single"]["replicas"] == 1 and result["mirrored"]["replicas"] == 2
    single, mirrored = result["single"]["loss"], result["mirrored"]["loss"]
    assert np.all(np.isfinite(mirrored)) and mirrored[-1] < mirrored[0], mirrored
    # the same matching and normalization per image: the same losses and weights, to float32 summation order
    np.testing.assert_allclose(mirrored, single, rtol=1e-4)
    before, after = np.load(tmp_path / "single.npz"), np.load(tmp_path / "mirrored.npz")
    for key in before.files:
        np.testing.assert_allclose(after[key], before[key], atol=1e-5, rtol=1e-4, err_msg=key)
