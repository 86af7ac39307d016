"""MirroredStrategy over two logical CPU devices gives the weights of a single-device run on the same data."""

import json
import sys

import numpy as np

from tests.train.processes import ROOT, environment, run_all, tail

# Clipping (0.05) is active in the job. Two replicas each sum half the batch; float32 sums in another order differ in the last bits, and 8 SGD steps
# carry that forward. 1e-5 absolute is ~1000x float32 epsilon at these weight scales and far below one step's change.
ATOL, RTOL = 1e-5, 1e-4


def test_mirrored_over_two_cpus_matches_single_device(tmp_path):
    [(code, output)] = run_all([[sys.executable, str(ROOT / "tests" / "train" / "mirrored_job.py"), str(tmp_path)]],
                               [environment()], cwd=tmp_path, timeout=300)
    assert code == 0, tail(output)
    summaries = json.loads((tmp_path / "summaries.json").read_text())
    assert summaries["single"]["replicas"] == 1 and summaries["mirrored"]["replicas"] == 2
    assert summaries["single"]["optimizer_steps"] == summaries["mirrored"]["optimizer_steps"] == 8
    assert "global batch size 33 does not divide evenly over the 2 replicas" in summaries["odd_batch_error"]
    assert "32 or 34" in summaries["odd_batch_error"] and not summaries["odd_batch_wrote"]
    single, mirrored = np.load(tmp_path / "single.npz"), np.load(tmp_path / "mirrored.npz")
    assert single.files == mirrored.files
    moved = 0
    for key in single.files:
        np.testing.assert_allclose(mirrored[key], single[key], atol=ATOL, rtol=RTOL, err_msg=key)
        moved += np.abs(single[key]).max() > 0
    # the zero-initialized head moved: training happened, so the comparison is not vacuous
    assert np.abs(single[single.files[-2]]).max() > 1e-3
