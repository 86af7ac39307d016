"""Fixed 2-D sine-cosine position encodings (no parameters)."""

import numpy as np

from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.registry import register


def sincos_2d_table(grid_size, hidden_dim, temperature=10000.0):
    """The (rows * columns, hidden_dim) sine-cosine table: a quarter of the channels each for sin(y), cos(y),
    sin(x), cos(x), with frequencies temperature ** -(k / (hidden_dim / 4)) for k = 0 .. hidden_dim / 4 - 1."""
    rows, cols = grid_size
    if hidden_dim % 4:
        raise ValueError(f"sincos_2d position encoding needs hidden_dim divisible by 4; received {hidden_dim}.")
    quarter = hidden_dim // 4
    omega = 1.0 / temperature ** (np.arange(quarter, dtype=np.float64) / quarter)
    y, x = np.meshgrid(np.arange(rows, dtype=np.float64), np.arange(cols, dtype=np.float64), indexing="ij")
    y = y.reshape(-1, 1) * omega[None]
    x = x.reshape(-1, 1) * omega[None]
    return np.concatenate([np.sin(y), np.cos(y), np.sin(x), np.cos(x)], axis=1).astype("float32")


@register("position", "sincos_2d")
class SinCosPosition2D(AbsolutePosition):
    """Adds a fixed 2-D sine-cosine table; prefix tokens (the class token) get zeros.

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

    def build(self, input_shape):
        super().build(input_shape)
        table = sincos_2d_table(self.grid_size, self.hidden_dim, self.temperature)
        prefix = np.zeros((self.num_prefix_tokens, self.hidden_dim), "float32")
        self._table = np.concatenate([prefix, table], axis=0)[None]

    def position_table(self):
        return self._table
