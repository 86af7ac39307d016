"""The GELU (keras_vit/layers/gelu.py), for inference and for training, against NumPy and central differences."""

import math

import numpy as np
import pytest
import tensorflow as tf

from keras_vit.layers.gelu import gelu
from tests import numpy_reference


def _tanh_gelu(x):
    """The tanh form (Hendrycks & Gimpel 2016, eq. in section 2)."""
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))


_REFERENCES = {False: numpy_reference.gelu, True: _tanh_gelu}


def _central_difference(f, x, eps=1e-4):
    return (f(x + eps) - f(x - eps)) / (2.0 * eps)


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("approximate", [False, True])
@pytest.mark.parametrize("jit_compile", [False, True])
def test_gelu_value_and_gradient_match_numpy(approximate, jit_compile, training):
    x = np.random.default_rng(0).normal(scale=3.0, size=(3, 5, 17))
    upstream = np.cos(x)  # a non-constant upstream gradient

    @tf.function(jit_compile=jit_compile)
    def value_and_gradient(inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = gelu(inputs, approximate=approximate, training=training)
            loss = tf.reduce_sum(y * upstream.astype("float32"))
        return y, tape.gradient(loss, inputs)

    y, grad = value_and_gradient(tf.constant(x, dtype="float32"))
    reference = _REFERENCES[approximate]
    np.testing.assert_allclose(y.numpy(), reference(x), atol=2e-6, rtol=1e-5)
    np.testing.assert_allclose(grad.numpy(), upstream * _central_difference(reference, x), atol=2e-5, rtol=1e-4)


def test_a_built_and_deleted_model_leaves_no_graph_behind():
    """Regression: a GELU written with tf.custom_gradient registered, in every graph it was called in, a gradient
    function in TensorFlow's process-wide registry that held the graph and so the model's variables: no model was
    ever freed. Building and deleting a model must leave no more of Keras's scratch graphs alive than before."""
    import gc

    import keras_vit

    def scratch_graphs():
        gc.collect()
        return sum(1 for o in gc.get_objects() if type(o).__name__ == "FuncGraph" and o.name.startswith("scratch"))

    before = scratch_graphs()
    model = keras_vit.build(keras_vit.get_spec("vit_ti16").tiny_spec())
    assert model.count_params() > 0
    del model
    assert scratch_graphs() == before
