"""Pooling by taking the leading tokens (the class token; with DeiT distillation, class and distillation tokens)."""

import keras

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("pooling", "token")
class TokenPooling(ConfigFromArguments, keras.layers.Layer):
    """Returns the first token (the class token, y = z_L^0 of the ViT paper's eq. 4), or the first `num_tokens`.

    Args:
        num_tokens: int; 1 returns (batch, hidden_dim), more return (batch, num_tokens, hidden_dim) for a head
            that reads several tokens (DeiT's distilled head reads the class and the distillation token).

    Call arguments:
        inputs: tokens of shape (batch, num_tokens_in, hidden_dim).

    Returns:
        A tensor of shape (batch, hidden_dim), or (batch, num_tokens, hidden_dim) when num_tokens > 1.
    """

    interface = "tokens"

    def __init__(self, num_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.readout_rows = (0, num_tokens)  # the token rows the pooled features read (model.layout.readout)

    def call(self, inputs):
        return inputs[:, 0] if self.num_tokens == 1 else inputs[:, : self.num_tokens]
