"""The pre-norm transformer encoder block."""

import keras

from keras_vit.layers import _rematerialize
from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.layers.drop_path import DropPath
from keras_vit.layers.layer_scale import LayerScale
from keras_vit.layers.slots import ATTENTION, MLP, NORM
from keras_vit.registry import register


@register("block", "transformer_block")
class TransformerBlock(ConfigFromArguments, keras.layers.Layer):
    """One encoder block: z' = MSA(LN(z)) + z, then z'' = MLP(LN(z')) + z' (the ViT paper's eq. 2 and 3), with
    dropout after the attention projection and in the MLP, and stochastic depth on both residual branches.

    The attention, the MLP and the two norms are registered components (slots `attention`, `mlp`, `norm`), so a
    spec or a plugin can replace each; with `layer_scale_init_value` each branch is scaled by a LayerScale.

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
        attention: the attention component: a registered name or {name: ..., <argument>: ...}; default "msa".
        mlp: the MLP component, likewise; default "mlp".
        norm: the normalization before each branch, likewise; default "layer_norm".
        layer_scale_init_value: None, or the initial value of a LayerScale on each branch (DeiT-III: 1e-6).

    Call arguments:
        inputs: tokens of shape (batch, num_tokens, hidden_dim).
        relative_keys: optional position input of the attention: (num_tokens, num_tokens, hidden_dim / num_heads)
            relative keys, or for `rotary_msa` the (num_tokens, hidden_dim / num_heads / 2) rotary angles.
        training: bool.

    Returns:
        Tokens of shape (batch, num_tokens, hidden_dim).

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, eq. 2-3.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "tokens"
    # `attention`, `mlp` and `norm` name the sublayers: the arguments are kept under other names.
    argument_attributes = {"attention": "attention_config", "mlp": "mlp_config", "norm": "norm_config"}

    def __init__(self, hidden_dim=768, num_heads=12, intermediate_dim=3072, dropout_rate=0.0,
                 attention_dropout_rate=0.0, drop_path_rate=0.0, layer_norm_epsilon=1e-6, use_qkv_bias=True,
                 use_approximate_gelu=False, rematerialize=False, attention="msa", mlp="mlp", norm="layer_norm",
                 layer_scale_init_value=None, **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        # Not a value check: a rematerialized block with random masks would silently compute wrong gradients.
        self.rematerialize = _rematerialize.check(
            rematerialize, dropout_rate=dropout_rate, attention_dropout_rate=attention_dropout_rate,
            drop_path_rate=drop_path_rate,
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        policy = self.dtype_policy
        norm_context = {"epsilon": self.layer_norm_epsilon}
        self.norm1 = NORM.build(self.norm_config, norm_context, dtype=policy, name="norm1")
        self.attention = ATTENTION.build(self.attention_config, self._provided(ATTENTION), dtype=policy,
                                         name="attention")
        self.attention_output_dropout = keras.layers.Dropout(self.dropout_rate, dtype=policy, name="attention_output_dropout")
        self.drop_path = DropPath(self.drop_path_rate, dtype=policy, name="drop_path")
        self.norm2 = NORM.build(self.norm_config, norm_context, dtype=policy, name="norm2")
        self.mlp = MLP.build(self.mlp_config, self._provided(MLP), dtype=policy, name="mlp")
        self.layer_scale_1 = self.layer_scale_2 = None
        if self.layer_scale_init_value is not None:
            self.layer_scale_1 = LayerScale(self.layer_scale_init_value, dtype=policy, name="layer_scale_1")
            self.layer_scale_2 = LayerScale(self.layer_scale_init_value, dtype=policy, name="layer_scale_2")
        for layer in (self.norm1, self.attention, self.norm2, self.mlp, self.layer_scale_1, self.layer_scale_2):
            if layer is not None:
                layer.build(input_shape)

    def _provided(self, slot):
        """This block's values of the arguments that `slot` gives its component (keras_vit.layers.slots)."""
        return {key: getattr(self, key) for key in slot.provided}

    def call(self, inputs, relative_keys=None, training=None):
        if self.rematerialize and training:
            if relative_keys is None:
                return keras.remat(lambda x: self._forward(x, None, training))(inputs)
            return keras.remat(lambda x, keys: self._forward(x, keys, training))(inputs, relative_keys)
        return self._forward(inputs, relative_keys, training)

    def _forward(self, inputs, relative_keys, training):
        attention_kwargs = {} if relative_keys is None else {"relative_keys": relative_keys}
        x = self.attention(self.norm1(inputs), training=training, **attention_kwargs)
        x = self.attention_output_dropout(x, training=training)
        if self.layer_scale_1 is not None:
            x = self.layer_scale_1(x)
        x = inputs + self.drop_path(x, training=training)
        y = self.mlp(self.norm2(x), training=training)
        if self.layer_scale_2 is not None:
            y = self.layer_scale_2(y)
        return x + self.drop_path(y, training=training)

    def attention_probabilities(self, inputs, relative_keys=None):
        """The attention weights of this block for its inputs: its attention component's
        `attention_probabilities` on the normalized tokens (an inspection path; `call` is unchanged by it).

        Args:
            inputs: tokens of shape (batch, num_tokens, hidden_dim), the block's input.
            relative_keys: optional relative keys, as in `call`.

        Returns:
            (batch, num_heads, num_tokens, num_tokens) attention weights; rows sum to 1.
        """
        probabilities = getattr(self.attention, "attention_probabilities", None)
        if probabilities is None:
            raise TypeError(
                f"The attention component {type(self.attention).__name__} of block {self.name!r} has no "
                "attention_probabilities(inputs, relative_keys=None) method, so its attention weights cannot be "
                "read: add that method (returning (batch, heads, tokens, tokens)) to inspect it."
            )
        attention_kwargs = {} if relative_keys is None else {"relative_keys": relative_keys}
        return probabilities(self.norm1(inputs), **attention_kwargs)
