"""A model made with dynamic_image_size=True exports a serving_default that takes every size its patches tile as it
is (normalized, not resized) and a serving_bytes that decodes and resizes as for a fixed-size model; the SavedModel
refuses a size the patches do not tile with a message naming the size and the patch."""

import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.testing import randomize_weights
from tests.export.helpers import normalize


def test_one_export_serves_several_sizes_and_refuses_untiled_ones(tmp_path):
    model = keras_vit.create("vit_ti16", **keras_vit.get_spec("vit_ti16").tiny, dynamic_image_size=True)
    randomize_weights(model, scale=0.2)
    # check=True: the export's own check calls serving_default at 32x32 and 40x48, serving_bytes on two PNGs
    # (without XLA to stay quick; the XLA-compiled export is docs/resolution.md's example, run in the slow step)
    result = keras_vit.export(model, tmp_path / "models" / "vit_dynamic", check=True, verbose=False, jit_compile=False)
    serve = tf.saved_model.load(result.path).signatures["serving_default"]
    rng = np.random.default_rng(3)
    for size in ((32, 32), (48, 24), (16, 56)):
        pixels = rng.uniform(0, 255, size=(2, *size, 3)).astype("float32")
        logits = np.asarray(model(normalize(pixels)), "float64")
        expected = np.exp(logits - logits.max(-1, keepdims=True))
        expected /= expected.sum(-1, keepdims=True)
        np.testing.assert_allclose(serve(images=tf.constant(pixels))["probabilities"].numpy(), expected, atol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"multiples of the patch size 8x8[\s\S]*1 33 32 3"):
        serve(images=tf.zeros((1, 33, 32, 3)))
