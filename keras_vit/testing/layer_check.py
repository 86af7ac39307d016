"""The check every registered layer passes: config, round trip, a training step, mixed precision."""

import inspect

import keras
import numpy as np
from keras.tree import lists_to_tuples

# What keras.layers.Layer.get_config() adds to a layer's own arguments.
BASE_CONFIG_KEYS = {"name", "trainable", "dtype"}


def constructor_arguments(cls):
    """Names of a layer class's own constructor arguments (without self and **kwargs)."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {p.name for p in parameters if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def _random_inputs(input_shape, seed=0):
    """One random array for a shape tuple; a list (dict) of arrays for a list (dict) of shapes."""
    if isinstance(input_shape, dict):
        return {key: _random_inputs(shape, seed + index) for index, (key, shape) in enumerate(input_shape.items())}
    if isinstance(input_shape, list):
        return [_random_inputs(shape, seed + index) for index, shape in enumerate(input_shape)]
    return np.random.default_rng(seed).normal(size=input_shape).astype("float32")


def check_layer(cls, input_shape, init_kwargs=None, non_default_kwargs=None, trains=True):
    """Runs the shared layer check on `cls` and raises AssertionError on the first failure.

    Args:
        cls: the layer class.
        input_shape: a full input shape including the batch dimension, e.g. (2, 17, 32); a list of shapes for a
            layer called on a list of tensors, e.g. [(2, 4, 4, 8), (2, 5, 16)].
        init_kwargs: constructor arguments for a small instance.
        non_default_kwargs: arguments whose values differ from the defaults; they must survive
            get_config -> from_config.
        trains: whether the layer has trainable weights that one training step must change; or a tuple of the
            endings of weight paths that get no gradient by design, every other weight having to change.

    Checks:
        1. get_config() keys == constructor arguments + Keras's name/trainable/dtype.
        2. non-default values round-trip through get_config / from_config, and the clone computes the same output
           from the same weights.
        3. one SGD step on a loss of the layer's output changes its trainable weights and gives a finite loss.
        4. a mixed_bfloat16 instance runs forward, computes in bfloat16 and gives finite outputs.
    """
    init_kwargs = dict(init_kwargs or {})
    non_default_kwargs = dict(non_default_kwargs or {})
    x = _random_inputs(input_shape)

    layer = cls(**init_kwargs)
    expected = constructor_arguments(cls) | BASE_CONFIG_KEYS
    config = layer.get_config()
    missing, extra = expected - set(config), set(config) - expected
    assert not missing and not extra, f"{cls.__name__}.get_config(): missing {sorted(missing)}, extra {sorted(extra)}"

    custom = cls(**{**init_kwargs, **non_default_kwargs})
    custom_config = custom.get_config()
    for key, value in non_default_kwargs.items():
        assert lists_to_tuples(custom_config[key]) == lists_to_tuples(value), (
            f"{cls.__name__}: non-default {key}={value!r} came back as {custom_config[key]!r}"
        )
    clone = cls.from_config(custom_config)
    assert lists_to_tuples(clone.get_config()) == lists_to_tuples(custom_config), f"{cls.__name__}: config did not round-trip"
    y = custom(x)
    clone(x)  # builds the clone's weights
    clone.set_weights(custom.get_weights())
    # keras.tree.flatten: a layer's output(s) as a list of tensors (layers such as TNTBlock return several).
    for got, want in zip(keras.tree.flatten(clone(x)), keras.tree.flatten(y), strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)

    _check_training_step(layer, x, trains)

    mixed = cls(**init_kwargs, dtype="mixed_bfloat16")
    assert mixed.compute_dtype == "bfloat16", f"{cls.__name__}: mixed_bfloat16 layer computes in {mixed.compute_dtype}"
    # A layer may declare float32 outputs (a classifier head's logits); any other output stays in bfloat16.
    expected_dtype = getattr(cls, "output_dtype", "bfloat16")
    for out in keras.tree.flatten(mixed(x)):
        assert keras.backend.standardize_dtype(out.dtype) == expected_dtype, f"{cls.__name__}: mixed_bfloat16 output has dtype {out.dtype}"
        assert np.isfinite(np.asarray(keras.ops.cast(out, "float32"))).all(), f"{cls.__name__}: non-finite bf16 output"


def _check_training_step(layer, x, trains):
    import tensorflow as tf  # the training step needs a gradient tape; keras_vit runs on the TensorFlow backend

    layer(x)
    before = [np.array(w) for w in layer.trainable_weights]
    targets = [np.random.default_rng(1).normal(size=np.shape(out)).astype("float32") for out in keras.tree.flatten(layer(x))]
    optimizer = keras.optimizers.SGD(0.1)
    # Two steps: a zero-initialized scale (a residual branch's last norm) passes no gradient to the weights before
    # it until the first step has moved it.
    for _ in range(2):
        with tf.GradientTape() as tape:
            outputs = keras.tree.flatten(layer(x, training=True))
            loss = sum(keras.ops.mean((out - target) ** 2) for out, target in zip(outputs, targets, strict=True))
        if layer.trainable_weights:
            grads = tape.gradient(loss, layer.trainable_weights)
            optimizer.apply_gradients(zip(grads, layer.trainable_weights))
    assert np.isfinite(float(loss)), f"{type(layer).__name__}: non-finite loss {float(loss)}"
    if trains:
        assert before, f"{type(layer).__name__} has no trainable weights"
        # Exact comparison: two steps through a zero-initialized scale move the weights before it only slightly.
        # `trains` may name weights that get no gradient by design (DETR's first self-attention reads all-zero
        # queries, so its value projection's kernel never moves).
        still = trains if isinstance(trains, tuple) else ()
        changed = [not np.array_equal(b, np.array(w)) or w.path.endswith(still) for b, w in
                   zip(before, layer.trainable_weights)]
        assert all(changed), (
            f"{type(layer).__name__}: a training step left weights unchanged: "
            f"{[w.path for w, c in zip(layer.trainable_weights, changed) if not c]}"
        )
