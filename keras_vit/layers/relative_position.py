"""Learned 1-D relative position embeddings, used as extra attention keys."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("position", "relative")
class RelativePosition(ConfigFromArguments, keras.layers.Layer):
    """A learned embedding for every offset i - j between a query token i and a key token j of a 1-D token sequence.

    The ViT paper's "relative" variant runs an extra attention whose keys are these embeddings and adds its logits
    to the content logits before the softmax; `MSA` does that with the tensor this layer returns. Offsets range over
    -(num_tokens - 1) .. num_tokens - 1, so the table has 2 * num_tokens - 1 rows.

    A sequence of another length (a model with `dynamic_image_size=True`) re-indexes the same table: offsets
    beyond the trained range take the farthest trained offset's embedding (clipping, as Shaw et al. do), so a
    shorter sequence reads exactly the trained embeddings of its offsets.

    Args:
        num_tokens: int, the sequence length (class token included).
        key_dim: int, the per-head width of the attention keys.

    Call arguments:
        inputs: tokens of shape (batch, length, hidden_dim); only their length is read (num_tokens, or any length
            in a dynamic model).

    Returns:
        Relative keys of shape (length, length, key_dim): entry [i, j] is the embedding of offset i - j (clipped).

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, appendix D.4;
        Shaw et al., "Self-Attention with Relative Position Representations", 2018.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "relative"

    def __init__(self, num_tokens=197, key_dim=64, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[1] is not None and input_shape[1] != self.num_tokens:
            raise ValueError(
                f"RelativePosition is sized for {self.num_tokens} tokens but received {input_shape[1]}: build the "
                f"model for this image size (image_size=...)."
            )
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.embeddings = self.add_weight(shape=(2 * self.num_tokens - 1, self.key_dim), initializer=initializer,
                                          name="embeddings")

    def call(self, inputs):
        # The length is static (an int) in a fixed-size model, a tensor in a dynamic one.
        positions = ops.arange(ops.shape(inputs)[1], dtype="int32")
        offsets = ops.clip(positions[:, None] - positions[None, :], 1 - self.num_tokens, self.num_tokens - 1)
        return ops.cast(ops.take(self.embeddings, offsets + self.num_tokens - 1, axis=0), inputs.dtype)
