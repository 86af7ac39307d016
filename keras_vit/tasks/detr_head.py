"""DETR's prediction heads: a class (with "no object") and a box for every decoded query."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("head", "detr_head")
class DETRHead(ConfigFromArguments, keras.layers.Layer):
    """A linear classifier over `num_classes` + 1 ("no object", the last) and a 3-layer MLP predicting a box, shared
    by every decoder layer's output (DETR's auxiliary predictions).

    Args:
        num_classes: int, object classes (without "no object").
        hidden_dim: int, the queries' width (the box MLP's hidden width).

    Call arguments:
        queries: (batch, num_layers, num_queries, hidden_dim).

    Returns:
        {"logits": (batch, num_layers, num_queries, num_classes + 1), "boxes": (batch, num_layers, num_queries, 4)
        normalized (center x, center y, width, height) in [0, 1]}, float32 under a mixed policy.
    """

    interface = "queries"
    output_dtype = "float32"  # logits leave a mixed policy in float32, as the classifier's do

    def __init__(self, num_classes=91, hidden_dim=256, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        policy = self.dtype_policy
        self.classifier = keras.layers.Dense(num_classes + 1, dtype=policy, name="classifier")
        self.box_mlp = [keras.layers.Dense(hidden_dim, activation="relu", dtype=policy, name="box_0"),
                        keras.layers.Dense(hidden_dim, activation="relu", dtype=policy, name="box_1"),
                        keras.layers.Dense(4, dtype=policy, name="box_2")]

    def build(self, queries_shape):
        queries_shape = tuple(queries_shape)
        self.classifier.build(queries_shape)
        shape = queries_shape
        for layer in self.box_mlp:
            layer.build(shape)
            shape = layer.compute_output_shape(shape)

    def call(self, queries):
        boxes = queries
        for layer in self.box_mlp:
            boxes = layer(boxes)
        return {"logits": ops.cast(self.classifier(queries), "float32"),
                "boxes": ops.sigmoid(ops.cast(boxes, "float32"))}


@register("head", "class_head")
class ClassHead(ConfigFromArguments, keras.layers.Layer):
    """A linear classifier over `num_classes` + 1 ("no object", the last) for decoders that predict boxes
    themselves (the "anchor_decoder": its boxes are refined inside it and pass through here unchanged).

    Args:
        num_classes: int, object classes (without "no object").

    Call arguments:
        decoded: {"queries": (batch, num_layers, num_queries, hidden_dim), "boxes": (batch, num_layers,
            num_queries, 4)}.

    Returns:
        {"logits": (batch, num_layers, num_queries, num_classes + 1), "boxes": the decoder's boxes}, float32, and
        the decoder's "proposal_logits" and "proposal_boxes" where it has them.
    """

    interface = "queries_and_boxes"
    output_dtype = "float32"

    def __init__(self, num_classes=91, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.classifier = keras.layers.Dense(num_classes + 1, dtype=self.dtype_policy, name="classifier")

    def build(self, decoded_shape):
        self.classifier.build(tuple(decoded_shape["queries"]))

    def call(self, decoded):
        # the decoder's proposals (query selection), if any, pass through for the set loss
        return {**{k: v for k, v in decoded.items() if k.startswith("proposal_")},
                "logits": ops.cast(self.classifier(decoded["queries"]), "float32"),
                "boxes": ops.cast(decoded["boxes"], "float32")}
