"""Patch embedding: non-overlapping patches linearly projected to tokens."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers._shapes import check_patch_grid
from keras_vit.registry import register
from keras_vit.schema import pair


@register("patch_embed", "patch_embed")
class PatchEmbed(ConfigFromArguments, keras.layers.Layer):
    """Splits an image into non-overlapping patches and projects each to `hidden_dim` (a convolution with
    kernel = stride = patch size, i.e. the matrix E of the ViT paper's eq. 1).

    Args:
        patch_size: int or (height, width) of a patch.
        hidden_dim: int, the width D of each token.
        use_bias: bool, whether the projection has a bias.

    Call arguments:
        inputs: images of shape (batch, height, width, channels); height and width must be multiples of the
            patch size.

    Returns:
        Tokens of shape (batch, (height / patch_h) * (width / patch_w), hidden_dim), in row-major patch order;
        (batch, None, hidden_dim) statically for images whose size is known only when the graph runs.

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, eq. 1.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "tokens"

    def __init__(self, patch_size=16, hidden_dim=768, use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self.patch_size = pair(patch_size)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        check_patch_grid(input_shape, self.patch_size, "PatchEmbed")
        self.projection = built(keras.layers.Conv2D(
            self.hidden_dim, kernel_size=self.patch_size, strides=self.patch_size, padding="valid",
            use_bias=self.use_bias, kernel_initializer="lecun_normal", dtype=self.dtype_policy, name="projection",
        ), input_shape)

    def call(self, inputs):
        x = self.projection(inputs)
        batch = ops.shape(x)[0]
        # Images of any size (dynamic_image_size): a grid only known when the graph runs.
        tokens = -1 if None in (x.shape[1], x.shape[2]) else x.shape[1] * x.shape[2]
        return ops.reshape(x, (batch, tokens, self.hidden_dim))
