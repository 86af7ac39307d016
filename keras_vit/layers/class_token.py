"""Learned tokens prepended to the patch tokens: the class token, DeiT's distillation token, register tokens."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("layer", "class_token")
class ClassToken(ConfigFromArguments, keras.layers.Layer):
    """Prepends `num_tokens` learned tokens to a token sequence (x_class of the ViT paper's eq. 1 with one token;
    the same layer makes DeiT's distillation token and the register tokens of Darcet et al.).

    Args:
        num_tokens: int, how many learned tokens to prepend.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens_in, hidden_dim).

    Returns:
        Tokens of shape (batch, num_tokens + num_tokens_in, hidden_dim), the learned ones first.

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, eq. 1; Touvron et al., "Training data-efficient
        image transformers & distillation through attention", 2021; Darcet et al., "Vision Transformers Need
        Registers", 2024.
    """

    def __init__(self, num_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = num_tokens

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, self.num_tokens, input_shape[-1]), initializer="zeros", name="token")

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        token = ops.broadcast_to(ops.cast(self.token, inputs.dtype), (batch, self.num_tokens, inputs.shape[-1]))
        return ops.concatenate([token, inputs], axis=1)
