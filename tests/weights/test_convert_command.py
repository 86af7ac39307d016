"""`keras-vit convert`: a timm state dict to a Keras .weights.h5 that model.load_weights reads, with clear errors."""

import hashlib

import numpy as np

import keras_vit
from tests.test_cli import keras_vit_cli
from tests.weights.test_timm_fixtures import FIXTURES, keras_model

TINY = ["--override", "patch_size=8", "--override", "hidden_dim=32", "--override", "num_layers=2",
        "--override", "num_heads=2", "--override", "intermediate_dim=64"]


def test_convert_writes_a_keras_weights_file(tmp_path):
    source = FIXTURES / "timm_vit.safetensors"
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    out = tmp_path / "vit.weights.h5"
    result = keras_vit_cli("convert", str(source), str(out), "--model", "vit_ti16", *TINY)
    assert result.returncode == 0, result.stderr
    assert "Loaded 32 variables" in result.stdout and f"wrote {out}" in result.stdout
    assert hashlib.sha256(source.read_bytes()).hexdigest() == digest
    model = keras_model("vit")
    model.load_weights(out)  # plain Keras reads it
    data = np.load(FIXTURES / "timm_vit.npz")
    np.testing.assert_allclose(np.asarray(model(data["images"])), data["logits"], rtol=1e-4, atol=1e-5)
    at_64 = keras_vit.create("vit_ti16", weights=out, image_size=64, num_classes=3)  # fine-tuning start
    assert at_64.output_shape == (None, 3)

    again = keras_vit_cli("convert", str(source), str(out), "--model", "vit_ti16", *TINY)
    assert again.returncode != 0 and "exists; pass --overwrite" in again.stderr


def test_convert_errors_are_one_clear_message(tmp_path):
    out = tmp_path / "x.weights.h5"
    result = keras_vit_cli("convert", str(FIXTURES / "timm_tnt.safetensors"), str(out), "--model", "vit_ti16", *TINY)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "for the tnt family, but 'vit_ti16' is a 'vit' model" in result.stderr
    assert not out.exists()
    result = keras_vit_cli("convert", str(FIXTURES / "timm_vit.json"), str(out), "--model", "vit_ti16")
    assert result.returncode != 0 and "is not a checkpoint keras_vit can read" in result.stderr
