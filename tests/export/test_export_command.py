"""`keras-vit export`: from a zoo name plus weights, or from a saved .keras model, with --check."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from tests.export.helpers import reference, tiny_model

REPO = Path(__file__).resolve().parents[2]


def keras_vit_cli(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run(
        [sys.executable, "-m", "keras_vit.cli", "export", *args], env=env, capture_output=True, text=True, timeout=600
    )


def served_probabilities(path, images):
    return tf.saved_model.load(path).signatures["serving_default"](images=tf.constant(images))


def test_export_a_zoo_model_with_weights_and_labels_then_check(tmp_path):
    model = tiny_model("vit_ti16", seed=3)
    weights = tmp_path / "trained.weights.h5"
    model.save_weights(weights)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"digit {i}\n" for i in range(10)))
    out = tmp_path / "models" / "digits"
    args = ["--model", "vit_ti16", "--tiny", "--weights", str(weights), "--out", str(out), "--labels", str(labels)]
    result = keras_vit_cli(*args, "--check", "--jit_compile", "false")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Exported 'vit_ti16' to {out}/1" in result.stdout and "Check passed" in result.stdout
    assert "docker run" in result.stdout and (tmp_path / "models" / "models.config").is_file()
    # The export holds the trained weights, not fresh ones: it matches the model the weights came from.
    images = np.random.default_rng(0).uniform(0, 255, size=(2, 32, 32, 3)).astype("float32")
    got = served_probabilities(str(out / "1"), images)
    np.testing.assert_allclose(got["probabilities"], reference(model, images)["probabilities"], atol=1e-5)
    assert got["top_k_labels"].numpy()[0, 0].decode().startswith("digit ")
    # The same version again: one clear line, no traceback, nothing overwritten.
    again = keras_vit_cli(*args, "--version", "1")
    assert again.returncode != 0 and "Traceback" not in again.stderr
    assert f"keras-vit export: {out}/1 exists already; an export never overwrites a version" in again.stderr
    # Weights of another width: the strict loader names the misfit, and nothing is written.
    wider = keras_vit_cli("--model", "vit_ti16", "--tiny", "--override", "hidden_dim=48", "--weights", str(weights),
                          "--out", str(tmp_path / "wider"))
    assert wider.returncode != 0 and "Traceback" not in wider.stderr
    assert "could not load --weights" in wider.stderr and "(8, 8, 3, 32)" in wider.stderr and "(8, 8, 3, 48)" in wider.stderr
    assert not (tmp_path / "wider").exists()


def test_export_a_saved_keras_file(tmp_path):
    model = tiny_model("tnt_s16", seed=4)
    saved = tmp_path / "trained.keras"
    model.save(saved)
    out = tmp_path / "serving" / "tnt"
    result = keras_vit_cli("--from", str(saved), "--out", str(out), "--check", "--server_root", "", "--jit_compile", "false")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Check passed" in result.stdout
    # Quiet by default (issue 27): none of TensorFlow's INFO lines about the SavedModel's functions and assets.
    assert "signature_serialization" not in result.stderr and "Assets written" not in result.stderr
    verbose = keras_vit_cli("--from", str(saved), "--out", str(tmp_path / "verbose"), "--jit_compile", "false", "--verbose")
    assert verbose.returncode == 0 and "signature_serialization" in verbose.stderr
    # --server_root "" writes the local path into models.config (serving without docker).
    assert f'base_path: "{out}"' in (tmp_path / "serving" / "models.config").read_text()
    config_file = tmp_path / "serving" / "models.config"
    assert f"tensorflow_model_server --port=8500 --rest_api_port=8501 --model_config_file={config_file}" in result.stdout
    images = np.random.default_rng(1).uniform(0, 255, size=(1, 32, 32, 3)).astype("float32")
    got = served_probabilities(str(out / "1"), images)
    np.testing.assert_allclose(got["probabilities"], reference(model, images)["probabilities"], atol=1e-5)
    missing = keras_vit_cli("--from", str(tmp_path / "nope.keras"), "--out", str(out))
    assert missing.returncode != 0 and "model file" in missing.stderr and "not found" in missing.stderr
