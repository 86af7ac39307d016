"""Learned 1-D position embeddings: one vector per token position."""

import keras

from keras_vit.layers.absolute_position import AbsolutePosition
from keras_vit.registry import register


@register("position", "learned_1d")
class LearnedPosition1D(AbsolutePosition):
    """A learned table E_pos of shape (1, num_prefix_tokens + rows * columns, hidden_dim) added to the tokens, as in
    the ViT paper's eq. 1 ("1-D learned" in its ablation). The variable is named `embeddings`.

    Args:
        grid_size: int or (rows, columns) of the patch grid.
        num_prefix_tokens: int, number of tokens before the grid (1 for the class token).

    Call arguments:
        inputs: tokens of shape (batch, num_prefix_tokens + rows * columns, hidden_dim).

    Returns:
        inputs + E_pos, same shape.

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, eq. 1 and appendix D.4.
    """

    def build(self, input_shape):
        super().build(input_shape)
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.embeddings = self.add_weight(shape=(1, self.num_tokens, self.hidden_dim), initializer=initializer,
                                          name="embeddings")

    def position_table(self):
        return self.embeddings
