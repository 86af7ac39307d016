"""Multi-head self-attention."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers._shapes import check_attention_size, dim
from keras_vit.registry import register
from keras_vit.schema import divisible


@register("attention", "msa")
class MSA(ConfigFromArguments, keras.layers.Layer):
    """Multi-head self-attention (MSA of the ViT paper's eq. 2) with a fused query-key-value projection.

    softmax(q k^T / sqrt(d_h) + bias) v per head, heads concatenated and projected back to hidden_dim. With
    `relative_keys`, bias[h, i, j] = q[h, i] . r[i, j] / sqrt(d_h) (relative position attention).

    Args:
        hidden_dim: int, the token width D.
        num_heads: int, the number of heads; must divide hidden_dim (d_h = D / num_heads).
        attention_dropout_rate: float, dropout on the attention weights while training.
        use_qkv_bias: bool, whether the query/key/value projection has a bias.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).
        relative_keys: optional tensor of shape (num_tokens, num_tokens, hidden_dim / num_heads) from
            `RelativePosition`.
        training: bool, enables attention dropout.

    Returns:
        Tokens of shape (batch, num_tokens, hidden_dim).

    Reference:
        Vaswani et al., "Attention Is All You Need", 2017; Dosovitskiy et al., 2021, appendix A.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "tokens"
    fused_qkv_bias = True  # the qkv projection holds the bias (False: a subclass keeps its own, RotaryMSA's)

    def __init__(self, hidden_dim=768, num_heads=12, attention_dropout_rate=0.0, use_qkv_bias=True, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self.head_dim = hidden_dim // num_heads

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        if input_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"MSA was configured for hidden_dim={self.hidden_dim} but received tokens of width {input_shape[-1]}."
            )
        divisible("hidden_dim", self.hidden_dim, "num_heads", self.num_heads)
        self.qkv = built(keras.layers.Dense(
            3 * self.hidden_dim, use_bias=self.use_qkv_bias and self.fused_qkv_bias, kernel_initializer="glorot_uniform",
            dtype=self.dtype_policy, name="qkv",
        ), input_shape)
        self.projection = built(keras.layers.Dense(
            self.hidden_dim, kernel_initializer="glorot_uniform", dtype=self.dtype_policy, name="projection"
        ), input_shape)
        self.attention_dropout = keras.layers.Dropout(
            self.attention_dropout_rate, dtype=self.dtype_policy, name="attention_dropout"
        )

    def _query_key_value(self, inputs, relative_keys):
        """(query, key, value, the relative keys left for the logits); a subclass may use them up itself (RotaryMSA
        rotates queries and keys by them and leaves None)."""
        check_attention_size(inputs.shape, self.num_heads, self.compute_dtype)
        batch, num_tokens = ops.shape(inputs)[0], dim(inputs, 1)
        qkv = ops.reshape(self.qkv(inputs), (batch, num_tokens, 3, self.num_heads, self.head_dim))
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2], relative_keys

    def _logits(self, query, key, relative_keys):
        scale = ops.cast(1.0 / float(self.head_dim) ** 0.5, query.dtype)
        logits = ops.einsum("bihd,bjhd->bhij", query, key) * scale
        if relative_keys is not None:
            logits = logits + ops.einsum("bihd,ijd->bhij", query, relative_keys) * scale
        return logits

    def call(self, inputs, relative_keys=None, training=None):
        batch, num_tokens = ops.shape(inputs)[0], dim(inputs, 1)
        query, key, value, relative_keys = self._query_key_value(inputs, relative_keys)
        if self.attention_dropout_rate > 0.0:
            weights = self.attention_dropout(ops.softmax(self._logits(query, key, relative_keys), axis=-1),
                                             training=training)
            attended = ops.einsum("bhij,bjhd->bihd", weights, value)
        else:
            scale = 1.0 / float(self.head_dim) ** 0.5
            bias = None
            if relative_keys is not None:
                bias = ops.einsum("bihd,ijd->bhij", query, relative_keys) * ops.cast(scale, query.dtype)
            attended = ops.dot_product_attention(query, key, value, bias=bias, scale=scale)
        return self.projection(ops.reshape(attended, (batch, num_tokens, self.hidden_dim)))

    def attention_probabilities(self, inputs, relative_keys=None):
        """The attention weights that `call` averages the values with (before attention dropout).

        A separate path for inspection (`keras_vit.attention_maps`): `call` keeps its fused attention kernel,
        which never materializes these weights.

        Args:
            inputs: tokens of shape (batch, num_tokens, hidden_dim), as `call` receives them.
            relative_keys: optional (num_tokens, num_tokens, hidden_dim / num_heads), as in `call`.

        Returns:
            softmax(q k^T / sqrt(d_h) + bias) of shape (batch, num_heads, num_tokens, num_tokens); rows sum to 1.
        """
        query, key, _, relative_keys = self._query_key_value(inputs, relative_keys)
        return ops.softmax(self._logits(query, key, relative_keys), axis=-1)
