"""The learned class token prepended to the patch tokens."""

import keras
from keras import ops

from keras_vit.registry import register


@register("layer", "class_token")
class ClassToken(keras.layers.Layer):
    """Prepends one learned token (x_class of the ViT paper's eq. 1) to a token sequence.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).

    Returns:
        Tokens of shape (batch, num_tokens + 1, hidden_dim), the class token first.

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, eq. 1.
    """

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="zeros", name="token")

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (batch, 1, inputs.shape[-1]))
        return ops.concatenate([token, inputs], axis=1)

    def compute_output_shape(self, input_shape):
        tokens = None if input_shape[1] is None else input_shape[1] + 1
        return (input_shape[0], tokens, input_shape[2])
