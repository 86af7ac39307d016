"""The root of a BiT / ViT-hybrid ResNet: a 7x7 stride-2 weight-standardized convolution and a 3x3 max-pool."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers.group_norm import GroupNorm
from keras_vit.layers.std_conv2d import StdConv2D, ceil_div, pad_symmetric
from keras_vit.registry import register


class ResNetParts:
    """Layer mixin of the ResNet layers (root, stem, units): their StdConv2D and GroupNorm sublayers, made from the
    layer's own num_groups, group_norm_epsilon, std_conv_epsilon, std_conv_epsilon_mode and padding, and built."""

    def _conv(self, filters, kernel_size, strides, name, input_shape):
        return built(StdConv2D(
            filters, kernel_size, strides=strides, epsilon=self.std_conv_epsilon,
            epsilon_mode=self.std_conv_epsilon_mode, padding=self.padding, dtype=self.dtype_policy, name=name,
        ), input_shape)

    def _norm(self, name, input_shape, gamma_initializer="ones"):
        norm = GroupNorm(self.num_groups, self.group_norm_epsilon, gamma_initializer, dtype=self.dtype_policy, name=name)
        return built(norm, input_shape)


@register("layer", "resnet_root")
class ResNetRoot(ConfigFromArguments, ResNetParts, keras.layers.Layer):
    """StdConv2D 7x7 stride 2 -> [GroupNorm -> ReLU] -> max-pool 3x3 stride 2: downsamples by 4.

    Args:
        filters: int, output channels (64 times the width factor).
        use_norm: bool; True (post-activation ResNets, the ViT hybrids) normalizes and activates after the
            convolution, False (pre-activation BiT) leaves that to the first unit.
        num_groups: int, GroupNorm groups.
        group_norm_epsilon: float.
        std_conv_epsilon: float, see StdConv2D.
        std_conv_epsilon_mode: "variance" or "std", see StdConv2D.
        padding: "same" (TensorFlow/JAX SAME for the convolution and the pool, as the ViT release's hybrids and
            timm's) or "symmetric" (3 zeros on each side before the 7x7 convolution and 1 zero on each side before
            the pool, whatever the input size, as the BiT release and timm's `resnetv2_*_bit`, stem_type "fixed").
            The pool pads with zeros, not -inf (as both releases). The output shape is the same either way.

    Call arguments:
        inputs: images of shape (batch, height, width, channels).

    Returns:
        A tensor of shape (batch, ceil(height / 4), ceil(width / 4), filters).

    Reference:
        Kolesnikov et al., "Big Transfer (BiT)", 2020; Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021
        (the hybrid's root in google-research/vision_transformer).
    """

    def __init__(self, filters=64, use_norm=True, num_groups=32, group_norm_epsilon=1e-6, std_conv_epsilon=1e-5,
                 std_conv_epsilon_mode="std", padding="same", **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self.conv = self._conv(self.filters, 7, 2, "conv_root", input_shape)
        self.norm = self._norm("gn_root", self.conv.compute_output_shape(input_shape)) if self.use_norm else None
        pool_padding = "same" if self.padding == "same" else "valid"  # "symmetric" zero-pads in call()
        self.pool = keras.layers.MaxPooling2D(3, strides=2, padding=pool_padding, dtype=self.dtype_policy, name="pool")

    def call(self, inputs):
        x = self.conv(inputs)
        if self.norm is not None:
            x = ops.relu(self.norm(x))
        if self.padding == "symmetric":
            x = pad_symmetric(x, (3, 3))
        return self.pool(x)

    def compute_output_shape(self, input_shape):
        # Two stride-2 steps, each ceil(size / 2) under either padding: ceil(size / 4).
        return (input_shape[0], ceil_div(input_shape[1], 4), ceil_div(input_shape[2], 4), self.filters)
