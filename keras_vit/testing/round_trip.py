"""`.keras` save/load round trip."""

import os
import tempfile

import keras
import numpy as np


def randomize_weights(model, scale=0.05, seed=0):
    """Sets every variable of `model` to random normal values. Zoo models start with a zero classifier (every
    logit 0), so comparing two computations of fresh logits proves nothing; randomized weights make outputs depend
    on every variable."""
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(scale=scale, size=variable.shape).astype(variable.dtype))
    return model


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
