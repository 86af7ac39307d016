"""Necks: from a zoo backbone's token sequence to feature maps for dense heads."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


def tokens_to_map(tokens, num_prefix_tokens, grid_size):
    """(batch, prefix + rows * columns, dim) tokens -> (batch, rows, columns, dim): prefix tokens (class,
    distillation, registers) dropped, patch tokens in the patch embedding's row-major order."""
    patches = tokens[:, num_prefix_tokens:, :]
    rows, columns = grid_size
    return ops.reshape(patches, (-1, rows, columns, ops.shape(tokens)[-1]))


class _Neck(ConfigFromArguments, keras.layers.Layer):
    interface = "tokens"

    def __init__(self, output_dim=256, num_prefix_tokens=0, grid_size=(14, 14), layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.output_dim = output_dim
        self.num_prefix_tokens = num_prefix_tokens
        self.grid_size = tuple(grid_size)
        self.layer_norm_epsilon = layer_norm_epsilon

    def _norm(self, name):
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)

    def _conv(self, filters, kernel_size, name, **kwargs):
        return keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, dtype=self.dtype_policy,
                                   name=name, **kwargs)

    def _project(self, prefix):
        """ViTDet's output projection of one level: 1x1 conv, LayerNorm, 3x3 conv, LayerNorm."""
        return [self._conv(self.output_dim, 1, f"{prefix}_reduce"), self._norm(f"{prefix}_reduce_norm"),
                self._conv(self.output_dim, 3, f"{prefix}_output"), self._norm(f"{prefix}_output_norm")]


@register("neck", "simple_feature_pyramid")
class SimpleFeaturePyramid(_Neck):
    """ViTDet's simple feature pyramid: four maps at 4x, 2x, 1x and 0.5x the patch grid from the last block's tokens
    (strides 4, 8, 16, 32 for a patch-16 backbone; stride patch/4 ... 2*patch for any patch size).

    Args:
        output_dim: int, channels of every level.
        num_prefix_tokens: int, tokens before the patch grid (class, distillation, registers), dropped.
        grid_size: (rows, columns) of the patch grid.
        layer_norm_epsilon: float.

    Call arguments:
        tokens: (batch, num_prefix_tokens + rows * columns, hidden_dim).

    Returns:
        A list of four maps, (batch, 4 rows, 4 columns, output_dim) ... (batch, rows / 2, columns / 2, output_dim);
        rows and columns must be even.

    Reference:
        Li, Mao, Girshick, He, "Exploring Plain Vision Transformer Backbones for Object Detection" (ViTDet), 2022.
    """

    num_levels = 4

    def build(self, input_shape):
        dim, policy = input_shape[-1], self.dtype_policy
        if self.grid_size[0] % 2 or self.grid_size[1] % 2:
            raise ValueError(f"The simple feature pyramid halves the patch grid; {self.grid_size} has an odd side: "
                             f"choose an image size with an even number of patches per side.")

        def up(filters, name):
            return keras.layers.Conv2DTranspose(filters, 2, strides=2, dtype=policy, name=name)

        self.scales = [
            [up(dim // 2, "up4_0"), self._norm("up4_norm"), keras.layers.Activation("gelu", dtype=policy),
             up(dim // 4, "up4_1")],
            [up(dim // 2, "up2")],
            [],
            [keras.layers.MaxPooling2D(2, dtype=policy, name="down2")],
        ]
        self.projections = [self._project(f"level_{level}") for level in range(self.num_levels)]
        shape = (input_shape[0], *self.grid_size, dim)
        for scale, projection in zip(self.scales, self.projections):
            level_shape = shape
            for layer in scale + projection:
                layer.build(level_shape)
                level_shape = layer.compute_output_shape(level_shape)

    def call(self, tokens):
        feature_map = tokens_to_map(tokens, self.num_prefix_tokens, self.grid_size)
        levels = []
        for scale, projection in zip(self.scales, self.projections):
            x = feature_map
            for layer in scale + projection:
                x = layer(x)
            levels.append(x)
        return levels


@register("neck", "single_scale")
class SingleScaleProjection(_Neck):
    """One map at the patch grid, projected to `output_dim` (DETR's input projection, with ViTDet's norms).

    Args and call arguments: as `SimpleFeaturePyramid`.

    Returns:
        A list of one map, (batch, rows, columns, output_dim).
    """

    num_levels = 1

    def build(self, input_shape):
        self.projection = self._project("level_0")
        shape = (input_shape[0], *self.grid_size, input_shape[-1])
        for layer in self.projection:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, tokens):
        x = tokens_to_map(tokens, self.num_prefix_tokens, self.grid_size)
        for layer in self.projection:
            x = layer(x)
        return [x]
