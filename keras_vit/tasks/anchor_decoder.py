"""A DETR decoder that converges faster: queries are anchor boxes refined layer by layer, and each query's
cross-attention is biased towards its box (DAB-DETR's anchors, Deformable DETR's refinement, SMCA's prior)."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register
from keras_vit.schema import BOOL, number
from keras_vit.tasks.sine_position import sine_encode, sine_position_2d


def _inverse_sigmoid(x, eps=1e-5):
    x = ops.clip(x, eps, 1 - eps)
    return ops.log(x / (1 - x))


def _dense(units, name, policy, activation=None, **kwargs):
    return keras.layers.Dense(units, activation=activation, dtype=policy, name=name, **kwargs)


class BoxCrossAttention(keras.layers.Layer):
    """Multi-head attention of queries over the memory, with an optional Gaussian log-prior around each query's
    box: logits - 2 ((x - cx) / w)^2 - 2 ((y - cy) / h)^2 (SMCA), so that a query looks inside its box from the
    first step instead of learning where to look (DETR's slow start)."""

    def __init__(self, hidden_dim, num_heads, use_box_prior, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim, self.num_heads, self.use_box_prior = hidden_dim, num_heads, use_box_prior
        policy = self.dtype_policy
        self.query_dense, self.key_dense = _dense(hidden_dim, "query", policy), _dense(hidden_dim, "key", policy)
        self.value_dense, self.output_dense = _dense(hidden_dim, "value", policy), _dense(hidden_dim, "output", policy)

    def build(self, queries_shape, memory_shape):
        for layer, shape in ((self.query_dense, queries_shape), (self.key_dense, memory_shape),
                             (self.value_dense, memory_shape), (self.output_dense, queries_shape)):
            layer.build(shape)

    def _heads(self, x):  # (B, N, D) -> (B, heads, N, D / heads)
        x = ops.reshape(x, (ops.shape(x)[0], -1, self.num_heads, self.hidden_dim // self.num_heads))
        return ops.transpose(x, (0, 2, 1, 3))

    def call(self, queries, keys, values, boxes, grid_size):
        q, k, v = self._heads(self.query_dense(queries)), self._heads(self.key_dense(keys)), self._heads(
            self.value_dense(values))
        logits = ops.einsum("bhqd,bhkd->bhqk", q, k) / (self.hidden_dim // self.num_heads) ** 0.5
        logits = ops.cast(logits, "float32")
        if self.use_box_prior:
            rows, columns = grid_size
            y = (ops.arange(rows, dtype="float32") + 0.5) / rows
            x = (ops.arange(columns, dtype="float32") + 0.5) / columns
            # (B, Q, 1) each; a mixed policy casts the boxes to its compute dtype on the way in
            cx, cy, w, h = [ops.cast(boxes[..., i, None], "float32") for i in range(4)]
            # no narrower than a cell, so that a tiny box still sees the cell it sits in
            w, h = ops.maximum(w, 1.0 / columns), ops.maximum(h, 1.0 / rows)
            dx = 2 * ops.square((x[None, None] - cx) / w)  # (B, Q, columns)
            dy = 2 * ops.square((y[None, None] - cy) / h)  # (B, Q, rows)
            prior = -(dy[..., :, None] + dx[..., None, :])  # (B, Q, rows, columns), row-major like the memory
            logits = logits + ops.reshape(prior, (ops.shape(prior)[0], 1, ops.shape(prior)[1], rows * columns))
        scores = ops.softmax(logits, axis=-1)
        update = ops.einsum("bhqk,bhkd->bhqd", ops.cast(scores, v.dtype), v)
        update = ops.reshape(ops.transpose(update, (0, 2, 1, 3)), (ops.shape(update)[0], -1, self.hidden_dim))
        return self.output_dense(update), scores


class AnchorDecoderLayer(keras.layers.Layer):
    """Post-norm decoder layer: self-attention among queries, box-prior cross-attention to the memory, an MLP."""

    def __init__(self, hidden_dim, num_heads, intermediate_dim, dropout_rate, layer_norm_epsilon, use_box_prior,
                 **kwargs):
        super().__init__(**kwargs)
        policy = self.dtype_policy
        self.self_attention = keras.layers.MultiHeadAttention(num_heads, hidden_dim // num_heads,
                                                              dropout=dropout_rate, dtype=policy,
                                                              name="self_attention")
        self.cross_attention = BoxCrossAttention(hidden_dim, num_heads, use_box_prior, dtype=policy,
                                                 name="cross_attention")
        self.norms = [keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name=f"norm{i}")
                      for i in (1, 2, 3)]
        self.fc1 = _dense(intermediate_dim, "fc1", policy, "relu")
        self.fc2 = _dense(hidden_dim, "fc2", policy)
        self.dropout = keras.layers.Dropout(dropout_rate, dtype=policy, name="dropout")

    def build(self, queries_shape, memory_shape):
        queries_shape, memory_shape = tuple(queries_shape), tuple(memory_shape)
        self.self_attention.build(queries_shape, queries_shape, queries_shape)
        self.cross_attention.build(queries_shape, memory_shape)
        for norm in self.norms:
            norm.build(queries_shape)
        self.fc1.build(queries_shape)
        self.fc2.build(self.fc1.compute_output_shape(queries_shape))

    def call(self, queries, memory, query_position, memory_position, boxes, grid_size, group_mask=None,
             training=None):
        q = queries + query_position
        update = self.self_attention(q, queries, key=q, attention_mask=group_mask, training=training)
        queries = self.norms[0](queries + self.dropout(update, training=training))
        update, scores = self.cross_attention(queries + query_position, memory + memory_position, memory, boxes,
                                              grid_size=grid_size)
        queries = self.norms[1](queries + self.dropout(update, training=training))
        update = self.fc2(self.dropout(self.fc1(queries), training=training))
        return self.norms[2](queries + self.dropout(update, training=training)), scores


@register("decoder", "anchor_decoder")
class AnchorDecoder(ConfigFromArguments, keras.layers.Layer):
    """DETR's decoder with anchor-box queries: each query is a learned box (DAB-DETR) whose sine encoding, through
    an MLP, is the query's position; every layer predicts a correction of its box in logit space and passes the
    corrected box, without gradient, to the next layer (Deformable DETR's iterative refinement); cross-attention is
    biased towards the query's current box (SMCA's Gaussian prior). Pair it with the "class_head" head.

    Args:
        num_queries: int, the most objects an image can have detected.
        num_layers: int, decoder layers; every layer's queries and boxes are returned (auxiliary losses).
        hidden_dim: int, width of the queries and of the memory; divisible by 4 and by num_heads.
        num_heads: int, attention heads.
        intermediate_dim: int, the MLP's width.
        dropout_rate: float.
        layer_norm_epsilon: float.
        use_box_prior: bool, the Gaussian cross-attention prior around each query's box.
        anchor_size: float, the anchors' initial width and height (normalized); their centres start on a grid.
        use_query_selection: bool; True: every memory position proposes a class and a box (relative to its cell),
            and the num_queries best proposals are the first layer's boxes, with learned content queries
            (Deformable DETR's two-stage variant, DINO's mixed query selection); the proposals are returned and
            trained as one more auxiliary output. False: learned anchors.
        num_classes: int, object classes of the proposals (set by the detector).
        num_groups: int; above 1, training runs num_groups groups of num_queries queries, each with its own
            content queries (or anchors, on the grid shifted for each group) and self-attention only within its
            group, and the set loss matches every group to the targets on its own: one-to-many supervision
            (Group DETR). Inference runs the first group alone, so the model's outputs and cost do not change.

    Call arguments:
        feature_map: (batch, rows, columns, hidden_dim), the memory (2-D sine positions added to its keys).
        return_attention: also return every layer's cross-attention (batch, num_layers, num_heads, num_queries,
            rows * columns), each row summing to 1.

    Returns:
        {"queries": (batch, num_layers, num_queries, hidden_dim), "boxes": (batch, num_layers, num_queries, 4)
        normalized (cx, cy, w, h)}, num_groups * num_queries queries in training (group after group); with query
        selection also "proposal_logits" (batch, rows * columns, num_classes + 1) and "proposal_boxes" (batch,
        rows * columns, 4).

    References:
        Liu et al., "DAB-DETR: Dynamic Anchor Boxes are Better Queries for DETR", ICLR 2022.
        Zhu et al., "Deformable DETR", ICLR 2021 (iterative bounding box refinement).
        Gao et al., "Fast Convergence of DETR with Spatially Modulated Co-Attention" (SMCA), ICCV 2021.
        Zhang et al., "DINO: DETR with Improved DeNoising Anchor Boxes", ICLR 2023 (mixed query selection).
        Chen et al., "Group DETR: Fast DETR Training with Group-Wise One-to-Many Assignment", ICCV 2023.
    """

    interface = "feature_map"
    output_interface = "queries_and_boxes"

    # Its own arguments' checks when a spec names it (the others are in keras_vit.schema's glossary).
    FIELDS = {"use_box_prior": BOOL, "use_query_selection": BOOL,
              "anchor_size": number("a number in (0, 1)", lambda v: 0 < v < 1)}

    def __init__(self, num_queries=100, num_layers=6, hidden_dim=256, num_heads=8, intermediate_dim=2048,
                 dropout_rate=0.1, layer_norm_epsilon=1e-5, use_box_prior=True, anchor_size=0.2,
                 use_query_selection=False, num_classes=91, num_groups=1, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads or hidden_dim % 4:
            raise ValueError(f"hidden_dim={hidden_dim} must be divisible by 4 and by num_heads={num_heads}.")
        if not 0 < anchor_size < 1:
            raise ValueError(f"anchor_size is a normalized box side in (0, 1); received {anchor_size!r}.")
        if not isinstance(num_groups, int) or num_groups < 1:
            raise ValueError(f"num_groups is a positive number of query groups (1: plain DETR); received "
                             f"{num_groups!r}.")
        self.keep_arguments(locals())
        policy = self.dtype_policy
        self.decoder_layers = [
            AnchorDecoderLayer(hidden_dim, num_heads, intermediate_dim, dropout_rate, layer_norm_epsilon,
                               use_box_prior, dtype=policy, name=f"layer_{index}")
            for index in range(num_layers)
        ]
        self.final_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, dtype=policy, name="final_norm")
        # DAB-DETR's MLP from a box's sine encoding to the query's position (shared by the layers)
        self.position_mlp = [_dense(hidden_dim, "position_0", policy, "relu"), _dense(hidden_dim, "position_1", policy)]
        # the box correction (shared by the layers, as the heads are in DETR)
        self.box_mlp = [_dense(hidden_dim, "box_0", policy, "relu"), _dense(hidden_dim, "box_1", policy, "relu"),
                        _dense(4, "box_2", policy, kernel_initializer="zeros")]
        if use_query_selection:
            self.proposal_classifier = _dense(num_classes + 1, "proposal_classifier", policy)
            self.proposal_box_mlp = [_dense(hidden_dim, "proposal_box_0", policy, "relu"),
                                     _dense(4, "proposal_box_1", policy, kernel_initializer="zeros")]

    def build(self, feature_map_shape):
        batch, rows, columns, _ = tuple(feature_map_shape)
        memory_shape = (batch, None if rows is None or columns is None else rows * columns, self.hidden_dim)
        queries_shape = (batch, self.num_queries, self.hidden_dim)
        if self.use_query_selection:
            self.content = self.add_weight(shape=(self.num_groups * self.num_queries, self.hidden_dim),
                                           name="content", initializer=keras.initializers.RandomNormal(stddev=1.0))
            self.proposal_classifier.build(memory_shape)
            self.proposal_box_mlp[0].build(memory_shape)
            self.proposal_box_mlp[1].build(memory_shape)
        else:
            side = int(self.num_queries ** 0.5 + 0.999)
            self.anchors = self.add_weight(shape=(self.num_groups * self.num_queries, 4), name="anchors",
                                           initializer=_AnchorGrid(side, side, self.anchor_size, self.num_queries))
        for layer in self.decoder_layers:
            layer.build(queries_shape, memory_shape)
        self.final_norm.build(queries_shape)
        shape = (batch, self.num_queries, 2 * self.hidden_dim)
        for layer in self.position_mlp:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)
        for layer in self.box_mlp:
            layer.build(queries_shape if layer is self.box_mlp[0] else (batch, self.num_queries, self.hidden_dim))

    def _position(self, boxes):  # (B, Q, 4) cxcywh -> (B, Q, hidden_dim)
        x = ops.concatenate([sine_encode(boxes[..., i], self.hidden_dim // 2) for i in (1, 0, 2, 3)], axis=-1)
        for layer in self.position_mlp:
            x = layer(x)
        return x

    def call(self, feature_map, training=None, return_attention=False):
        batch, rows, columns = ops.shape(feature_map)[0], feature_map.shape[1], feature_map.shape[2]
        memory = ops.reshape(feature_map, (batch, rows * columns, self.hidden_dim))
        memory_position = ops.cast(sine_position_2d(rows, columns, self.hidden_dim), memory.dtype)[None]
        result = {}
        groups = self.num_groups if training else 1
        count = groups * self.num_queries
        if self.use_query_selection:
            box_logits, result = self._select(memory, rows, columns)
            box_logits = ops.tile(box_logits, (1, groups, 1))  # every group starts from the same proposals
            queries = ops.broadcast_to(ops.cast(self.content[:count], memory.dtype)[None],
                                       (batch, count, self.hidden_dim))
        else:
            box_logits = ops.broadcast_to(ops.cast(self.anchors[:count], "float32")[None], (batch, count, 4))
            queries = ops.zeros((batch, count, self.hidden_dim), memory.dtype)
        group_mask = None
        if groups > 1:  # a query sees only its own group's queries
            group = ops.arange(count) // self.num_queries
            group_mask = ops.broadcast_to((group[:, None] == group[None, :])[None], (batch, count, count))
        outputs, boxes, attention = [], [], []
        for index, layer in enumerate(self.decoder_layers):
            # the box a layer starts from carries no gradient (Deformable DETR), except the learned anchors
            start = box_logits if index == 0 else ops.stop_gradient(box_logits)
            reference = ops.sigmoid(start)
            queries, scores = layer(queries, memory, ops.cast(self._position(reference), memory.dtype),
                                    memory_position, reference, grid_size=(rows, columns), group_mask=group_mask,
                                    training=training)
            normed = correction = self.final_norm(queries)
            for dense in self.box_mlp:
                correction = dense(correction)
            box_logits = start + ops.cast(correction, "float32")
            outputs.append(normed)
            boxes.append(ops.sigmoid(box_logits))
            attention.append(scores)
        # boxes are refined in float32 and leave in the compute dtype, as the queries do (the head casts them back)
        result = {"queries": ops.stack(outputs, axis=1), "boxes": ops.stack(boxes, axis=1), **result}
        result = {key: ops.cast(value, memory.dtype) for key, value in result.items()}
        return (result, ops.stack(attention, axis=1)) if return_attention else result

    def _select(self, memory, rows, columns):
        """(the first layer's box logits (B, Q, 4) without gradient, {"proposal_logits", "proposal_boxes"})."""
        logits = ops.cast(self.proposal_classifier(memory), "float32")
        correction = memory
        for dense in self.proposal_box_mlp:
            correction = dense(correction)
        cells = _inverse_sigmoid(_grid_boxes(rows, columns, self.anchor_size))[None]
        proposal_logits = cells + ops.cast(correction, "float32")
        scores = ops.max(ops.softmax(logits, axis=-1)[..., :-1], axis=-1)
        _, best = ops.top_k(scores, self.num_queries)
        selected = ops.take_along_axis(proposal_logits, best[..., None], axis=1)
        return ops.stop_gradient(selected), {"proposal_logits": logits, "proposal_boxes": ops.sigmoid(proposal_logits)}

    def compute_output_shape(self, feature_map_shape):
        batch, rows, columns = feature_map_shape[:3]
        shapes = {"queries": (batch, self.num_layers, self.num_queries, self.hidden_dim),
                  "boxes": (batch, self.num_layers, self.num_queries, 4)}
        if self.use_query_selection:
            positions = None if rows is None or columns is None else rows * columns
            shapes.update(proposal_logits=(batch, positions, self.num_classes + 1), proposal_boxes=(batch, positions, 4))
        return shapes


def _grid_boxes(rows, columns, size, shift=0.0):
    """(rows * columns, 4) boxes (cx, cy, size, size) centred on the cells of a rows x columns grid, row-major;
    `shift` moves every centre by that fraction of a cell right and down (wrapping around)."""
    cy = ops.repeat(((ops.arange(rows, dtype="float32") + 0.5 + shift) / rows) % 1.0, columns)
    cx = ops.tile(((ops.arange(columns, dtype="float32") + 0.5 + shift) / columns) % 1.0, (rows,))
    return ops.stack([cx, cy, ops.full((rows * columns,), size, "float32"), ops.full((rows * columns,), size,
                                                                                       "float32")], axis=-1)


class _AnchorGrid(keras.initializers.Initializer):
    """Anchor logits: centres on a rows x columns grid (row-major, the first `num_queries` cells), sides `size`.
    Further groups of num_queries anchors take the grid shifted by g / groups of a cell: groups that started
    equal would get equal gradients and stay copies of each other."""

    def __init__(self, rows, columns, size, num_queries=None):
        self.rows, self.columns, self.size, self.num_queries = rows, columns, size, num_queries

    def __call__(self, shape, dtype=None):
        count = self.num_queries or shape[0]
        groups = shape[0] // count
        boxes = ops.concatenate([_grid_boxes(self.rows, self.columns, self.size, g / groups)[:count]
                                 for g in range(groups)], axis=0)
        return ops.cast(_inverse_sigmoid(boxes), dtype or "float32")

    def get_config(self):
        return {"rows": self.rows, "columns": self.columns, "size": self.size, "num_queries": self.num_queries}
