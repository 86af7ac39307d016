"""int8 weights through Keras's own `model.quantize`: a quantized copy for export, with errors that say what to do.

`model.quantize("int8")` (Keras) works on every zoo family as it is: it replaces the kernels of the Dense and
EinsumDense layers (inside MSA, MLP, heads, pooling) with int8 values and per-output-channel scales, and quantizes
their inputs per token at run time. Convolutions (the patch embedding, ResNet stems and BiT ResNets) stay float:
Keras 3.15 has no int8 convolution. A quantized zoo model saves to and loads from a `.keras` file (ZooModel.get_config
records the quantized layers' policies).
"""

import warnings

import keras

from keras_vit.compat import nested_layers

MODES = ("int8",)


def quantized_layers(model):
    """The paths of `model`'s quantized layers (empty for a float model)."""
    return [layer.path for layer in nested_layers(model) if layer is not model and layer.quantization_mode]


def quantize(model, mode="int8"):
    """A copy of `model` with int8 weights (Keras's `model.quantize(mode)`); `model` itself is left unchanged.

    Args:
        model: a built Keras model (a zoo model, or one loaded from a `.keras` file), not yet quantized.
        mode: "int8".

    Returns:
        The quantized copy: same inputs (batch, H, W, C) and outputs as `model`.
    """
    if mode not in MODES:
        raise ValueError(f"quantize: `mode` must be one of {MODES}; received {mode!r}.")
    if not isinstance(model, keras.Model) or not model.built:
        raise TypeError(f"quantize: `model` must be a built keras.Model; received {type(model).__name__}.")
    if quantized_layers(model):
        raise ValueError(f"quantize: model {model.name!r} is quantized already; pass the float model.")
    if any(layer.dtype_policy.compute_dtype == "float16" for layer in nested_layers(model)):
        raise ValueError(
            f"quantize: model {model.name!r} computes in float16, which int8 quantization does not support; "
            "create it in float32 or mixed_bfloat16 (dtype=...) and load the same weights."
        )
    copy = type(model).from_config(model.get_config())  # a zoo model stays its class (keras's clone_model would not)
    copy.set_weights(model.get_weights())
    with warnings.catch_warnings():
        # Keras warns once per layer without an int8 form (norms, dropout, convolutions): expected, not news.
        warnings.filterwarnings("ignore", message=r".*does not have a `quantize` method implemented")
        copy.quantize(mode)
    if not quantized_layers(copy):
        raise ValueError(
            f"quantize: model {model.name!r} has no layer Keras can quantize to {mode} (Dense or EinsumDense); "
            "convolutions stay float in Keras 3.15, so a convolution-only model gains nothing."
        )
    return copy
