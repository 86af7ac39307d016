"""Learned 2-D position embeddings: a row table and a column table, summed."""

import keras
from keras import ops

from keras_vit.layers._resampling import resample_axis
from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.registry import register


@register("position", "learned_2d")
class LearnedPosition2D(AbsolutePosition):
    """Learned row and column tables: the patch at (r, c) gets row_embeddings[r] + column_embeddings[c]; prefix
    tokens get their own learned vectors. "2-D learned" of the ViT paper's ablation, with the two axis tables
    summed (each of width hidden_dim) rather than concatenated. For another grid (`dynamic_image_size`) each axis
    table is resampled along its axis.

    Args:
        grid_size: int or (rows, columns) of the patch grid.
        num_prefix_tokens: int, number of tokens before the grid (1 for the class token).
        interpolation: "bilinear" or "bicubic", how the axis tables are resampled for another grid.

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

    @property
    def axis_tables(self):
        """(row table, column table): the variables that follow the grid's rows and columns (`model.layout`)."""
        return (self.row_embeddings, self.column_embeddings)

    def position_table(self):
        return self._table(self.row_embeddings, self.column_embeddings)

    def position_table_for(self, grid_size):
        # Resampling the summed grid gives the same table (the interpolation weights of a row sum to one), at
        # rows * columns times the cost.
        return self._table(resample_axis(self.row_embeddings, 0, grid_size[0], self.interpolation),
                           resample_axis(self.column_embeddings, 0, grid_size[1], self.interpolation))

    def _table(self, row_embeddings, column_embeddings):
        grid = row_embeddings[:, None, :] + column_embeddings[None, :, :]
        table = ops.reshape(grid, (-1, self.hidden_dim))
        if self.prefix_embeddings is not None:
            table = ops.concatenate([self.prefix_embeddings, table], axis=0)
        return table[None]
