"""Stochastic depth: drops a whole residual branch per example."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("layer", "drop_path")
class DropPath(ConfigFromArguments, keras.layers.Layer):
    """Drops the residual branch of whole examples with probability `rate` while training (stochastic depth).

    Surviving examples are scaled by 1 / (1 - rate) so that the expected output is unchanged.

    Args:
        rate: float in [0, 1), the probability of dropping an example's branch.
        seed: optional int seed.

    Call arguments:
        inputs: tensor of shape (batch, ...).
        training: bool; the layer is the identity when False.

    Returns:
        A tensor of the same shape as `inputs`.

    Reference:
        Huang et al., "Deep Networks with Stochastic Depth", 2016.
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self.seed_generator = keras.random.SeedGenerator(seed) if self.rate > 0 else None

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype) < keep
        return ops.where(mask, inputs / ops.cast(keep, inputs.dtype), ops.zeros_like(inputs))
