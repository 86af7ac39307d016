"""The transformer's position-wise feed-forward network."""

import keras

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers.gelu import gelu
from keras_vit.registry import register


@register("mlp", "mlp")
class MLP(ConfigFromArguments, keras.layers.Layer):
    """Dense(intermediate_dim) -> GELU -> dropout -> Dense(output width) -> dropout (the ViT paper's MLP).

    Args:
        intermediate_dim: int, the hidden width (4 * hidden_dim in the zoo).
        output_dim: int or None; None keeps the input width.
        dropout_rate: float, dropout after each dense layer while training.
        use_approximate_gelu: bool; False is the exact erf GELU (timm, the TNT release), True the tanh form (the original ViT release, Flax's default).

    Call arguments:
        inputs: tensor of shape (batch, ..., width).
        training: bool, enables dropout.

    Returns:
        A tensor of shape (batch, ..., output_dim or width).

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, eq. 3.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "tokens"

    def __init__(self, intermediate_dim=3072, output_dim=None, dropout_rate=0.0, use_approximate_gelu=False, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        output_dim = self.output_dim or input_shape[-1]
        self.fc1 = built(keras.layers.Dense(
            self.intermediate_dim, kernel_initializer="glorot_uniform", dtype=self.dtype_policy, name="fc1"
        ), input_shape)
        fc2 = keras.layers.Dense(output_dim, kernel_initializer="glorot_uniform", dtype=self.dtype_policy, name="fc2")
        self.fc2 = built(fc2, input_shape[:-1] + (self.intermediate_dim,))
        self.dropout = keras.layers.Dropout(self.dropout_rate, dtype=self.dtype_policy, name="dropout")

    def call(self, inputs, training=None):
        x = gelu(self.fc1(inputs), approximate=self.use_approximate_gelu, training=training)
        x = self.dropout(x, training=training)
        return self.dropout(self.fc2(x), training=training)
