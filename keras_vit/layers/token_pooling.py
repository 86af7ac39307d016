"""Pooling by taking the class token."""

import keras

from keras_vit.registry import register


@register("pooling", "token")
class TokenPooling(keras.layers.Layer):
    """Returns the first token (the class token, y = z_L^0 of the ViT paper's eq. 4).

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).

    Returns:
        A tensor of shape (batch, hidden_dim).
    """

    def call(self, inputs):
        return inputs[:, 0]

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
