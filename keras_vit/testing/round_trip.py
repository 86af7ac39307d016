"""`.keras` save/load round trip."""

from __future__ import annotations

import os
import tempfile

import keras
import numpy as np


def assert_keras_round_trip(model, inputs, atol=1e-6):
    """Saves `model` to a `.keras` file, loads it back with keras.saving.load_model (no custom_objects), and asserts
    the loaded model has the same config, the same class and the same outputs on `inputs`. Returns the loaded model."""
    expected = np.asarray(model(inputs, training=False))
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path)
    assert type(loaded) is type(model), f"loaded a {type(loaded).__name__}, saved a {type(model).__name__}"
    assert loaded.get_config() == model.get_config(), "the loaded model's config differs"
    np.testing.assert_allclose(np.asarray(loaded(inputs, training=False)), expected, atol=atol, rtol=0)
    return loaded
