"""The gated feed-forward network SwiGLU, with an optional norm inside (EVA-02)."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.registry import register


@register("mlp", "swiglu")
class SwiGLU(ConfigFromArguments, keras.layers.Layer):
    """Dense(2 * intermediate_dim) -> [gate | value] -> SiLU(gate) * value -> dropout -> (LayerNorm) ->
    Dense(output width) -> dropout.

    Args:
        intermediate_dim: int, the width of the gated hidden layer (EVA-02: 8/3 of hidden_dim).
        output_dim: int or None; None keeps the input width.
        dropout_rate: float, dropout after the gating and after the output layer while training.
        use_inner_norm: bool, a LayerNorm on the gated hidden layer (EVA-02 Base and up, as NormFormer).
        layer_norm_epsilon: float, epsilon of that LayerNorm.

    Call arguments:
        inputs: tensor of shape (batch, ..., width).
        training: bool, enables dropout.

    Returns:
        A tensor of shape (batch, ..., output_dim or width).

    Reference:
        Shazeer, "GLU Variants Improve Transformer", 2020; Fang et al., "EVA-02", 2023.
    """

    interface = "tokens"

    def __init__(self, intermediate_dim=2048, output_dim=None, dropout_rate=0.0, use_inner_norm=False,
                 layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        policy, hidden_shape = self.dtype_policy, input_shape[:-1] + (self.intermediate_dim,)
        self.fc1 = built(keras.layers.Dense(2 * self.intermediate_dim, dtype=policy, name="fc1"), input_shape)
        self.fc2 = built(keras.layers.Dense(self.output_dim or input_shape[-1], dtype=policy, name="fc2"), hidden_shape)
        self.norm = None
        if self.use_inner_norm:
            norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm")
            self.norm = built(norm, hidden_shape)
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=policy, name="dropout")

    def call(self, inputs, training=None):
        gate, value = ops.split(self.fc1(inputs), 2, axis=-1)
        x = self.dropout(ops.silu(gate) * value, training=training)
        if self.norm is not None:
            x = self.norm(x)
        return self.dropout(self.fc2(x), training=training)
