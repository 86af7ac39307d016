"""The post-activation bottleneck unit of the ViT hybrids' ResNet stems (GroupNorm + weight standardization)."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.layers.resnet_root import ResNetParts
from keras_vit.layers.std_conv2d import ceil_div
from keras_vit.registry import register


@register("block", "bottleneck")
class Bottleneck(ConfigFromArguments, ResNetParts, keras.layers.Layer):
    """ResNet bottleneck unit, post-activation: y = relu(shortcut(x) + GN(conv3(relu(GN(conv2(relu(GN(conv1(x))))))))).

    conv1 is 1x1 to `filters`, conv2 3x3 to `filters` with the unit's stride (the stride sits on the 3x3
    convolution), conv3 1x1 to 4 * filters. The shortcut is the identity, or a strided 1x1 StdConv2D + GroupNorm when
    the stride is not 1 or the input width is not 4 * filters. The last GroupNorm's scale starts at zero, so every
    unit starts as the identity map (as in the ViT release).

    Args:
        filters: int, the bottleneck width; the unit outputs 4 * filters channels.
        strides: int, stride of the 3x3 convolution and of the projection.
        num_groups: int, GroupNorm groups.
        group_norm_epsilon: float (1e-6, Flax's GroupNorm default, in the ViT release).
        std_conv_epsilon: float, see StdConv2D (1e-5 in the ViT release).
        std_conv_epsilon_mode: "std" (the ViT release) or "variance" (timm), see StdConv2D.
        padding: "same" (TensorFlow/JAX SAME, the ViT release and timm's hybrids) or "symmetric" (1 zero on each side
            of the 3x3 convolution whatever the input size); see StdConv2D. Only the strided 3x3 convolution on an
            even input tells them apart; the output shape is the same either way.

    Call arguments:
        inputs: tensor of shape (batch, height, width, channels).

    Returns:
        A tensor of shape (batch, ceil(height / strides), ceil(width / strides), 4 * filters).

    Reference:
        He et al., "Deep Residual Learning for Image Recognition", 2016; Dosovitskiy et al., "An Image is Worth
        16x16 Words", 2021 (ResidualUnit of google-research/vision_transformer).
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "feature_map"

    expansion = 4
    is_preactivation = False

    def __init__(self, filters=64, strides=1, num_groups=32, group_norm_epsilon=1e-6, std_conv_epsilon=1e-5,
                 std_conv_epsilon_mode="std", padding="same", **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def _shapes(self, input_shape):
        """(input shape, output shape, inner shape before the strided conv2, inner shape after it)."""
        input_shape = tuple(input_shape)
        out_shape = self.compute_output_shape(input_shape)
        self.needs_projection = input_shape[-1] != out_shape[-1] or self.strides != 1
        return input_shape, out_shape, input_shape[:3] + (self.filters,), out_shape[:3] + (self.filters,)

    def build(self, input_shape):
        input_shape, out_shape, inner_in, inner_out = self._shapes(input_shape)
        if self.needs_projection:
            self.conv_proj = self._conv(out_shape[-1], 1, self.strides, "conv_proj", input_shape)
            self.gn_proj = self._norm("gn_proj", out_shape)
        self.conv1 = self._conv(self.filters, 1, 1, "conv1", input_shape)
        self.gn1 = self._norm("gn1", inner_in)
        self.conv2 = self._conv(self.filters, 3, self.strides, "conv2", inner_in)
        self.gn2 = self._norm("gn2", inner_out)
        self.conv3 = self._conv(out_shape[-1], 1, 1, "conv3", inner_out)
        self.gn3 = self._norm("gn3", out_shape, gamma_initializer="zeros")

    def call(self, inputs):
        shortcut = inputs
        if self.needs_projection:
            shortcut = self.gn_proj(self.conv_proj(inputs))
        y = ops.relu(self.gn1(self.conv1(inputs)))
        y = ops.relu(self.gn2(self.conv2(y)))
        y = self.gn3(self.conv3(y))
        return ops.relu(ops.cast(shortcut, y.dtype) + y)

    def compute_output_shape(self, input_shape):
        height, width = (ceil_div(size, self.strides) for size in input_shape[1:3])
        return (input_shape[0], height, width, self.filters * self.expansion)
