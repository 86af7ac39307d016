"""LayerScale: a learned per-channel scale on a residual branch."""

import keras

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("layer", "layer_scale")
class LayerScale(ConfigFromArguments, keras.layers.Layer):
    """Multiplies the last axis by a learned vector `gamma`, initialized to `init_value` (CaiT; DeiT-III uses it on
    both residual branches of every block, so that deep models start close to the identity).

    Args:
        init_value: float, the initial value of every entry of gamma.

    Call arguments:
        inputs: tensor of shape (batch, ..., width).

    Returns:
        A tensor of the same shape: inputs * gamma.

    Reference:
        Touvron et al., "Going deeper with Image Transformers" (CaiT), 2021; "DeiT III: Revenge of the ViT", 2022.
    """

    def __init__(self, init_value=1e-5, **kwargs):
        super().__init__(**kwargs)
        self.init_value = init_value

    def build(self, input_shape):
        self.gamma = self.add_weight(
            shape=(input_shape[-1],), initializer=keras.initializers.Constant(self.init_value), name="gamma"
        )

    def call(self, inputs):
        return inputs * keras.ops.cast(self.gamma, inputs.dtype)
