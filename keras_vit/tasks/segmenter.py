"""Semantic segmentation on a zoo backbone."""

import keras

import keras_vit.tasks.image_skip  # noqa: F401
import keras_vit.tasks.neck  # noqa: F401  (registers the default components)
import keras_vit.tasks.segmentation_head  # noqa: F401
from keras_vit.models.zoo_model import ZooModel
from keras_vit.registry import Slot, register
from keras_vit.schema import POSITIVE, pair
from keras_vit.tasks.backbone import (
    BACKBONE,
    BACKBONE_WEIGHTS,
    build_backbone,
    task_layout,
    without_weights_path,
)
from keras_vit.tasks.segmentation_metrics import mean_iou_metric, pixel_cross_entropy


@register("model", "segmenter")
class Segmenter(ZooModel):
    """A zoo backbone's last block's tokens, ViTDet's simple feature pyramid and a light FPN head: per-pixel class
    logits at the image's size.

    Args:
        backbone: a zoo name ("vit_ti16") or {name: ..., <hyperparameter overrides>}.
        image_size: None (the backbone's) or the model's input size (int or (height, width)); the backbone sees
            the images resized (bilinear) to its own image_size, and the logits come at the input's size. Lets a
            backbone see objects at the scale its classifier learned while the refinement works at full resolution.
        num_classes: int, classes per pixel, background included.
        hidden_dim: int, channels of the pyramid and of the head.
        neck, head: registered components of these slots; defaults "simple_feature_pyramid",
            "fpn_segmentation_head".
        refine: None ("none") or a component that refines the head's logits with the image at full resolution
            ("image_skip_refine": U-Net's skip from the input, for masks thinner than the head's stride).
        backbone_weights: None or a checkpoint loaded into the backbone when the model is made (not stored).
        foreground_weight: float > 0, weight of object pixels (every class but 0) in the training loss; background
            pixels weigh 1 (`keras_vit.tasks.segmentation_metrics.ForegroundWeightedCE`).

    Call arguments:
        images: (batch, height, width, channels) float images, normalized as the backbone expects.

    Returns:
        (batch, height, width, num_classes) float32 logits.

    Training (what `keras_vit.train` reads): `compile_arguments()` (per-pixel cross-entropy, mean IoU) and
    `targets_from_example()` (the semantic mask of a task data source's example).
    """

    SLOTS = {
        "neck": Slot("neck", "simple_feature_pyramid", interface="tokens",
                     provided=("output_dim", "num_prefix_tokens", "grid_size", "layer_norm_epsilon")),
        "head": Slot("head", "fpn_segmentation_head", interface="feature_pyramid",
                     provided=("num_classes", "hidden_dim", "output_stride")),
        "refine": Slot("head", None, interface="logits_and_image", provided=("num_classes",), empty="none"),
    }
    FIELDS = {**SLOTS, "backbone": BACKBONE, "backbone_weights": BACKBONE_WEIGHTS, "foreground_weight": POSITIVE}

    def __init__(self, backbone="vit_ti16", image_size=None, num_classes=11, hidden_dim=64, neck="simple_feature_pyramid",
                 head="fpn_segmentation_head", refine=None, backbone_weights=None, foreground_weight=1.0, name="segmenter",
                 dtype=None, **kwargs):
        tokens_model, layout = build_backbone(backbone, backbone_weights, dtype)
        backbone_shape = tuple(tokens_model.inputs[0].shape[1:])
        size = backbone_shape[:2] if image_size is None else pair(image_size)
        images = keras.Input((*size, backbone_shape[2]), name="images")
        backbone_images = images
        if size != backbone_shape[:2]:
            backbone_images = keras.layers.Resizing(*backbone_shape[:2], dtype=dtype, name="backbone_resize")(images)
        levels = self.SLOTS["neck"].build(neck, {
            "output_dim": hidden_dim, "num_prefix_tokens": layout.num_prefix_tokens, "grid_size": layout.grid_size,
        }, dtype=dtype, name="neck")(keras.tree.flatten(tokens_model(backbone_images))[0])
        output_stride = backbone_shape[0] // levels[0].shape[1]
        logits = self.SLOTS["head"].build(head, {
            "num_classes": num_classes, "hidden_dim": hidden_dim, "output_stride": output_stride,
        }, dtype=dtype, name="head")(levels)
        if not self.SLOTS["refine"].is_empty(refine):
            logits = self.SLOTS["refine"].build(refine, {"num_classes": num_classes}, dtype=dtype,
                                                name="refine")((logits, images))
        elif size != backbone_shape[:2]:
            logits = keras.layers.Resizing(*size, dtype="float32", name="logits_resize")(logits)
        super().__init__(inputs=images, outputs=logits, name=name, **kwargs)
        self._store_config(locals())
        self._zoo_config = without_weights_path(self._zoo_config, tokens_model)
        self.layout = task_layout(tokens_model, layout)

    def serving_signatures(self, preprocessing, labels=None, jit_compile=True):
        """The SavedModel contract `keras_vit.export` writes: class ids per pixel at the input's size
        (keras_vit.tasks.serving)."""
        from keras_vit.tasks.serving import SegmentationServing

        return SegmentationServing(self, preprocessing, labels, jit_compile)

    def compile_arguments(self):
        """The loss and metrics keras_vit.train compiles this model with: per-pixel cross-entropy and mean IoU."""
        config = self.get_config()
        return {"loss": pixel_cross_entropy(config["foreground_weight"]), "metrics": [mean_iou_metric(config["num_classes"])]}

    def targets_from_example(self, example):
        """The (height, width) int32 semantic mask of a task data source's example (a dict with "mask";
        TensorFlow, inside tf.data)."""
        import tensorflow as tf

        return tf.cast(example["mask"], tf.int32)
