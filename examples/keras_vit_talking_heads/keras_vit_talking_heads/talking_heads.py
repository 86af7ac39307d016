"""Talking-heads attention, registered as the keras_vit attention component "talking_heads"."""

import keras
from keras import ops

import keras_vit


# The registered name is permanent: `.keras` files and specs written with this plugin contain it. Registering also
# makes the class Keras-serializable as "keras_vit_talking_heads>TalkingHeadsAttention" (this package's name).
@keras_vit.register("attention", "talking_heads")
class TalkingHeadsAttention(keras.layers.Layer):
    """Multi-head self-attention whose heads exchange information through two learned (num_heads, num_heads) mixing
    matrices: one mixes the attention logits across heads before the softmax, the other mixes the attention weights
    after it.

    logits[b, h, i, j] = q[b, i, h] . k[b, j, h] / sqrt(d_h) (+ q[b, i, h] . r[i, j] / sqrt(d_h) with relative keys)
    weights = softmax_j(einsum("bhij,hg->bgij", logits, pre_softmax_mixing))
    out[b, i, g] = sum_j einsum("bhij,hg->bgij", weights, post_softmax_mixing)[b, g, i, j] v[b, j, g]

    Both matrices start as the identity, so a fresh layer computes exactly plain multi-head attention (keras_vit's
    "msa") and training decides how much the heads talk. Each matrix adds num_heads**2 parameters; either can be
    left out (the paper's ablations mix only the logits or only the weights).

    Args:
        hidden_dim: int, the token width D.
        num_heads: int, the number of heads; must divide hidden_dim (d_h = D / num_heads).
        attention_dropout_rate: float, dropout on the mixed attention weights while training.
        use_qkv_bias: bool, whether the fused query/key/value projection has a bias.
        use_pre_softmax_mixing: bool, whether the logits are mixed across heads.
        use_post_softmax_mixing: bool, whether the attention weights are mixed across heads.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).
        relative_keys: optional (num_tokens, num_tokens, hidden_dim / num_heads) keys of keras_vit's relative
            position encoding; their logits are mixed with the others.
        training: bool, enables attention dropout.

    Returns:
        Tokens of shape (batch, num_tokens, hidden_dim).

    Reference:
        Shazeer et al., "Talking-Heads Attention", 2020 (arXiv:2003.02436).
    """

    # The tensors it takes and returns, (batch, num_tokens, hidden_dim): the spec loader accepts this layer only in
    # slots that pass tokens (the attention slot does).
    interface = "tokens"

    def __init__(
        self,
        hidden_dim=768,
        num_heads=12,
        attention_dropout_rate=0.0,
        use_qkv_bias=True,
        use_pre_softmax_mixing=True,
        use_post_softmax_mixing=True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for arg, value in (("hidden_dim", hidden_dim), ("num_heads", num_heads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{arg}` must be a positive integer; received {value!r}.")
        if hidden_dim % num_heads:
            raise ValueError(f"`hidden_dim` ({hidden_dim}) must be divisible by `num_heads` ({num_heads}).")
        if not 0.0 <= attention_dropout_rate < 1.0:
            raise ValueError(f"`attention_dropout_rate` must be in [0, 1); received {attention_dropout_rate!r}.")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.attention_dropout_rate = float(attention_dropout_rate)
        self.use_qkv_bias = bool(use_qkv_bias)
        self.use_pre_softmax_mixing = bool(use_pre_softmax_mixing)
        self.use_post_softmax_mixing = bool(use_post_softmax_mixing)
        self.head_dim = hidden_dim // num_heads

    def build(self, input_shape):
        input_shape = tuple(input_shape)  # shapes arrive as lists when a saved model loads
        if input_shape[-1] != self.hidden_dim:
            raise ValueError(
                f"TalkingHeadsAttention was configured for hidden_dim={self.hidden_dim} but received tokens of "
                f"width {input_shape[-1]}."
            )
        # Sublayers named as in keras_vit's MSA: the variable paths of the two differ only by the mixing matrices.
        self.qkv = keras.layers.Dense(
            3 * self.hidden_dim, use_bias=self.use_qkv_bias, dtype=self.dtype_policy, name="qkv"
        )
        self.qkv.build(input_shape)
        self.projection = keras.layers.Dense(self.hidden_dim, dtype=self.dtype_policy, name="projection")
        self.projection.build(input_shape)
        heads = (self.num_heads, self.num_heads)
        self.pre_softmax_mixing = self.post_softmax_mixing = None
        if self.use_pre_softmax_mixing:
            self.pre_softmax_mixing = self.add_weight(shape=heads, initializer="identity", name="pre_softmax_mixing")
        if self.use_post_softmax_mixing:
            self.post_softmax_mixing = self.add_weight(shape=heads, initializer="identity", name="post_softmax_mixing")
        self.attention_dropout = keras.layers.Dropout(
            self.attention_dropout_rate, dtype=self.dtype_policy, name="attention_dropout"
        )

    def call(self, inputs, relative_keys=None, training=None):
        # An explicit batch dimension and a static token count keep the reshapes exact and XLA-compilable.
        batch, num_tokens = ops.shape(inputs)[0], inputs.shape[1]
        qkv = ops.reshape(self.qkv(inputs), (batch, num_tokens, 3, self.num_heads, self.head_dim))
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]  # each (batch, num_tokens, heads, head_dim)
        scale = ops.cast(1.0 / float(self.head_dim) ** 0.5, query.dtype)
        logits = ops.einsum("bihd,bjhd->bhij", query, key) * scale
        if relative_keys is not None:
            logits = logits + ops.einsum("bihd,ijd->bhij", query, relative_keys) * scale
        # The fused dot_product_attention kernel cannot be used: the heads must be mixed between its two matmuls.
        if self.pre_softmax_mixing is not None:
            logits = ops.einsum("bhij,hg->bgij", logits, self.pre_softmax_mixing)
        weights = ops.softmax(logits, axis=-1)
        if self.post_softmax_mixing is not None:
            weights = ops.einsum("bhij,hg->bgij", weights, self.post_softmax_mixing)
        weights = self.attention_dropout(weights, training=training)
        attended = ops.einsum("bhij,bjhd->bihd", weights, value)
        return self.projection(ops.reshape(attended, (batch, num_tokens, self.hidden_dim)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "attention_dropout_rate": self.attention_dropout_rate,
                "use_qkv_bias": self.use_qkv_bias,
                "use_pre_softmax_mixing": self.use_pre_softmax_mixing,
                "use_post_softmax_mixing": self.use_post_softmax_mixing,
            }
        )
        return config
