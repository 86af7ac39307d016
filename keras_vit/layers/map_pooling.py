"""Multi-head attention pooling: a learned probe attends over the tokens."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers._shapes import dim
from keras_vit.layers.mlp import MLP
from keras_vit.registry import register
from keras_vit.schema import divisible


@register("pooling", "map")
class MAPPooling(ConfigFromArguments, keras.layers.Layer):
    """Pools a token sequence with one learned query (the probe) attending over all tokens, followed by a residual
    MLP on the pooled vector (the "map" head of big_vision's ViT and SigLIP).

    Args:
        num_heads: int, attention heads; must divide the token width.
        intermediate_dim: int, the MLP width (4 * width in big_vision).
        layer_norm_epsilon: float, epsilon of the LayerNorm before the MLP.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).

    Returns:
        A tensor of shape (batch, hidden_dim).

    Reference:
        Lee et al., "Set Transformer", 2019 (pooling by multi-head attention); Zhai et al., "Scaling Vision
        Transformers", 2022.
    """

    def __init__(self, num_heads=12, intermediate_dim=3072, layer_norm_epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        width = input_shape[-1]
        divisible("hidden_dim", width, "num_heads", self.num_heads)
        policy = self.dtype_policy
        self.probe = self.add_weight(
            shape=(1, 1, width), initializer=keras.initializers.GlorotUniform(), name="probe"
        )
        probe_shape = (None, 1, width)
        self.query = built(keras.layers.Dense(width, dtype=policy, name="query"), probe_shape)
        self.key_value = built(keras.layers.Dense(2 * width, dtype=policy, name="key_value"), input_shape)
        self.projection = built(keras.layers.Dense(width, dtype=policy, name="projection"), probe_shape)
        norm = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm")
        self.norm = built(norm, probe_shape)
        self.mlp = built(MLP(self.intermediate_dim, dtype=policy, name="mlp"), probe_shape)

    def _query_key_value(self, inputs):
        batch, num_tokens, width = ops.shape(inputs)[0], dim(inputs, 1), inputs.shape[-1]
        head_dim = width // self.num_heads
        probe = ops.broadcast_to(ops.cast(self.probe, inputs.dtype), (batch, 1, width))
        query = ops.reshape(self.query(probe), (batch, 1, self.num_heads, head_dim))
        key_value = ops.reshape(self.key_value(inputs), (batch, num_tokens, 2, self.num_heads, head_dim))
        return query, key_value[:, :, 0], key_value[:, :, 1]

    def call(self, inputs):
        batch, width = ops.shape(inputs)[0], inputs.shape[-1]
        pooled = ops.dot_product_attention(*self._query_key_value(inputs))
        x = self.projection(ops.reshape(pooled, (batch, 1, width)))
        x = x + self.mlp(self.norm(x))
        return x[:, 0]

    def attention_probabilities(self, inputs):
        """The probe's attention weights over the tokens (an inspection path; `call` keeps its fused kernel).

        Args:
            inputs: tokens of shape (batch, num_tokens, hidden_dim), as `call` receives them.

        Returns:
            softmax(q k^T / sqrt(d_h)) of shape (batch, num_heads, 1, num_tokens); rows sum to 1.
        """
        query, key, _ = self._query_key_value(inputs)
        scale = ops.cast(1.0 / float(query.shape[-1]) ** 0.5, query.dtype)
        return ops.softmax(ops.einsum("bihd,bjhd->bhij", query, key) * scale, axis=-1)
