"""DETR's transformer decoder: learned object queries attend to each other and to the image features."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register
from keras_vit.tasks.sine_position import sine_position_2d


class DETRDecoderLayer(keras.layers.Layer):
    """One post-norm decoder layer: self-attention among the queries, cross-attention to the memory, an MLP; the
    query positions are added to the queries and keys of both attentions, the memory's positions to its keys."""

    def __init__(self, hidden_dim, num_heads, intermediate_dim, dropout_rate, layer_norm_epsilon, **kwargs):
        super().__init__(**kwargs)
        policy, key_dim = self.dtype_policy, hidden_dim // num_heads

        def norm(name):
            return keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name=name)

        def attention(name):
            return keras.layers.MultiHeadAttention(num_heads, key_dim, dropout=dropout_rate, dtype=policy, name=name)

        self.self_attention, self.cross_attention = attention("self_attention"), attention("cross_attention")
        self.norm1, self.norm2, self.norm3 = norm("norm1"), norm("norm2"), norm("norm3")
        self.fc1 = keras.layers.Dense(intermediate_dim, activation="relu", dtype=policy, name="fc1")
        self.fc2 = keras.layers.Dense(hidden_dim, dtype=policy, name="fc2")
        self.dropout = keras.layers.Dropout(dropout_rate, dtype=policy, name="dropout")

    def build(self, queries_shape, memory_shape):
        queries_shape, memory_shape = tuple(queries_shape), tuple(memory_shape)
        self.self_attention.build(queries_shape, queries_shape, queries_shape)
        self.cross_attention.build(queries_shape, memory_shape, memory_shape)
        for norm in (self.norm1, self.norm2, self.norm3):
            norm.build(queries_shape)
        self.fc1.build(queries_shape)
        self.fc2.build(self.fc1.compute_output_shape(queries_shape))

    def call(self, queries, memory, query_position, memory_position, training=None, return_attention=False):
        q = queries + query_position
        update = self.self_attention(q, queries, key=q, training=training)
        queries = self.norm1(queries + self.dropout(update, training=training))
        update, scores = self.cross_attention(queries + query_position, memory, key=memory + memory_position,
                                              return_attention_scores=True, training=training)
        queries = self.norm2(queries + self.dropout(update, training=training))
        update = self.fc2(self.dropout(self.fc1(queries), training=training))
        queries = self.norm3(queries + self.dropout(update, training=training))
        return (queries, scores) if return_attention else queries


@register("decoder", "detr_decoder")
class DETRDecoder(ConfigFromArguments, keras.layers.Layer):
    """`num_queries` learned object queries decoded by `num_layers` DETR decoder layers over the image features.

    Args:
        num_queries: int, the most objects an image can have detected.
        num_layers: int, decoder layers; every layer's output is returned (DETR's auxiliary losses use them).
        hidden_dim: int, width of the queries and of the memory.
        num_heads: int, attention heads; must divide hidden_dim.
        intermediate_dim: int, the MLP's width.
        dropout_rate: float.
        layer_norm_epsilon: float.

    Call arguments:
        feature_map: (batch, rows, columns, hidden_dim) image features: the memory, with DETR's 2-D sine position
            encoding added to its keys.
        return_attention: also return every layer's cross-attention, (batch, num_layers, num_heads, num_queries,
            rows * columns).

    Returns:
        (batch, num_layers, num_queries, hidden_dim): each layer's queries after the shared final LayerNorm.

    Reference:
        Carion et al., "End-to-End Object Detection with Transformers" (DETR), 2020.
    """

    interface = "feature_map"

    def __init__(self, num_queries=100, num_layers=6, hidden_dim=256, num_heads=8, intermediate_dim=2048,
                 dropout_rate=0.1, layer_norm_epsilon=1e-5, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"num_heads={num_heads} must divide hidden_dim={hidden_dim}.")
        self.num_queries = num_queries
        self.num_layers = num_layers
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.dropout_rate = dropout_rate
        self.layer_norm_epsilon = layer_norm_epsilon
        self.decoder_layers = [
            DETRDecoderLayer(hidden_dim, num_heads, intermediate_dim, dropout_rate, layer_norm_epsilon,
                             dtype=self.dtype_policy, name=f"layer_{index}")
            for index in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=self.dtype_policy,
                                                          name="final_norm")

    def build(self, feature_map_shape):
        batch, rows, columns, _ = tuple(feature_map_shape)
        memory_shape = (batch, None if rows is None or columns is None else rows * columns, self.hidden_dim)
        self.query_embeddings = self.add_weight(
            shape=(self.num_queries, self.hidden_dim), initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="query_embeddings")
        queries_shape = (memory_shape[0], self.num_queries, self.hidden_dim)
        for layer in self.decoder_layers:
            layer.build(queries_shape, memory_shape)
        self.final_norm.build(queries_shape)

    def call(self, feature_map, training=None, return_attention=False):
        batch, rows, columns = ops.shape(feature_map)[0], feature_map.shape[1], feature_map.shape[2]
        memory = ops.reshape(feature_map, (batch, rows * columns, self.hidden_dim))
        memory_position = sine_position_2d(rows, columns, self.hidden_dim)
        query_position = ops.broadcast_to(ops.cast(self.query_embeddings, memory.dtype)[None],
                                          (batch, self.num_queries, self.hidden_dim))
        memory_position = ops.cast(memory_position, memory.dtype)[None]
        queries = ops.zeros_like(query_position)
        outputs, attention = [], []
        for layer in self.decoder_layers:
            queries, scores = layer(queries, memory, query_position, memory_position, training=training,
                                    return_attention=True)
            outputs.append(self.final_norm(queries))
            attention.append(scores)
        outputs = ops.stack(outputs, axis=1)
        return (outputs, ops.stack(attention, axis=1)) if return_attention else outputs

    def compute_output_shape(self, feature_map_shape):
        return (feature_map_shape[0], self.num_layers, self.num_queries, self.hidden_dim)
