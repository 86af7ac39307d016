"""The shared base of the absolute position encodings, which add a (tokens, hidden_dim) table to the tokens."""

import keras
from keras import ops

from keras_vit import checks
from keras_vit.layers._arguments import ConfigFromArguments


class AbsolutePosition(ConfigFromArguments, keras.layers.Layer):
    """Adds a position table to tokens laid out as `num_prefix_tokens` prefix tokens (the class token) followed by a
    row-major grid of `grid_size` patch tokens. Subclasses define `position_table()`.

    Args:
        grid_size: int or (rows, columns) of the patch grid.
        num_prefix_tokens: int, tokens before the grid (1 for the class token, 0 without it).

    Call arguments:
        inputs: tokens of shape (batch, num_prefix_tokens + rows * columns, hidden_dim).

    Returns:
        A tensor of the same shape: inputs + table.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "tokens"

    def __init__(self, grid_size=14, num_prefix_tokens=1, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = checks.pair("grid_size", grid_size)
        self.num_prefix_tokens = num_prefix_tokens

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

    def call(self, inputs):
        return inputs + ops.cast(self.position_table(), inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape
