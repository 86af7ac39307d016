"""TNT's pixel embedding: every image patch becomes a small grid of "visual words"."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.layers._shapes import check_patch_grid, dim
from keras_vit.registry import register
from keras_vit.schema import pair


@register("patch_embed", "pixel_embed")
class PixelEmbed(ConfigFromArguments, keras.layers.Layer):
    """Splits an image into patch_size x patch_size patches ("visual sentences") and turns each patch into a grid of
    (patch_size / pixel_stride)^2 "visual words" of width `inner_dim` with a convolution run inside each patch.

    The convolution (kernel `pixel_kernel_size`, stride `pixel_stride`, zero padding pixel_kernel_size // 2 on every
    side) sees one patch at a time, so words never mix pixels of neighbouring patches; the released TNT models use
    16x16 patches, a 7x7 kernel and stride 4: 4x4 = 16 words per patch. The convolution is named `projection`.

    Args:
        patch_size: int or (height, width) of a patch in pixels; pixel_stride must divide it.
        inner_dim: int, the width of a word.
        pixel_stride: int, the convolution's stride: each word stands for a pixel_stride x pixel_stride area.
        pixel_kernel_size: odd int, the convolution's kernel size (7 in the released models).

    Call arguments:
        inputs: images of shape (batch, height, width, channels); height and width must be multiples of the patch
            size (and may be known only when the graph runs).

    Returns:
        Words of shape (batch, num_patches, num_words, inner_dim): patches in row-major order over the image, words
        in row-major order inside their patch, num_words = (patch_h / pixel_stride) * (patch_w / pixel_stride).

    Reference:
        Han et al., "Transformer in Transformer", NeurIPS 2021, section 2.2; the released TNT models.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "words"

    def __init__(self, patch_size=16, inner_dim=24, pixel_stride=4, pixel_kernel_size=7, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self.patch_size = pair(patch_size)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        check_patch_grid(input_shape, self.patch_size, "PixelEmbed")
        self.projection = keras.layers.Conv2D(
            self.inner_dim, kernel_size=self.pixel_kernel_size, strides=self.pixel_stride, padding="valid",
            dtype=self.dtype_policy, name="projection",
        )
        pad = self.pixel_kernel_size // 2
        self.projection.build((None, self.patch_size[0] + 2 * pad, self.patch_size[1] + 2 * pad, input_shape[3]))

    def call(self, inputs):
        batch, channels = ops.shape(inputs)[0], inputs.shape[3]
        patch_h, patch_w = self.patch_size
        rows, cols = dim(inputs, 1) // patch_h, dim(inputs, 2) // patch_w
        # (batch, rows, patch_h, cols, patch_w, C) -> one image per patch: (batch * patches, patch_h, patch_w, C).
        patches = ops.reshape(inputs, (batch, rows, patch_h, cols, patch_w, channels))
        patches = ops.transpose(patches, (0, 1, 3, 2, 4, 5))
        patches = ops.reshape(patches, (batch * rows * cols, patch_h, patch_w, channels))
        # Symmetric zero padding inside each patch; Keras's "same" would pad 1 before and 2 after for 7x7/stride 4.
        pad = self.pixel_kernel_size // 2
        patches = ops.pad(patches, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        words = self.projection(patches)
        return ops.reshape(words, (batch, rows * cols, words.shape[1] * words.shape[2], self.inner_dim))

