"""DETR on a zoo backbone: detection as direct set prediction with a transformer decoder."""

import keras

import keras_vit.tasks.anchor_decoder  # noqa: F401  (registers the components)
import keras_vit.tasks.detr_decoder  # noqa: F401
import keras_vit.tasks.detr_head  # noqa: F401
import keras_vit.tasks.neck  # noqa: F401
from keras_vit.models.zoo_model import ZooModel
from keras_vit.registry import Slot, register
from keras_vit.schema import POSITIVE_INT
from keras_vit.tasks.backbone import (
    BACKBONE,
    BACKBONE_WEIGHTS,
    build_backbone,
    task_layout,
    without_weights_path,
)


@register("model", "detr")
class DETR(ZooModel):
    """DETR (Carion et al. 2020) with a zoo backbone: the backbone's last block's tokens, a neck (one map projected
    to hidden_dim, or the coarsest level of a feature pyramid), a decoder of learned object queries with 2-D sine
    positions on the memory, and class / box heads after every decoder layer.

    Args:
        backbone: a zoo name ("vit_ti16") or {name: ..., <hyperparameter overrides>} (image_size, patch_size, ...).
        num_classes: int, object classes ("no object" is added).
        num_queries: int, the most objects an image can have detected.
        hidden_dim: int, width of the neck's map, the queries and the heads.
        neck, decoder, head: registered components of these slots (a name or {name: ..., <arguments>}); defaults
            "single_scale", "detr_decoder", "detr_head".
        backbone_weights: None or a checkpoint loaded into the backbone when the model is made (not stored: a
            saved DETR holds all of its weights).

    Call arguments:
        images: (batch, height, width, channels) float images, normalized as the backbone expects.

    Returns:
        {"logits": (batch, num_decoder_layers, num_queries, num_classes + 1), "boxes": (batch, num_decoder_layers,
        num_queries, 4)}: every decoder layer's predictions, the last layer's being the model's; boxes normalized
        (center x, center y, width, height); a decoder with query selection adds its proposals, "proposal_logits"
        (batch, positions, num_classes + 1) and "proposal_boxes" (batch, positions, 4).

    Training: `model.compile(optimizer, loss=keras_vit.tasks.DETRSetLoss(...), jit_compile=False)` (or no loss: DETR's
    weights), then `model.fit` with y = padded targets (batch, max_objects, 5) of [cx, cy, w, h, label], label -1
    for padding; the set loss reads the last decoder layer's predictions and every earlier layer's as auxiliary ones.
    """

    SLOTS = {
        "neck": Slot("neck", "single_scale", interface="tokens",
                     provided=("output_dim", "num_prefix_tokens", "grid_size", "layer_norm_epsilon")),
        "decoder": Slot("decoder", "detr_decoder", interface="feature_map",
                        provided=("num_queries", "hidden_dim", "num_classes")),
        "head": Slot("head", "detr_head", interface=("queries", "queries_and_boxes"),
                     provided=("num_classes", "hidden_dim")),
    }
    FIELDS = {**SLOTS, "backbone": BACKBONE, "backbone_weights": BACKBONE_WEIGHTS, "num_queries": POSITIVE_INT}

    def __init__(self, backbone="vit_ti16", num_classes=91, num_queries=100, hidden_dim=256, neck="single_scale",
                 decoder="detr_decoder", head="detr_head", backbone_weights=None, name="detr", dtype=None, **kwargs):
        tokens_model, layout = build_backbone(backbone, backbone_weights, dtype)
        images = keras.Input(tokens_model.inputs[0].shape[1:], name="images")
        neck_layer = self.SLOTS["neck"].build(neck, {
            "output_dim": hidden_dim, "num_prefix_tokens": layout.num_prefix_tokens, "grid_size": layout.grid_size,
        }, dtype=dtype, name="neck")
        feature_map = neck_layer(keras.tree.flatten(tokens_model(images))[0])[-1]
        _check_pairing(self.SLOTS["decoder"].component(decoder)[0], self.SLOTS["head"].component(head)[0])
        queries = self.SLOTS["decoder"].build(decoder, {"num_queries": num_queries, "hidden_dim": hidden_dim,
                                                        "num_classes": num_classes},
                                              dtype=dtype, name="decoder")(feature_map)
        outputs = self.SLOTS["head"].build(head, {"num_classes": num_classes, "hidden_dim": hidden_dim},
                                           dtype=dtype, name="head")(queries)
        super().__init__(inputs=images, outputs=outputs, name=name, **kwargs)
        self._store_config(locals())
        self._zoo_config = without_weights_path(self._zoo_config, tokens_model)
        self.layout = task_layout(tokens_model, layout)

    def serving_signatures(self, preprocessing, labels=None, jit_compile=True):
        """The SavedModel contract `keras_vit.export` writes: the TF Object Detection API's outputs
        (keras_vit.tasks.serving)."""
        from keras_vit.tasks.serving import DetectionServing

        return DetectionServing(self, preprocessing, labels, jit_compile)

    def compile_arguments(self):
        """What keras_vit.train compiles this model with: DETR's set loss, no metrics, and no XLA (the matcher runs
        SciPy through tf.numpy_function)."""
        from keras_vit.tasks.set_loss import DETRSetLoss

        return {"loss": DETRSetLoss(), "metrics": None, "jit_compile": False}

    def targets_from_example(self, example):
        """{"boxes": (max_objects, 4) normalized [cx, cy, w, h], "labels": (max_objects,) int32, -1 for padding} from
        a task data source's example (a dict with "boxes" [ymin, xmin, ymax, xmax] and "labels"; inside tf.data)."""
        import tensorflow as tf

        ymin, xmin, ymax, xmax = tf.unstack(tf.cast(example["boxes"], tf.float32), 4, axis=-1)
        boxes = tf.stack([(xmin + xmax) / 2, (ymin + ymax) / 2, xmax - xmin, ymax - ymin], axis=-1)
        return {"boxes": boxes, "labels": tf.cast(example["labels"], tf.int32)}

    def decoder_attention(self, images, layer_index=-1):
        """Each query's cross-attention over the memory in decoder layer `layer_index`, averaged over heads, with that
        layer's predictions (DETR's decoder figure; keras_vit.explain.decoder_attention checks the images first).

        Args:
            images: (batch, height, width, channels) float images as the model takes them.

        Returns:
            {"attention": (batch, num_queries, rows, columns), summing to 1 over the positions; "logits": (batch,
            num_queries, num_classes + 1); "boxes": (batch, num_queries, 4) normalized cxcywh}.
        """
        tokens = keras.tree.flatten(self.get_layer(self.layout.backbone)(images, training=False))[0]
        feature_map = self.get_layer("neck")(tokens)[-1]
        decoded, attention = self.get_layer("decoder")(feature_map, training=False, return_attention=True)
        outputs = {key: keras.ops.convert_to_numpy(value[:, layer_index])
                   for key, value in self.get_layer("head")(decoded).items() if key in ("logits", "boxes")}
        rows, columns = feature_map.shape[1:3]
        attention = keras.ops.convert_to_numpy(attention)[:, layer_index].mean(axis=1)  # (batch, queries, positions)
        return {"attention": attention.reshape(*attention.shape[:2], rows, columns), **outputs}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # Keras 3 applies a compiled loss to each entry of a dict output on its own; the set loss reads both entries
        # and every decoder layer's predictions together.
        from keras_vit.tasks.set_loss import DETRSetLoss

        if self.loss is not None and not isinstance(self.loss, DETRSetLoss):
            raise ValueError(f"DETR trains with keras_vit.tasks.DETRSetLoss; compile received loss={self.loss!r}. "
                             f"Pass loss=DETRSetLoss(...) with your weights, or no loss for DETR's.")
        loss = (self.loss or DETRSetLoss())(y, set_predictions(y_pred, self._zoo_config["num_queries"]))
        return loss + sum(self.losses) if self.losses else loss


def _check_pairing(decoder_class, head_class):
    # a decoder that refines boxes itself ("anchor_decoder") hands the head queries and boxes; DETR's own one queries
    decoded = getattr(decoder_class, "output_interface", "queries")
    if getattr(head_class, "interface", decoded) != decoded:
        raise ValueError(f"decoder {decoder_class.__name__} outputs {decoded} but head {head_class.__name__} takes "
                         f"{head_class.interface}: pair 'anchor_decoder' with 'class_head', 'detr_decoder' with "
                         f"'detr_head'.")


def set_predictions(outputs, num_queries=None):
    """DETR's outputs as the set loss takes them: the last decoder layer's {"logits", "boxes"} with the earlier
    layers' as "aux_outputs". Outputs of more than `num_queries` queries (a decoder training several query groups,
    Group DETR) are cut into groups of num_queries; every group's layers join the auxiliary outputs, each matched to
    the targets on its own."""
    layers, count = outputs["logits"].shape[1], outputs["logits"].shape[2]
    num_queries = num_queries or count
    groups = [(outputs["logits"][:, :, g:g + num_queries], outputs["boxes"][:, :, g:g + num_queries])
              for g in range(0, count, num_queries)]
    aux = [{"logits": logits[:, i], "boxes": boxes[:, i]} for logits, boxes in groups for i in range(layers)]
    if "proposal_logits" in outputs:  # a decoder's proposals (query selection) are matched and trained as well
        aux.append({"logits": outputs["proposal_logits"], "boxes": outputs["proposal_boxes"]})
    main = aux.pop(layers - 1)  # the first group's last layer
    return {**main, "aux_outputs": aux}
