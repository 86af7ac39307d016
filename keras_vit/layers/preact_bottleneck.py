"""The pre-activation bottleneck unit of BiT (ResNet v2 with GroupNorm and weight standardization)."""

from keras import ops

from keras_vit.layers.bottleneck import Bottleneck
from keras_vit.registry import register


@register("block", "preact_bottleneck")
class PreActBottleneck(Bottleneck):
    """ResNet v2 bottleneck unit, pre-activation: a = relu(GN(x)); y = shortcut + conv3(relu(GN(conv2(relu(GN(
    conv1(a))))))).

    conv1 is 1x1 to `filters`, conv2 3x3 to `filters` with the unit's stride, conv3 1x1 to 4 * filters. The shortcut
    is x itself, or a strided 1x1 StdConv2D of the pre-activated `a` (no norm) when the stride is not 1 or the input
    width is not 4 * filters. The output is not normalized: the model adds a final GroupNorm + ReLU.

    Args:
        filters: int, the bottleneck width; the unit outputs 4 * filters channels.
        strides: int, stride of the 3x3 convolution and of the projection.
        num_groups: int, GroupNorm groups.
        group_norm_epsilon: float (1e-5 in BiT's PyTorch release and in timm).
        std_conv_epsilon: float, see StdConv2D (1e-10 in BiT's releases, 1e-8 in timm).
        std_conv_epsilon_mode: "variance" (BiT, timm) or "std".
        padding: "symmetric" (the BiT release, timm's `resnetv2_*_bit`: 1 zero on each side of the 3x3 convolution)
            or "same" (TensorFlow/JAX SAME); see StdConv2D.

    Call arguments:
        inputs: tensor of shape (batch, height, width, channels).

    Returns:
        A tensor of shape (batch, ceil(height / strides), ceil(width / strides), 4 * filters).

    Reference:
        He et al., "Identity Mappings in Deep Residual Networks", 2016; Kolesnikov et al., "Big Transfer (BiT)",
        2020.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "feature_map"

    is_preactivation = True

    def __init__(self, filters=64, strides=1, num_groups=32, group_norm_epsilon=1e-5, std_conv_epsilon=1e-10,
                 std_conv_epsilon_mode="variance", padding="symmetric", **kwargs):
        super(Bottleneck, self).__init__(**kwargs)  # Bottleneck's constructor would only keep its own defaults
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape, out_shape, inner_in, inner_out = self._shapes(input_shape)
        self.gn1 = self._norm("gn1", input_shape)
        if self.needs_projection:
            self.conv_proj = self._conv(out_shape[-1], 1, self.strides, "conv_proj", input_shape)
        self.conv1 = self._conv(self.filters, 1, 1, "conv1", input_shape)
        self.gn2 = self._norm("gn2", inner_in)
        self.conv2 = self._conv(self.filters, 3, self.strides, "conv2", inner_in)
        self.gn3 = self._norm("gn3", inner_out)
        self.conv3 = self._conv(out_shape[-1], 1, 1, "conv3", inner_out)

    def call(self, inputs):
        activated = ops.relu(self.gn1(inputs))
        shortcut = self.conv_proj(activated) if self.needs_projection else inputs
        y = self.conv1(activated)
        y = self.conv2(ops.relu(self.gn2(y)))
        y = self.conv3(ops.relu(self.gn3(y)))
        return ops.cast(shortcut, y.dtype) + y
