"""Weight-standardized 2-D convolution (the convolution of BiT and of the ViT hybrids' ResNet stems), and the
fixed, input-size-independent zero padding of the BiT release ("symmetric") that it and the ResNet layers offer next
to TensorFlow's "SAME".

"same" (TensorFlow/JAX SAME) pads ceil-division style and puts the odd pixel at the end: with stride 2 on an even
input, a 7x7 convolution gets 2 zeros before and 3 after. "symmetric" pads (k - 1) // 2 zeros before and
k - 1 - (k - 1) // 2 after, whatever the input size (3 and 3 for 7x7, 1 and 1 for 3x3, 0 for 1x1), as the BiT release
(PaddingFromKernelSize) and timm's `resnetv2_*_bit` models (StdConv2d default padding, stem_type "fixed") do. Both give
ceil(size / stride) outputs for any kernel, so shapes, parameters and MACs do not depend on the choice.
"""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register
from keras_vit.schema import pair

EPSILON_MODES = ("variance", "std")
PADDINGS = ("same", "symmetric")


def pad_symmetric(inputs, kernel_size):
    """Zero-pads the two spatial axes of (batch, height, width, channels) `inputs` for a kernel of `kernel_size`
    (height, width) under "symmetric" padding; a following 'valid' convolution or pooling completes it."""
    pads = [(0, 0), *[((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_size], (0, 0)]
    if all(p == (0, 0) for p in pads):
        return inputs
    return ops.pad(inputs, pads)


def ceil_div(size, stride):
    """ceil(size / stride), the output length of a strided "same" or "symmetric" layer (symmetric padding adds
    kernel - 1 zeros in all); None (a size known only when the graph runs) stays None."""
    return None if size is None else -(-size // stride)


@register("layer", "std_conv2d")
class StdConv2D(ConfigFromArguments, keras.layers.Layer):
    """A 2-D convolution whose kernel is standardized (zero mean, unit variance over the receptive field and input
    channels of each output channel) every time it is used.

    Two forms of the standardization are in use: BiT and timm divide by sqrt(variance + epsilon) (epsilon_mode
    "variance"; BiT uses 1e-10, timm 1e-8); the original ViT release's hybrid stems divide by
    (standard deviation + epsilon) (epsilon_mode "std", epsilon 1e-5).

    The kernel is standardized in float32 even under a mixed-precision policy (the layer does not autocast its
    variables), then cast to the compute dtype.

    Args:
        filters: int, output channels.
        kernel_size: int or (height, width).
        strides: int or (height, width).
        padding: "same" (TensorFlow/JAX SAME: the padding depends on the input size and puts the odd zero at the
            end, e.g. 2 before and 3 after for 7x7 stride 2 on an even input), "symmetric" ((k - 1) // 2 zeros on
            each side whatever the input size, as the BiT release and timm's StdConv2d) or "valid" (none).
        use_bias: bool.
        epsilon: float, added to the variance or to the standard deviation.
        epsilon_mode: "variance" (w - mean) / sqrt(var + epsilon), or "std" (w - mean) / (std + epsilon).

    Call arguments:
        inputs: tensor of shape (batch, height, width, channels).

    Returns:
        A tensor of shape (batch, out_height, out_width, filters).

    Reference:
        Qiao et al., "Micro-Batch Training with Batch-Channel Normalization and Weight Standardization", 2019;
        Kolesnikov et al., "Big Transfer (BiT): General Visual Representation Learning", 2020.
    """

    def __init__(self, filters=64, kernel_size=3, strides=1, padding="same", use_bias=False, epsilon=1e-10,
                 epsilon_mode="variance", **kwargs):
        # Standardization statistics need float32: the kernel is cast by hand after standardizing.
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self.kernel_size = pair(kernel_size)
        self.strides = pair(strides)

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                f"StdConv2D expects inputs of shape (batch, height, width, channels) with known channels; "
                f"received {input_shape}."
            )
        kernel_shape = (*self.kernel_size, input_shape[-1], self.filters)
        self.kernel = self.add_weight(name="kernel", shape=kernel_shape, initializer=keras.initializers.HeNormal())
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros") if self.use_bias else None

    def standardized_kernel(self):
        """The kernel after weight standardization, in float32, shape (kh, kw, in_channels, filters)."""
        kernel = ops.cast(self.kernel, "float32")
        mean = ops.mean(kernel, axis=(0, 1, 2), keepdims=True)
        centered = kernel - mean
        variance = ops.mean(ops.square(centered), axis=(0, 1, 2), keepdims=True)
        if self.epsilon_mode == "variance":
            return centered * ops.rsqrt(variance + self.epsilon)
        return centered / (ops.sqrt(variance) + self.epsilon)

    def call(self, inputs):
        kernel = ops.cast(self.standardized_kernel(), self.compute_dtype)
        inputs = ops.cast(inputs, self.compute_dtype)
        padding = self.padding
        if padding == "symmetric":
            inputs, padding = pad_symmetric(inputs, self.kernel_size), "valid"
        outputs = ops.conv(inputs, kernel, strides=self.strides, padding=padding)
        if self.bias is not None:
            outputs = outputs + ops.cast(self.bias, self.compute_dtype)
        return outputs

    def compute_output_shape(self, input_shape):
        axes = zip(input_shape[1:3], self.kernel_size, self.strides)
        valid = self.padding == "valid"
        height, width = ((size - kernel) // stride + 1 if valid and size is not None else ceil_div(size, stride)
                         for size, kernel, stride in axes)
        return (input_shape[0], height, width, self.filters)
