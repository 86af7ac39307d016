"""The Transformer-in-Transformer block: an inner transformer over words, an outer one over patches."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers._shapes import dim
from keras_vit.layers.pixel_projection import PixelProjection
from keras_vit.layers.transformer_block import TransformerBlock
from keras_vit.registry import register


@register("block", "tnt_block")
class TNTBlock(ConfigFromArguments, keras.layers.Layer):
    """One TNT block (the TNT paper's eq. 2-5, as released):

        Y' = Y + MSA_in(LN(Y)),  Y_out = Y' + MLP_in(LN(Y'))                  for the words Y of every patch
        Z' = Z + [0; LN(FC(LN(Vec(Y_out))))]                                  (the class token gets nothing)
        Z'' = Z' + MSA_out(LN(Z')),  Z_out = Z'' + MLP_out(LN(Z''))           over the class token and patches

    The inner and outer transformers are the core `TransformerBlock`s `inner_block` and `outer_block`; the words
    reach the patches through `PixelProjection` `pixel_projection` (FC without bias). Stochastic depth applies to
    both transformers' residual branches with the same rate.

    Args:
        hidden_dim: int, patch token width D.
        num_heads: int, heads of the outer attention; must divide hidden_dim.
        intermediate_dim: int, hidden width of the outer MLP.
        inner_dim: int, word width d.
        inner_num_heads: int, heads of the inner attention; must divide inner_dim.
        inner_intermediate_dim: int, hidden width of the inner MLP.
        num_prefix_tokens: int, leading patch tokens that receive no word information (1: the class token).
        dropout_rate: float, dropout after both attention projections and inside both MLPs.
        attention_dropout_rate: float, dropout on the attention weights.
        drop_path_rate: float, stochastic-depth rate of this block.
        layer_norm_epsilon: float, epsilon of every LayerNorm (1e-5 in TNT).
        use_qkv_bias: bool, whether the query/key/value projections have biases (False in TNT).
        use_approximate_gelu: bool, tanh GELU instead of the exact form.
        attention, mlp, norm: the components of the inner and outer TransformerBlock (registered names or
            {name: ..., <argument>: ...}), as in TransformerBlock.
        rematerialize: bool, passed to the inner and outer TransformerBlock (each then recomputes its own
            activations in the backward pass while training).

    Call arguments:
        inputs: a pair [words, tokens]: words of shape (batch, num_patches, num_words, inner_dim) and tokens of
            shape (batch, num_prefix_tokens + num_patches, hidden_dim).
        training: bool.

    Returns:
        The pair (words, tokens) with the same shapes.

    Reference:
        Han et al., "Transformer in Transformer", NeurIPS 2021, section 2.2, eq. 2-5.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "words_and_tokens"

    def __init__(self, hidden_dim=384, num_heads=6, intermediate_dim=1536, inner_dim=24, inner_num_heads=4,
                 inner_intermediate_dim=96, num_prefix_tokens=1, dropout_rate=0.0, attention_dropout_rate=0.0,
                 drop_path_rate=0.0, layer_norm_epsilon=1e-5, use_qkv_bias=False, use_approximate_gelu=False,
                 rematerialize=False, attention="msa", mlp="mlp", norm="layer_norm", **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())  # its TransformerBlocks check rematerialize against the rates

    def _transformer_block(self, width, num_heads, intermediate_dim, name):
        shared = ("dropout_rate", "attention_dropout_rate", "drop_path_rate", "layer_norm_epsilon", "use_qkv_bias",
                  "use_approximate_gelu", "rematerialize", "attention", "mlp", "norm")
        return TransformerBlock(width, num_heads, intermediate_dim, **{key: getattr(self, key) for key in shared},
                                dtype=self.dtype_policy, name=name)

    def build(self, input_shape):
        is_pair = len(input_shape) == 2 and all(isinstance(shape, (list, tuple)) for shape in input_shape)
        words_shape, tokens_shape = (tuple(shape) for shape in input_shape) if is_pair else ((), ())
        ranks_and_widths = (len(words_shape), len(tokens_shape), words_shape[-1:], tokens_shape[-1:])
        # Past the first test the ranks are right: the second reads the number of patches and of tokens.
        num_patches, num_tokens = words_shape[1:2], tokens_shape[1:2]
        if ranks_and_widths != (4, 3, (self.inner_dim,), (self.hidden_dim,)) or (
            None not in num_patches + num_tokens and num_tokens[0] != self.num_prefix_tokens + num_patches[0]
        ):
            raise ValueError(
                f"TNTBlock takes a pair [words, tokens] of shapes (batch, num_patches, num_words, {self.inner_dim}) "
                f"and (batch, {self.num_prefix_tokens} + num_patches, {self.hidden_dim}); received {input_shape}."
            )
        self.inner_block = built(self._transformer_block(
            self.inner_dim, self.inner_num_heads, self.inner_intermediate_dim, "inner_block"
        ), (None, words_shape[2], self.inner_dim))
        self.pixel_projection = built(PixelProjection(
            self.hidden_dim, use_bias=False, layer_norm_epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy,
            name="pixel_projection",
        ), words_shape)
        outer_block = self._transformer_block(self.hidden_dim, self.num_heads, self.intermediate_dim, "outer_block")
        self.outer_block = built(outer_block, tokens_shape)

    def _per_patch(self, function, words, *head_axes):
        """`function` on every patch's words as its own sequence (batch * num_patches, num_words, inner_dim), its
        result reshaped back to (batch, num_patches, *head_axes, ...)."""
        batch = ops.shape(words)[0]
        num_patches, (_, _, num_words, inner_dim) = dim(words, 1), words.shape
        result = function(ops.reshape(words, (batch * num_patches, num_words, inner_dim)))
        return ops.reshape(result, (batch, num_patches, *head_axes, *result.shape[-2:]))

    def _inner(self, words, training):
        return self._per_patch(lambda flat: self.inner_block(flat, training=training), words)

    def _add_words(self, words, tokens):
        patch_update = self.pixel_projection(words)
        # Prefix tokens (the class token) have no words: pad the update with zeros in front of the patches.
        patch_update = ops.pad(patch_update, ((0, 0), (self.num_prefix_tokens, 0), (0, 0)))
        return tokens + patch_update

    def call(self, inputs, training=None):
        words, tokens = inputs
        words = self._inner(words, training)
        tokens = self.outer_block(self._add_words(words, tokens), training=training)
        return words, tokens

    def attention_probabilities(self, words, tokens, inner=False):
        """The attention weights of this block (an inspection path; `call` is unchanged by it).

        Args:
            words: (batch, num_patches, num_words, inner_dim), the block's input words.
            tokens: (batch, num_prefix_tokens + num_patches, hidden_dim), the block's input tokens.
            inner: False for the outer attention over the tokens, True for the inner attention over the words of
                every patch.

        Returns:
            Outer: (batch, num_heads, num_tokens, num_tokens). Inner: (batch, num_patches, inner_num_heads,
            num_words, num_words), words in row-major order inside their patch. Rows sum to 1.
        """
        if inner:
            return self._per_patch(self.inner_block.attention_probabilities, words, self.inner_num_heads)
        return self.outer_block.attention_probabilities(self._add_words(self._inner(words, None), tokens))
