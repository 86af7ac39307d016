"""Group normalization with 32 groups, the normalization of BiT and of the ViT hybrids' ResNet stems."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.layers._shapes import dim
from keras_vit.registry import register


@register("layer", "group_norm")
class GroupNorm(ConfigFromArguments, keras.layers.Layer):
    """Normalizes each sample over (height, width, channels of a group), then scales and shifts per channel.

    Statistics are computed in float32 under mixed precision.

    Args:
        groups: int, number of channel groups; must divide the channels (32 in BiT and the ViT hybrids).
        epsilon: float, added to the variance (1e-6 in the original ViT release's Flax GroupNorm, 1e-5 in BiT's
            PyTorch release and in timm).
        gamma_initializer: initializer of the scale: "ones", or "zeros" for the last norm of a residual branch so
            that each unit starts as the identity (as in the ViT release).

    Call arguments:
        inputs: tensor of shape (batch, height, width, channels).

    Returns:
        A tensor of the input's shape.

    Reference:
        Wu and He, "Group Normalization", 2018.
    """

    def __init__(self, groups=32, epsilon=1e-5, gamma_initializer="ones", **kwargs):
        # Scale and shift are applied in float32 (exact), so the variables are not autocast to the compute dtype.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = input_shape[-1]
        if len(input_shape) != 4 or channels is None or channels % self.groups:
            raise ValueError(
                f"GroupNorm with groups={self.groups} needs inputs (batch, height, width, channels) whose channels "
                f"are divisible by groups; received {input_shape}. Change groups or the channel count."
            )
        self.gamma = self.add_weight(name="gamma", shape=(channels,), initializer=self.gamma_initializer)
        self.beta = self.add_weight(name="beta", shape=(channels,), initializer="zeros")

    def call(self, inputs):
        batch, height, width, channels = ops.shape(inputs)[0], dim(inputs, 1), dim(inputs, 2), inputs.shape[3]
        x = ops.cast(inputs, "float32")
        grouped = ops.reshape(x, (batch, height, width, self.groups, channels // self.groups))
        mean = ops.mean(grouped, axis=(1, 2, 4), keepdims=True)
        variance = ops.mean(ops.square(grouped - mean), axis=(1, 2, 4), keepdims=True)
        grouped = (grouped - mean) * ops.rsqrt(variance + self.epsilon)
        x = ops.reshape(grouped, (batch, height, width, channels))
        x = x * ops.cast(self.gamma, "float32") + ops.cast(self.beta, "float32")
        return ops.cast(x, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)
