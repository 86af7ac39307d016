"""TNT's pixel position encoding: one learned table over the words of a patch, shared by every patch."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register
from keras_vit.schema import pair


@register("position", "pixel_position")
class PixelPosition(ConfigFromArguments, keras.layers.Layer):
    """Adds a learned position table of shape (num_words, inner_dim) to the words of every patch: word j of each
    patch gets the same vector (the TNT paper's pixel position encoding). The variable is named `embeddings`; it
    does not depend on the image size.

    Args:
        grid_size: int or (rows, columns) of the words inside one patch (4 for TNT's 16x16 patches).

    Call arguments:
        inputs: words of shape (batch, num_patches, rows * columns, inner_dim).

    Returns:
        inputs + table, same shape.

    Reference:
        Han et al., "Transformer in Transformer", NeurIPS 2021, section 2.2 ("Position encoding").
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "words"

    def __init__(self, grid_size=4, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = pair(grid_size)

    def build(self, input_shape):
        input_shape, num_words = tuple(input_shape), self.grid_size[0] * self.grid_size[1]
        if len(input_shape) != 4 or input_shape[2] != num_words:
            raise ValueError(
                f"PixelPosition is sized for a {self.grid_size[0]}x{self.grid_size[1]} word grid and expects words "
                f"of shape (batch, num_patches, {num_words}, inner_dim); received {input_shape}."
            )
        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.embeddings = self.add_weight(shape=(num_words, input_shape[-1]), initializer=initializer,
                                          name="embeddings")

    def call(self, inputs):
        return inputs + ops.cast(self.embeddings, inputs.dtype)
