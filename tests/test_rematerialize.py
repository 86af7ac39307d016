"""Block rematerialization (keras_vit/layers/_rematerialize.py): same gradients, the recomputation really happens
(and survives XLA's optimizations), inference is untouched, and bad values or random masks are refused."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vit
from keras_vit.layers.tnt_block import TNTBlock
from keras_vit.layers.transformer_block import TransformerBlock
from keras_vit.testing import randomize_weights

TINY_VIT = dict(image_size=32, patch_size=8, hidden_dim=32, num_layers=2, num_heads=2, intermediate_dim=64,
                num_classes=5)


def _gradients(model, x, y, jit_compile):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, grads = tf.function(step, jit_compile=jit_compile)(tf.constant(x), tf.constant(y))
    return float(loss), [np.asarray(tf.convert_to_tensor(g)) for g in grads]


@pytest.mark.parametrize("overrides", [{}, {"position_encoding": "relative", "position_placement": "every_layer_shared"}],
                         ids=["learned_1d", "relative_shared"])
def test_rematerialized_gradients_equal_kept_activations(overrides):
    x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype("float32")
    y = np.array([0, 3, 4], "int32")
    kept = keras_vit.create("vit_ti16", **TINY_VIT, **overrides)
    randomize_weights(kept)
    remat = keras_vit.create("vit_ti16", rematerialize=True, **TINY_VIT, **overrides)
    remat.set_weights(kept.get_weights())
    loss_kept, grads_kept = _gradients(kept, x, y, jit_compile=True)
    for jit_compile in (True, False):
        loss, grads = _gradients(remat, x, y, jit_compile=jit_compile)
        np.testing.assert_allclose(loss, loss_kept, rtol=1e-5)
        assert len(grads) == len(grads_kept)
        assert sum(np.abs(g).max() > 0 for g in grads_kept) >= len(grads_kept) - 1  # not a vacuous comparison
        for got, expected in zip(grads, grads_kept):
            np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4)


def _count_dots(model, rematerialize_stage="optimized_hlo"):
    x = tf.zeros((2, 32, 32, 3))
    y = tf.zeros((2,), tf.int32)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        return tape.gradient(loss, model.trainable_variables)

    hlo = tf.function(step, jit_compile=True).experimental_get_compiler_ir(x, y)(stage=rematerialize_stage)
    return hlo.count(" dot(")


def test_rematerialize_recomputes_the_forward_pass_under_xla_and_only_while_training():
    counts = {}
    for mode in (True, False):
        model = keras_vit.create("vit_ti16", rematerialize=mode, **TINY_VIT)
        counts[mode] = _count_dots(model)
    # Each block has 4 projections and 2 attention products. The backward pass needs all but the last projection's
    # output again, so XLA keeps 5 recomputed products per block (CSE does not merge them with the forward's).
    assert counts[True] == counts[False] + 2 * 5, counts
    assert keras_vit.create("vit_ti16", **TINY_VIT).get_layer("block_0").rematerialize is False  # the default

    calls = []

    class Probe(TransformerBlock):
        def _forward(self, inputs, relative_keys, training):
            calls.append(training)
            return super()._forward(inputs, relative_keys, training)

    block = Probe(16, 2, 32, rematerialize=True)
    tokens = tf.zeros((1, 5, 16))
    block(tokens, training=False)
    assert calls == [False]  # inference: one plain forward pass
    calls.clear()
    with tf.GradientTape() as tape:
        tape.watch(tokens)
        out = block(tokens, training=True)
    tape.gradient(out, tokens)
    assert len(calls) == 2  # the forward pass, then its recomputation for the gradient


def test_bad_values_and_random_masks_are_refused():
    # The value is checked once, where the spec loads; a quoted "false" in YAML is a string, not a bool.
    for value in ("yes", "false"):
        with pytest.raises(ValueError, match=f"rematerialize.*must be true or false; received '{value}'"):
            keras_vit.get_spec("vit_ti16", rematerialize=value)
    # Random masks would silently give wrong gradients: the block itself refuses them, whoever makes it.
    with pytest.raises(ValueError, match=r"random masks \(drop_path_rate=0.1\)"):
        TransformerBlock(16, 2, 32, drop_path_rate=0.1, rematerialize=True)
    with pytest.raises(ValueError, match=r"dropout_rate=0.1"):
        TNTBlock(32, 2, 64, inner_dim=8, inner_num_heads=2, inner_intermediate_dim=16, dropout_rate=0.1,
                 rematerialize=True).build([(1, 4, 4, 8), (1, 5, 32)])
    with pytest.raises(Exception, match="rematerialize"):
        keras_vit.create("vit_ti16", rematerialize=True, dropout_rate=0.1)


def test_tnt_block_passes_the_setting_to_both_transformers_and_saves_it():
    block = TNTBlock(32, 2, 64, inner_dim=8, inner_num_heads=2, inner_intermediate_dim=16, rematerialize=False)
    block.build([(None, 4, 16, 8), (None, 5, 32)])
    assert block.inner_block.rematerialize is False and block.outer_block.rematerialize is False
    assert TNTBlock.from_config(block.get_config()).rematerialize is False
