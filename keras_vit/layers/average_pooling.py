"""Global average pooling over the patch tokens."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("pooling", "gap")
class GlobalAveragePooling(ConfigFromArguments, keras.layers.Layer):
    """Averages the patch tokens, skipping `num_prefix_tokens` leading tokens (the class token).

    Args:
        num_prefix_tokens: int, leading tokens excluded from the mean.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).

    Returns:
        A tensor of shape (batch, hidden_dim).
    """

    def __init__(self, num_prefix_tokens=0, **kwargs):
        super().__init__(**kwargs)
        self.num_prefix_tokens = num_prefix_tokens
        self.readout_rows = (num_prefix_tokens, None)  # the token rows the pooled features read (model.layout.readout)

    def call(self, inputs):
        return ops.mean(inputs[:, self.num_prefix_tokens :], axis=1)
