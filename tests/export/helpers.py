"""Shared pieces of the export tests: tiny randomized zoo models and an independent reference computation."""

import keras
import numpy as np
import tensorflow as tf

import keras_vit
from keras_vit.testing import randomize_weights

# One of each family: a plain ViT, a TNT and a hybrid (ResNet stem + ViT), at their tiny test sizes.
FAMILIES = ("vit_ti16", "tnt_s16", "vit_r_ti16")


def tiny_model(name, seed=0):
    """A tiny zoo model with random weights (a fresh model's zero classifier would make every check vacuous)."""
    model = keras_vit.create(name, **keras_vit.get_spec(name).tiny)
    return randomize_weights(model, scale=0.2, seed=seed)


def normalize(pixels):
    """The published weights' input range, by hand: [0, 255] -> [-1, 1] (mean = std = 0.5 on [0, 1])."""
    return (np.asarray(pixels, "float32") / 255.0 - 0.5) / 0.5


def reference(model, pixels):
    """{probabilities, features} for float [0, 255] pixels, with a plain bilinear resize, NumPy normalization,
    the eager Keras model and a NumPy softmax (no code of keras_vit.export or keras_vit.preprocessing)."""
    _, height, width, _ = model.inputs[0].shape
    pixels = np.asarray(pixels, "float32")
    if pixels.shape[1:3] != (height, width):
        pixels = tf.image.resize(pixels, (height, width), method="bilinear", antialias=False).numpy()
    inputs = normalize(pixels)
    both = keras.Model(model.inputs[0], [model.outputs[0], model.get_layer("head").input])
    logits, features = (np.asarray(t, "float64") for t in both(inputs, training=False))
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return {"probabilities": shifted / shifted.sum(axis=-1, keepdims=True), "features": features}
