"""DETR's 2-D sine position encoding of a feature map, and the same encoding of box coordinates."""

import math

from keras import ops


def _frequencies(dim, temperature):
    return temperature ** (2 * (ops.arange(dim, dtype="float32") // 2) / dim)


def sine_encode(coordinates, dim, temperature=10000.0):
    """Sine/cosine features of normalized coordinates, as DETR encodes one axis of its feature map.

    Args:
        coordinates: (...,) float coordinates in [0, 1].
        dim: channels per coordinate, even: sines on even channels, cosines on odd ones.
        temperature: the frequency base.

    Returns:
        (..., dim) float32.
    """
    angles = ops.cast(coordinates, "float32")[..., None] * (2 * math.pi) / _frequencies(dim, temperature)
    features = ops.stack([ops.sin(angles[..., 0::2]), ops.cos(angles[..., 1::2])], axis=-1)
    return ops.reshape(features, (*ops.shape(angles)[:-1], dim))


def sine_position_2d(rows, columns, dim, temperature=10000.0, dtype="float32"):
    """The fixed position encoding DETR adds to the encoder memory's keys: half the channels encode the row, half
    the column, each as sines and cosines of the normalized coordinate (scaled to [0, 2 pi]) at geometrically
    spaced frequencies.

    Args:
        rows, columns: the map's size.
        dim: channels; must be divisible by 4 (each half holds sin/cos pairs).
        temperature: the frequency base.

    Returns:
        A (rows * columns, dim) tensor in row-major order.

    Reference:
        Carion et al., "End-to-End Object Detection with Transformers" (DETR), 2020, appendix A.4.
    """
    if dim % 4:
        raise ValueError(f"The 2-D sine position encoding needs a width divisible by 4; received {dim}.")
    half = dim // 2
    eps = 1e-6
    # Coordinates 1..n normalized by n, as DETR's cumulative sum over an all-valid mask gives.
    y = ops.arange(1, rows + 1, dtype="float32") / (rows + eps)
    x = ops.arange(1, columns + 1, dtype="float32") / (columns + eps)
    pos_y = ops.repeat(sine_encode(y, half, temperature), columns, axis=0)  # row of each position, row-major
    pos_x = ops.tile(sine_encode(x, half, temperature), (rows, 1))
    return ops.cast(ops.concatenate([pos_y, pos_x], axis=-1), dtype)
