"""The pre-norm transformer encoder block."""

import keras

from keras_vit.layers import _checks, _rematerialize
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.mlp import MLP
from keras_vit.layers.msa import MSA
from keras_vit.registry import register


@register("block", "transformer_block")
class TransformerBlock(keras.layers.Layer):
    """One encoder block: z' = MSA(LN(z)) + z, then z'' = MLP(LN(z')) + z' (the ViT paper's eq. 2 and 3), with
    dropout after the attention projection and in the MLP, and stochastic depth on both residual branches.

    Args:
        hidden_dim: int, the token width D.
        num_heads: int, attention heads; must divide hidden_dim.
        intermediate_dim: int, the MLP's hidden width.
        dropout_rate: float, dropout after the attention projection and inside the MLP.
        attention_dropout_rate: float, dropout on the attention weights.
        drop_path_rate: float, stochastic-depth rate of this block.
        layer_norm_epsilon: float, epsilon of both LayerNorms (1e-6 in ViT, 1e-5 in TNT).
        use_qkv_bias: bool, whether the query/key/value projection has a bias.
        use_approximate_gelu: bool, tanh GELU instead of the exact form.
        rematerialize: bool, recompute this block's activations in the backward pass instead of keeping them
            while training (less memory, more time; needs all three rates at 0). See
            keras_vit/layers/_rematerialize.py.

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).
        relative_keys: optional (num_tokens, num_tokens, hidden_dim / num_heads) relative keys for the attention.
        training: bool.

    Returns:
        Tokens of shape (batch, num_tokens, hidden_dim).

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, eq. 2-3.
    """

    def __init__(
        self,
        hidden_dim=768,
        num_heads=12,
        intermediate_dim=3072,
        dropout_rate=0.0,
        attention_dropout_rate=0.0,
        drop_path_rate=0.0,
        layer_norm_epsilon=1e-6,
        use_qkv_bias=True,
        use_approximate_gelu=False,
        rematerialize=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.hidden_dim = _checks.positive_int("hidden_dim", hidden_dim)
        self.num_heads = _checks.positive_int("num_heads", num_heads)
        _checks.divisible("hidden_dim", hidden_dim, "num_heads", num_heads)
        self.intermediate_dim = _checks.positive_int("intermediate_dim", intermediate_dim)
        self.dropout_rate = _checks.rate("dropout_rate", dropout_rate)
        self.attention_dropout_rate = _checks.rate("attention_dropout_rate", attention_dropout_rate)
        self.drop_path_rate = _checks.rate("drop_path_rate", drop_path_rate)
        self.layer_norm_epsilon = _checks.positive_float("layer_norm_epsilon", layer_norm_epsilon)
        self.use_qkv_bias = bool(use_qkv_bias)
        self.use_approximate_gelu = bool(use_approximate_gelu)
        self.rematerialize = _rematerialize.check(
            rematerialize,
            dropout_rate=self.dropout_rate,
            attention_dropout_rate=self.attention_dropout_rate,
            drop_path_rate=self.drop_path_rate,
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        policy = self.dtype_policy
        self.norm1 = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm1")
        self.norm1.build(input_shape)
        self.attention = MSA(
            self.hidden_dim,
            self.num_heads,
            attention_dropout_rate=self.attention_dropout_rate,
            use_qkv_bias=self.use_qkv_bias,
            dtype=policy,
            name="attention",
        )
        self.attention.build(input_shape)
        self.attention_output_dropout = keras.layers.Dropout(self.dropout_rate, dtype=policy, name="attention_output_dropout")
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy, name="drop_path")
        self.norm2 = keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=policy, name="norm2")
        self.norm2.build(input_shape)
        self.mlp = MLP(
            self.intermediate_dim,
            dropout_rate=self.dropout_rate,
            use_approximate_gelu=self.use_approximate_gelu,
            dtype=policy,
            name="mlp",
        )
        self.mlp.build(input_shape)

    def call(self, inputs, relative_keys=None, training=None):
        if self.rematerialize and training:
            if relative_keys is None:
                return _rematerialize.call(lambda x: self._forward(x, None, training), inputs)
            return _rematerialize.call(lambda x, keys: self._forward(x, keys, training), inputs, relative_keys)
        return self._forward(inputs, relative_keys, training)

    def _forward(self, inputs, relative_keys, training):
        x = self.attention(self.norm1(inputs), relative_keys=relative_keys, training=training)
        x = self.attention_output_dropout(x, training=training)
        x = inputs + self.drop_path(x, training=training)
        y = self.mlp(self.norm2(x), training=training)
        return x + self.drop_path(y, training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout_rate": self.dropout_rate,
                "attention_dropout_rate": self.attention_dropout_rate,
                "drop_path_rate": self.drop_path_rate,
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "use_qkv_bias": self.use_qkv_bias,
                "use_approximate_gelu": self.use_approximate_gelu,
                "rematerialize": self.rematerialize,
            }
        )
        return config
