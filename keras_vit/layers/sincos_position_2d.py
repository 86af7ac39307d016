"""Fixed 2-D sine-cosine position encodings (no parameters)."""

import numpy as np
from keras import ops

from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.registry import register


def _frequencies(hidden_dim, temperature):
    if hidden_dim % 4:
        raise ValueError(f"sincos_2d position encoding needs hidden_dim divisible by 4; received {hidden_dim}.")
    quarter = hidden_dim // 4
    return 1.0 / temperature ** (np.arange(quarter, dtype=np.float64) / quarter)


def _axis_table(length, native, omega):
    """[sin(p * omega), cos(p * omega)] for p = 0 .. length - 1 (an int, or a tensor in a dynamic model): float64
    NumPy values for the `native` positions, float32 graph values beyond them."""
    positions = ops.arange(length, dtype="int32")
    exact = np.concatenate([np.sin(np.arange(native)[:, None] * omega), np.cos(np.arange(native)[:, None] * omega)],
                           axis=1).astype("float32")
    angles = ops.cast(positions, "float32")[:, None] * ops.convert_to_tensor(omega.astype("float32"))[None]
    computed = ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=1)
    known = ops.take(ops.convert_to_tensor(exact), ops.minimum(positions, native - 1), axis=0)
    return ops.where((positions < native)[:, None], known, computed)


@register("position", "sincos_2d")
class SinCosPosition2D(AbsolutePosition):
    """Adds a fixed 2-D sine-cosine table; prefix tokens (the class token) get zeros. The patch at (y, x) gets a
    quarter of the channels each for sin(y), cos(y), sin(x), cos(x), with frequencies
    temperature ** -(k / (hidden_dim / 4)) for k = 0 .. hidden_dim / 4 - 1. For another grid (`dynamic_image_size`)
    the table is computed for that grid, not resampled; the native grid's values are the float64 formula's.

    Args:
        grid_size: int or (rows, columns) of the patch grid.
        num_prefix_tokens: int, number of tokens before the grid.
        temperature: float, the base of the frequencies.

    Call arguments:
        inputs: tokens of shape (batch, num_prefix_tokens + rows * columns, hidden_dim); hidden_dim % 4 == 0.

    Returns:
        inputs + table, same shape.

    Reference:
        Chen et al., "An Empirical Study of Training Self-Supervised Vision Transformers" (MoCo v3), 2021;
        Beyer et al., "Better plain ViT baselines for ImageNet-1k", 2022.
    """

    def __init__(self, grid_size=14, num_prefix_tokens=1, temperature=10000.0, **kwargs):
        super().__init__(grid_size=grid_size, num_prefix_tokens=num_prefix_tokens, **kwargs)
        self.temperature = temperature

    def position_table(self):
        return self.position_table_for(self.grid_size)

    def position_table_for(self, grid_size):
        omega = _frequencies(self.hidden_dim, self.temperature)
        rows = _axis_table(grid_size[0], self.grid_size[0], omega)  # (rows, hidden_dim / 2): sin(y), cos(y)
        cols = _axis_table(grid_size[1], self.grid_size[1], omega)  # (columns, hidden_dim / 2): sin(x), cos(x)
        half = self.hidden_dim // 2
        grid = ops.concatenate([
            ops.broadcast_to(rows[:, None, :], (grid_size[0], grid_size[1], half)),
            ops.broadcast_to(cols[None, :, :], (grid_size[0], grid_size[1], half)),
        ], axis=-1)
        prefix = ops.zeros((self.num_prefix_tokens, self.hidden_dim), "float32")
        return ops.concatenate([prefix, ops.reshape(grid, (-1, self.hidden_dim))], axis=0)[None]
