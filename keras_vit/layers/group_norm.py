"""Group normalization with 32 groups, the normalization of BiT and of the ViT hybrids' ResNet stems."""

import keras
from keras import ops

from keras_vit.layers._shapes import dim
from keras_vit.registry import register


@register("layer", "group_norm")
class GroupNorm(keras.layers.GroupNormalization):
    """Normalizes each sample over (height, width, channels of a group), then scales and shifts per channel:
    Keras's GroupNormalization (statistics, scale and shift in float32 under mixed precision) under the registry
    name "group_norm", with the arguments BiT's layers set.

    A subclass, so that registering it leaves Keras's own class and its saved name untouched.

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
        super().__init__(groups=groups, epsilon=epsilon, gamma_initializer=gamma_initializer, **kwargs)
        self.gamma_initializer_argument = gamma_initializer

    def build(self, input_shape):
        # Keras's own message has the divisibility backwards ("groups must be a multiple of the channels").
        channels = input_shape[-1]
        if len(input_shape) != 4 or channels is None or channels % self.groups:
            raise ValueError(
                f"GroupNorm with groups={self.groups} needs inputs (batch, height, width, channels) whose channels "
                f"are divisible by groups; received {tuple(input_shape)}. Change groups or the channel count."
            )
        super().build(input_shape)

    def call(self, inputs):
        # Two-pass variance E[(x - mean)^2] in float32: Keras's one-pass moments (E[x^2] - mean^2) drifted 1.1e-5
        # from timm's stem output (tests/test_timm_parity.py), this matches it within 1e-5.
        batch, height, width, channels = ops.shape(inputs)[0], dim(inputs, 1), dim(inputs, 2), inputs.shape[3]
        grouped = ops.reshape(ops.cast(inputs, "float32"), (batch, height, width, self.groups, channels // self.groups))
        centered = grouped - ops.mean(grouped, axis=(1, 2, 4), keepdims=True)
        grouped = centered * ops.rsqrt(ops.mean(ops.square(centered), axis=(1, 2, 4), keepdims=True) + self.epsilon)
        x = ops.reshape(grouped, (batch, height, width, channels)) * ops.cast(self.gamma, "float32")
        return ops.cast(x + ops.cast(self.beta, "float32"), self.compute_dtype)

    def get_config(self):
        # Keras's config lists every GroupNormalization argument: keep it to this constructor's own.
        config = keras.layers.Layer.get_config(self)
        return {**config, "groups": self.groups, "epsilon": self.epsilon,
                "gamma_initializer": self.gamma_initializer_argument}
