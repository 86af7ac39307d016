"""Fixed, input-size-independent zero padding of the BiT release ("symmetric"), next to TensorFlow's "SAME".

"same" (TensorFlow/JAX SAME) pads ceil-division style and puts the odd pixel at the end: with stride 2 on an even
input, a 7x7 convolution gets 2 zeros before and 3 after. "symmetric" pads (k - 1) // 2 zeros before and
k - 1 - (k - 1) // 2 after, whatever the input size (3 and 3 for 7x7, 1 and 1 for 3x3, 0 for 1x1), as the BiT release
(PaddingFromKernelSize) and timm's `resnetv2_*_bit` models (StdConv2d default padding, stem_type "fixed") do. Both give
ceil(size / stride) outputs for odd kernels, so shapes, parameters and MACs do not depend on the choice.
"""

from keras import ops

PADDINGS = ("same", "symmetric")


def pad_symmetric(inputs, kernel_size):
    """Zero-pads the two spatial axes of (batch, height, width, channels) `inputs` for a kernel of `kernel_size`
    (height, width) under "symmetric" padding; a following 'valid' convolution or pooling completes it."""
    pads = [(0, 0), *[((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_size], (0, 0)]
    if all(p == (0, 0) for p in pads):
        return inputs
    return ops.pad(inputs, pads)


def padded_size(size, kernel_size, stride, padding):
    """The output length of a convolution or pooling along one axis ("same", "symmetric" or "valid")."""
    if padding == "same" or size is None:
        return ceil_div(size, stride)
    if padding == "symmetric":
        size += kernel_size - 1
    return (size - kernel_size) // stride + 1


def ceil_div(size, stride):
    """ceil(size / stride), the output length of a strided "same" or "symmetric" layer with an odd kernel; None
    (a size known only when the graph runs) stays None."""
    return None if size is None else -(-size // stride)
