"""Layer normalization as a registered `norm` component."""

import keras

from keras_vit.registry import register


@register("norm", "layer_norm")
class LayerNorm(keras.layers.LayerNormalization):
    """Keras's LayerNormalization under the registry name "layer_norm", the default of every `norm` slot.

    A subclass, so that registering it leaves Keras's own class and its saved name untouched. Models pass
    `epsilon` (their `layer_norm_epsilon`: 1e-6 in ViT, 1e-5 in TNT; Keras's default is 1e-3).

    Call arguments:
        inputs: tensor of shape (batch, ..., width).

    Returns:
        A tensor of the same shape, normalized over the last axis.
    """

    interface = "tokens"

    def get_config(self):
        config = super().get_config()
        # Keras 3.15 reports `rms_scaling`, which its constructor takes only through **kwargs: keep the config to the
        # constructor's own arguments.
        config.pop("rms_scaling", None)
        return config
