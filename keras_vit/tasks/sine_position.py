"""DETR's 2-D sine position encoding of a feature map."""

import math

from keras import ops


def sine_position_2d(rows, columns, dim, temperature=10000.0, dtype="float32"):
    """The fixed position encoding DETR adds to the encoder memory's keys: half the channels encode the row, half
    the column, each as sines and cosines of the normalized coordinate (scaled to [0, 2 pi]) at geometrically
    spaced frequencies.

    Args:
        rows, columns: the map's size.
        dim: channels; must be even (each half holds sin/cos pairs).
        temperature: the frequency base.

    Returns:
        A (rows * columns, dim) tensor in row-major order.

    Reference:
        Carion et al., "End-to-End Object Detection with Transformers" (DETR), 2020, appendix A.4.
    """
    if dim % 4:
        raise ValueError(f"The 2-D sine position encoding needs a width divisible by 4; received {dim}.")
    half = dim // 2
    scale = 2 * math.pi
    eps = 1e-6
    # Coordinates 1..n normalized by n, as DETR's cumulative sum over an all-valid mask gives.
    y = ops.arange(1, rows + 1, dtype="float32") / (rows + eps) * scale
    x = ops.arange(1, columns + 1, dtype="float32") / (columns + eps) * scale
    frequencies = temperature ** (2 * (ops.arange(half, dtype="float32") // 2) / half)

    def encode(coordinates):  # (n,) -> (n, half): sin on even channels, cos on odd ones
        angles = coordinates[:, None] / frequencies[None, :]
        even = ops.sin(angles[:, 0::2])
        odd = ops.cos(angles[:, 1::2])
        return ops.reshape(ops.stack([even, odd], axis=-1), (-1, half))

    pos_y = ops.repeat(encode(y), columns, axis=0)  # row of each position, row-major
    pos_x = ops.tile(encode(x), (rows, 1))
    return ops.cast(ops.concatenate([pos_y, pos_x], axis=-1), dtype)
