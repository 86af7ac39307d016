"""Learned 2-D position embeddings: a row table and a column table, summed."""

import keras
from keras import ops

from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.registry import register


@register("position", "learned_2d")
class LearnedPosition2D(AbsolutePosition):
    """Learned row and column tables: the patch at (r, c) gets row_embeddings[r] + column_embeddings[c]; prefix
    tokens get their own learned vectors. "2-D learned" of the ViT paper's ablation, with the two axis tables
    summed (each of width hidden_dim) rather than concatenated.

    Args:
        grid_size: int or (rows, columns) of the patch grid.
        num_prefix_tokens: int, number of tokens before the grid (1 for the class token).

    Call arguments:
        inputs: tokens of shape (batch, num_prefix_tokens + rows * columns, hidden_dim).

    Returns:
        inputs + table, same shape.

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, appendix D.4.
    """

    def build(self, input_shape):
        super().build(input_shape)
        init = keras.initializers.RandomNormal(stddev=0.02)
        rows, cols = self.grid_size
        self.row_embeddings = self.add_weight(shape=(rows, self.hidden_dim), initializer=init, name="row_embeddings")
        self.column_embeddings = self.add_weight(
            shape=(cols, self.hidden_dim), initializer=init, name="column_embeddings"
        )
        self.prefix_embeddings = None
        if self.num_prefix_tokens:
            self.prefix_embeddings = self.add_weight(
                shape=(self.num_prefix_tokens, self.hidden_dim), initializer=init, name="prefix_embeddings"
            )

    def position_table(self):
        rows, cols = self.grid_size
        grid = self.row_embeddings[:, None, :] + self.column_embeddings[None, :, :]
        table = ops.reshape(grid, (rows * cols, self.hidden_dim))
        if self.prefix_embeddings is not None:
            table = ops.concatenate([self.prefix_embeddings, table], axis=0)
        return table[None]
