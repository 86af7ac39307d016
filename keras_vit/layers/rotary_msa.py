"""Multi-head self-attention with rotary position embedding (EVA-02's attention)."""

from keras import ops

from keras_vit.layers.msa import MSA
from keras_vit.layers.rotary_position_2d import rotate
from keras_vit.registry import register


@register("attention", "rotary_msa")
class RotaryMSA(MSA):
    """MSA whose queries and keys are rotated by the angles of a rotary position embedding (`rotary_2d`) before
    the logits; with use_qkv_bias, queries and values have a bias and keys none (a key bias adds q . b to a whole
    row of logits, which the softmax ignores: EVA-02's q_bias and v_bias).

    Args:
        hidden_dim, num_heads, attention_dropout_rate, use_qkv_bias: as MSA.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).
        relative_keys: the (num_tokens, hidden_dim / num_heads / 2) angles of `RotaryPosition2D` (the block passes
            its position input under this name), or None for no rotation.
        training: bool, enables attention dropout.

    Returns:
        Tokens of shape (batch, num_tokens, hidden_dim).

    Reference:
        Su et al., "RoFormer", 2021; Fang et al., "EVA-02: A Visual Representation for Neon Genesis", 2023.
    """

    fused_qkv_bias = False
    rotary = True  # takes rotary angles where MSA takes relative keys (ViT checks that the two come together)

    def build(self, input_shape):
        super().build(input_shape)
        self.query_bias = self.value_bias = None
        if self.use_qkv_bias:
            self.query_bias = self.add_weight(shape=(self.hidden_dim,), initializer="zeros", name="query_bias")
            self.value_bias = self.add_weight(shape=(self.hidden_dim,), initializer="zeros", name="value_bias")

    def _query_key_value(self, inputs, relative_keys):
        query, key, value, _ = super()._query_key_value(inputs, None)
        if self.use_qkv_bias:
            heads = (self.num_heads, self.head_dim)
            query = query + ops.reshape(ops.cast(self.query_bias, query.dtype), heads)
            value = value + ops.reshape(ops.cast(self.value_bias, value.dtype), heads)
        if relative_keys is not None:
            query, key = rotate(query, relative_keys), rotate(key, relative_keys)
        return query, key, value, None
