"""2-D rotary position embedding: the angles by which attention rotates each patch's queries and keys."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register
from keras_vit.schema import PAIR, optional, pair


def rotate(x, angles):
    """Rotates every channel pair (2i, 2i + 1) of `x` (batch, num_tokens, num_heads, key_dim) by angles[token, i]
    ((num_tokens, key_dim / 2)): (a, b) -> (a cos - b sin, b cos + a sin)."""
    cos, sin = (ops.cast(f(angles), x.dtype)[None, :, None] for f in (ops.cos, ops.sin))
    pairs = ops.reshape(x, (*ops.shape(x)[:3], x.shape[-1] // 2, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    return ops.reshape(ops.stack([even * cos - odd * sin, odd * cos + even * sin], axis=-1), ops.shape(x))


@register("position", "rotary_2d")
class RotaryPosition2D(ConfigFromArguments, keras.layers.Layer):
    """The angles of 2-D rotary position embedding (RoPE) for a patch grid: a quarter of each head's channel pairs
    turns with the patch's row, a quarter with its column, at frequencies temperature ** -(k / (key_dim / 4)), so
    that query-key products depend on the patches' relative offsets. Prefix tokens get angle 0 (no rotation).
    `rotary_msa` applies them; a ViT passes them to every block (its `rotary_position` slot).

    Args:
        grid_size: int or (rows, columns) of the patch grid.
        num_prefix_tokens: int, tokens before the grid (the class token).
        key_dim: int, the width of an attention head; divisible by 4.
        reference_grid_size: None (positions 0, 1, ... of the grid) or int or (rows, columns): positions scaled by
            reference / grid, so that every grid spans the reference grid (EVA-02 keeps its 16x16 pre-training
            grid at 448x448).
        temperature: float, the base of the frequencies.

    Call arguments:
        inputs: tokens (batch, num_tokens, hidden_dim); only their place in the graph is used.
        grid_size: optional int tensor (rows, columns) of the grid at hand (models with dynamic_image_size).

    Returns:
        (num_tokens, key_dim / 2) float32 angles; per token [row * frequencies, column * frequencies].

    Reference:
        Su et al., "RoFormer", 2021; Heo et al., "Rotary Position Embedding for Vision Transformer", 2024; Fang et
        al., "EVA-02", 2023.
    """

    interface = "rotary"
    FIELDS = {"reference_grid_size": optional(PAIR)}
    output_dtype = "float32"  # angles keep float32 precision under mixed precision (positions reach the grid size)

    def __init__(self, grid_size=14, num_prefix_tokens=1, key_dim=64, reference_grid_size=None, temperature=10000.0,
                 **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        if key_dim % 4:
            raise ValueError(f"rotary_2d needs a key_dim (hidden_dim / num_heads) divisible by 4; received {key_dim}.")

    def call(self, inputs, grid_size=None):
        rows, cols = pair(self.grid_size) if grid_size is None else (grid_size[0], grid_size[1])
        quarter = self.key_dim // 4
        frequencies = 1.0 / ops.power(self.temperature, ops.arange(quarter, dtype="float32") / quarter)

        def axis(length, reference):
            positions = ops.cast(ops.arange(length), "float32")
            if reference is not None:  # as EVA-02: position / grid * reference
                positions = positions / ops.cast(length, "float32") * reference
            return positions[:, None] * frequencies[None]

        reference = (None, None) if self.reference_grid_size is None else pair(self.reference_grid_size)
        y, x = axis(rows, reference[0]), axis(cols, reference[1])
        grid = ops.concatenate([ops.broadcast_to(y[:, None], (rows, cols, quarter)),
                                ops.broadcast_to(x[None], (rows, cols, quarter))], axis=-1)
        prefix = ops.zeros((self.num_prefix_tokens, 2 * quarter), "float32")
        return ops.concatenate([prefix, ops.reshape(grid, (-1, 2 * quarter))], axis=0)
