"""TNT's map from the words of a patch to one patch-sized vector."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers._shapes import dim
from keras_vit.registry import register


@register("layer", "pixel_projection")
class PixelProjection(ConfigFromArguments, keras.layers.Layer):
    """Flattens the words of each patch and projects them to the patch width: LayerNorm(num_words * inner_dim) ->
    Dense(hidden_dim) -> LayerNorm(hidden_dim), sublayers `norm1`, `projection`, `norm2`.

    TNT uses it twice: to make the initial patch embeddings from the words (with a bias), and inside every
    `TNTBlock` to carry the inner transformer's output to the patch tokens (without a bias, as released).

    Args:
        hidden_dim: int, the patch token width.
        use_bias: bool, whether the Dense layer has a bias.
        layer_norm_epsilon: float, epsilon of both LayerNorms (1e-5 in TNT).

    Call arguments:
        inputs: words of shape (batch, num_patches, num_words, inner_dim).

    Returns:
        Patch vectors of shape (batch, num_patches, hidden_dim); the words are flattened word by word
        (index word * inner_dim + channel).

    Reference:
        Han et al., "Transformer in Transformer", NeurIPS 2021, eq. 4 (Vec and FC); the released TNT models add the
        two LayerNorms.
    """

    def __init__(self, hidden_dim=384, use_bias=True, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[2] is None or input_shape[3] is None:
            raise ValueError(
                f"PixelProjection expects words of shape (batch, num_patches, num_words, inner_dim) with static "
                f"num_words and inner_dim; received {input_shape}."
            )
        flat_shape = (input_shape[0], input_shape[1], input_shape[2] * input_shape[3])
        policy = self.dtype_policy
        epsilon = self.layer_norm_epsilon
        self.norm1 = built(keras.layers.LayerNormalization(epsilon=epsilon, dtype=policy, name="norm1"), flat_shape)
        projection = keras.layers.Dense(self.hidden_dim, use_bias=self.use_bias, dtype=policy, name="projection")
        self.projection = built(projection, flat_shape)
        norm2 = keras.layers.LayerNormalization(epsilon=epsilon, dtype=policy, name="norm2")
        self.norm2 = built(norm2, flat_shape[:2] + (self.hidden_dim,))

    def call(self, inputs):
        batch = ops.shape(inputs)[0]
        num_patches, (_, _, num_words, inner_dim) = dim(inputs, 1), inputs.shape
        x = ops.reshape(inputs, (batch, num_patches, num_words * inner_dim))
        return self.norm2(self.projection(self.norm1(x)))
