"""The shared base of the absolute position encodings, which add a (tokens, hidden_dim) table to the tokens."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.layers._resampling import resample_axis
from keras_vit.schema import pair


class AbsolutePosition(ConfigFromArguments, keras.layers.Layer):
    """Adds a position table to tokens laid out as `num_prefix_tokens` prefix tokens (the class token) followed by a
    row-major grid of `grid_size` patch tokens. Subclasses define `position_table()`; a model made with
    `dynamic_image_size=True` passes the grid at hand and gets `position_table_for(grid)`, which by default resamples
    the table's grid rows and keeps the prefix tokens' rows.

    Args:
        grid_size: int or (rows, columns) of the patch grid the table is made for.
        num_prefix_tokens: int, tokens before the grid (1 for the class token, 0 without it).
        interpolation: how the table is resampled for another grid, "bilinear" (align corners, the original ViT
            release) or "bicubic" (timm's: PyTorch's antialiased bicubic); see keras_vit.layers._resampling.

    Call arguments:
        inputs: tokens of shape (batch, num_prefix_tokens + rows * columns, hidden_dim).
        grid_size: None (the layer's own grid) or an int32 tensor (rows, columns) of the grid the tokens come from.

    Returns:
        A tensor of the same shape: inputs + table.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "tokens"

    def __init__(self, grid_size=14, num_prefix_tokens=1, interpolation="bilinear", **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self.grid_size = pair(grid_size)

    @property
    def num_tokens(self):
        return self.num_prefix_tokens + self.grid_size[0] * self.grid_size[1]

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[1] is not None and input_shape[1] != self.num_tokens:
            raise ValueError(
                f"{type(self).__name__} is sized for {self.num_prefix_tokens} prefix token(s) and a "
                f"{self.grid_size[0]}x{self.grid_size[1]} patch grid ({self.num_tokens} tokens) but received "
                f"{input_shape[1]} tokens: build the model for this image size (image_size=...) or resample "
                f"the position table."
            )
        self.hidden_dim = input_shape[-1]

    def position_table(self):
        """The (1, num_tokens, hidden_dim) table added to the tokens."""
        raise NotImplementedError

    def position_table_for(self, grid_size):
        """The (1, num_prefix_tokens + rows * columns, hidden_dim) table for a grid of `grid_size` (an int32 tensor
        (rows, columns)): the prefix rows as they are, the grid rows resampled with `interpolation`."""
        table = self.position_table()[0]
        prefix, width = table[: self.num_prefix_tokens], table.shape[-1]
        grid = ops.reshape(table[self.num_prefix_tokens :], (*self.grid_size, width))
        for axis in (0, 1):
            grid = resample_axis(grid, axis, grid_size[axis], self.interpolation)
        return ops.concatenate([ops.cast(prefix, grid.dtype), ops.reshape(grid, (-1, width))], axis=0)[None]

    def call(self, inputs, grid_size=None):
        table = self.position_table() if grid_size is None else self.position_table_for(grid_size)
        return inputs + ops.cast(table, inputs.dtype)
