"""Resampling position tables to another patch grid, in the graph: separable interpolation matrices built with
keras.ops from the sizes at hand (Python ints or scalar tensors), so one model serves every grid.

The same matrices resample tables outside the graph (`keras_vit.weights.resample`): one formula for both.

    bilinear   linear interpolation with the corners aligned: scipy.ndimage.zoom(order=1), which the original ViT
               release's loader uses to fine-tune at another resolution.
    bicubic    timm's `resample_abs_pos_embed`: torch.nn.functional.interpolate(mode="bicubic",
               align_corners=False, antialias=True). With antialias=True PyTorch runs its PIL-compatible separable
               filter in both directions: Keys' cubic with a = -0.5 (not the a = -0.75 of its antialias=False
               path), stretched by the scale when shrinking, truncated at the borders and renormalized.

A table of the grid's own size comes back unchanged: both matrices are then exactly the identity.
"""

from keras import ops

INTERPOLATIONS = ("bilinear", "bicubic")


def check_interpolation(interpolation):
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}; received {interpolation!r}.")
    return interpolation


def _one_hot(index, old, dtype):
    """(new, old) rows with a 1 at `index` (a (new,) int tensor); an index outside [0, old) gives a zero row."""
    return ops.cast(ops.equal(ops.arange(old, dtype="int32")[None, :], index[:, None]), dtype)


def _bilinear(old, new, dtype):
    # Output sample i sits at input coordinate i * (old - 1) / (new - 1); one sample reads the first input.
    step = ops.cast(old - 1, dtype) / ops.cast(ops.maximum(new - 1, 1), dtype)
    position = ops.cast(ops.arange(new, dtype="int32"), dtype) * step
    low = ops.clip(ops.cast(ops.floor(position), "int32"), 0, max(old - 2, 0))
    frac = (position - ops.cast(low, dtype))[:, None]
    return (1.0 - frac) * _one_hot(low, old, dtype) + frac * _one_hot(low + 1, old, dtype)


def _keys_cubic(x, a=-0.5):
    """Keys' cubic convolution kernel, zero for |x| >= 2."""
    x = ops.abs(x)
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return ops.where(x < 1.0, near, ops.where(x < 2.0, far, ops.zeros_like(x)))


def _bicubic_antialiased(old, new, dtype):
    # PyTorch's antialiased bicubic (its PIL-style filter): output i is centred at scale * (i + 0.5) in input
    # coordinates; the kernel's support (2 inputs each side) widens with the scale when shrinking; the taps
    # [xmin, xmax) outside the input are dropped and the rest renormalized.
    scale = ops.cast(old, dtype) / ops.cast(new, dtype)
    shrink = scale >= 1.0
    support = ops.where(shrink, 2.0 * scale, ops.cast(2.0, dtype))
    inverse = ops.where(shrink, 1.0 / scale, ops.cast(1.0, dtype))
    center = scale * (ops.cast(ops.arange(new, dtype="int32"), dtype) + 0.5)[:, None]
    xmin = ops.maximum(ops.floor(center - support + 0.5), 0.0)
    taps = ops.cast(ops.ceil(support), dtype) * 2.0 + 1.0  # PyTorch clips a rounding overshoot to this many taps
    xmax = ops.minimum(ops.minimum(ops.floor(center + support + 0.5), float(old)), xmin + taps)
    source = ops.cast(ops.arange(old, dtype="int32"), dtype)[None, :]
    weights = _keys_cubic((source - center + 0.5) * inverse)
    weights = ops.where(ops.logical_and(source >= xmin, source < xmax), weights, ops.zeros_like(weights))
    total = ops.sum(weights, axis=1, keepdims=True)
    return weights / ops.where(ops.equal(total, 0.0), ops.ones_like(total), total)


def interpolation_matrix(old, new, interpolation, dtype="float32"):
    """The (new, old) matrix M that resamples `old` samples to `new`: resized[i] = sum_j M[i, j] * samples[j].

    Args:
        old: int, the number of samples the table has.
        new: int or scalar int32 tensor, the number wanted (known only when the graph runs, for a dynamic model).
        interpolation: "bilinear" or "bicubic" (module docstring).
        dtype: the matrix's float dtype.

    Returns:
        A (new, old) tensor; the identity when new == old.
    """
    check_interpolation(interpolation)
    build = _bilinear if interpolation == "bilinear" else _bicubic_antialiased
    return build(int(old), new, dtype)


def resample_axis(table, axis, new_length, interpolation):
    """Resamples `table` along `axis` (static length) to `new_length` samples (an int or a scalar int32 tensor);
    the axes after it ride along: a (rows, D) axis table along 0, a (rows, columns, D) grid along 0 then 1."""
    # A broadcast product and a sum rather than a matmul: no reduced-precision (TF32) matmul path can touch the
    # values, so the identity matrix of the native grid returns the table bit for bit.
    matrix = interpolation_matrix(table.shape[axis], new_length, interpolation, table.dtype)
    for _ in range(len(table.shape) - axis - 1):
        matrix = matrix[..., None]
    return ops.sum(matrix * ops.expand_dims(table, axis), axis=axis + 1)
