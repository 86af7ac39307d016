"""The export's own reload check passes on a faithful export and fails on a wrong one."""

import numpy as np
import pytest

import keras_vit
from keras_vit.export import ExportCheckError, check_export
from keras_vit.testing import randomize_weights
from tests.export.helpers import tiny_model


def test_check_passes_then_catches_a_model_that_differs(tmp_path, capsys):
    model = tiny_model("vit_r_ti16")
    result = keras_vit.export(model, tmp_path / "hybrid", include_features=True, jit_compile=False, check=True)
    assert "Check passed" in capsys.readouterr().out
    differences = check_export(result.path, model, verbose=False)
    assert {"serving_default[batch 1].probabilities", "serving_bytes.features"} <= set(differences)
    # The same architecture with other weights: the export no longer matches it.
    randomize_weights(model, scale=0.2, seed=1)
    with pytest.raises(ExportCheckError, match="differs from the Keras model"):
        check_export(result.path, model, verbose=False)
    # Preprocessing other than the export's (DeiT-style statistics) is caught too.
    randomize_weights(model, scale=0.2, seed=0)
    other = keras_vit.preprocessing(model, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    with pytest.raises(ExportCheckError):
        check_export(result.path, model, preprocessing=other, verbose=False)


def test_a_mixed_bfloat16_model_exports_float32_outputs_and_passes_its_check(tmp_path):
    import keras

    model = keras_vit.create("vit_ti16", dtype="mixed_bfloat16", **keras_vit.get_spec("vit_ti16").tiny)
    randomize_weights(model, scale=0.2)
    result = keras_vit.export(model, tmp_path / "bf16", verbose=False)
    differences = check_export(result.path, model, verbose=False)  # bfloat16 tolerance: 2e-2
    assert max(differences.values()) <= 2e-2
    served = keras.layers.TFSMLayer(result.path, call_endpoint="serving_default")
    assert served(np.zeros((1, 32, 32, 3), "float32"))["probabilities"].dtype == "float32"
