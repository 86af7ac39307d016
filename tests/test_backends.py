"""The zoo on Keras's JAX and torch backends: every tiny zoo model builds, predicts, trains with `model.fit`, saves and
loads there; a `.keras` file saved under TensorFlow loads there with the same outputs, and one saved there loads under
TensorFlow with the same outputs; and the other backend's process never imports TensorFlow."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import keras_vit
from keras_vit.testing import randomize_weights

from .test_zoo_models import DEFAULT_RUN, TWINS

WORKER = Path(__file__).with_name("backend_worker.py")
NAMES = [p if isinstance(p, str) else p.values[0] for p in DEFAULT_RUN]


def _run_backend(backend, directory, names):
    """Writes the TensorFlow side's files, runs the worker under `backend` and returns its results."""
    for name in names:
        model = keras_vit.create(keras_vit.get_spec(name).tiny_spec())
        randomize_weights(model)
        _, h, w, c = model.input_shape
        images = np.random.default_rng(0).normal(size=(4, h, w, c)).astype("float32")
        model.save(directory / f"{name}.tensorflow.keras")
        np.savez(directory / f"{name}.tensorflow.npz", images=images, outputs=np.asarray(model.predict(images, verbose=0)))
    env = {**os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.run([sys.executable, str(WORKER), str(directory), *names], env=env, capture_output=True,
                             text=True, timeout=1500, cwd=Path(__file__).parent.parent)
    path = directory / f"results.{backend}.json"
    assert path.exists(), f"the {backend} worker wrote no results:\n{process.stdout[-3000:]}\n{process.stderr[-6000:]}"
    return json.loads(path.read_text())


def _results(tmp_path_factory, backend, names):
    if importlib.util.find_spec(backend) is None:
        pytest.fail(f"Keras's {backend} backend needs `{backend}` installed (.ci/run installs it).")
    directory = tmp_path_factory.mktemp(backend)
    return directory, _run_backend(backend, directory, names)


@pytest.fixture(scope="module")
def jax_results(tmp_path_factory):
    return _results(tmp_path_factory, "jax", [n for n in NAMES if n not in TWINS])


@pytest.fixture(scope="module")
def torch_results(tmp_path_factory):
    return _results(tmp_path_factory, "torch", [n for n in NAMES if n not in TWINS])


def _check(directory, results, backend, name):
    result = results[name]
    assert "error" not in result, f"{name} on {backend}:\n{result.get('error')}"
    assert result["tensorflow_file_max_diff"] < 1e-4, result
    assert result["output_std"] > 1e-3, "outputs do not depend on the inputs; the comparisons would be vacuous"
    losses = result["losses"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], f"{name}: loss did not fall on {backend}: {losses}"
    assert result["round_trip_max_diff"] < 1e-5, result
    # ...and the file saved under the other backend loads here, under TensorFlow, with that backend's outputs.
    saved = np.load(directory / f"{name}.{backend}.npz")
    model = keras.saving.load_model(directory / f"{name}.{backend}.keras", compile=False)
    np.testing.assert_allclose(model.predict(saved["images"], verbose=0), saved["outputs"], atol=1e-4)
    assert results["_meta"] == {"backend": backend, "tensorflow_imported": False}


@pytest.mark.parametrize("name", [n for n in NAMES if n not in TWINS])
def test_tiny_zoo_on_jax(jax_results, name):
    _check(*jax_results, "jax", name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMES if n not in TWINS])
def test_tiny_zoo_on_torch(torch_results, name):
    _check(*torch_results, "torch", name)
