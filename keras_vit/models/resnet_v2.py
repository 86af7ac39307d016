"""The BiT ResNet family ("resnet_v2"): pre-activation ResNets with GroupNorm and weight standardization."""

import keras

from keras_vit.layers.group_norm import GroupNorm
from keras_vit.layers.resnet_root import ResNetRoot
from keras_vit.layers.resnet_stem import resnet_macs, stage_plan
from keras_vit.layers.std_conv2d import EPSILON_MODES, PADDINGS
from keras_vit.models.layout import ModelLayout, built_fields
from keras_vit.models.zoo_model import ZooModel, provided
from keras_vit.registry import Slot, register
from keras_vit.schema import check_family_arguments, one_of, pair

POOLINGS = ("gap", "none")


@register("model", "resnet_v2")
class ResNetV2(ZooModel):
    """BiT ResNet: root, stages of bottleneck units, a final GroupNorm + ReLU (pre-activation units), global
    average pooling and a dense classifier. ResNet-50 is stage_sizes [3, 4, 6, 3], ResNet-101 [3, 4, 23, 3],
    ResNet-152 [3, 8, 36, 3]; BiT-R50x3 multiplies every width by 3.

    Layer names: `root`, `block{s}_unit{u}` (1-based, as in the BiT release), `norm` (pre-activation only),
    `pooling`, `head`.

    Args:
        image_size: int or (height, width) of the input images.
        num_channels: int, image channels.
        stage_sizes: list of unit counts per stage.
        width_factor: int, multiplies every width (root 64 * width_factor channels, last stage
            2048 * width_factor).
        block: registered block name of the units, "preact_bottleneck" (BiT) or "bottleneck" (post-activation).
        num_classes: int, classifier outputs; 0 returns the pooled features.
        pooling: "gap" (global average pooling) or "none" (the final feature map; needs num_classes=0).
        classifier_activation: None (logits) or an activation name such as "softmax".
        num_groups: int, GroupNorm groups.
        group_norm_epsilon: float.
        std_conv_epsilon: float, see StdConv2D.
        std_conv_epsilon_mode: "variance" or "std", see StdConv2D.
        padding: "symmetric" (fixed zero padding, 3 before and after the root 7x7 convolution, 1 before the max-pool
            and the 3x3 convolutions: the BiT release and timm's `resnetv2_*_bit`) or "same" (TensorFlow/JAX SAME,
            as timm's `stem_type="same"` ResNetV2). Shapes and parameters are the same either way; outputs differ.
        dynamic_image_size: bool (default False): True takes images of any height and width (a ResNet has no
            position table: its convolutions and average pooling follow the size).

    Call arguments:
        images: float tensor of shape (batch, height, width, num_channels).

    Returns:
        (batch, num_classes) logits; (batch, 2048 * width_factor) features when num_classes=0; the feature map
        (batch, height / 32, width / 32, 2048 * width_factor) with pooling="none" (for 4 stages).

    Reference:
        Kolesnikov et al., "Big Transfer (BiT): General Visual Representation Learning", 2020;
        He et al., "Identity Mappings in Deep Residual Networks", 2016.
    """

    SLOTS = {
        "block": Slot("block", "preact_bottleneck", interface="feature_map", provided=(
            "filters", "strides", "num_groups", "group_norm_epsilon", "std_conv_epsilon", "std_conv_epsilon_mode",
            "padding",
        )),
    }
    FIELDS = {**SLOTS, "pooling": one_of(*POOLINGS), "padding": one_of(*PADDINGS),
              "std_conv_epsilon_mode": one_of(*EPSILON_MODES)}  # the others: keras_vit.schema.GLOSSARY

    def __init__(self, image_size=224, num_channels=3, stage_sizes=(3, 4, 6, 3), width_factor=1,
                 block="preact_bottleneck", num_classes=1000, pooling="gap", classifier_activation=None,
                 num_groups=32, group_norm_epsilon=1e-5, std_conv_epsilon=1e-10, std_conv_epsilon_mode="variance",
                 padding="symmetric", dynamic_image_size=False, name="resnet_v2", dtype=None, **kwargs):
        check_family_arguments(type(self), locals())
        image_size = pair(image_size)
        stage_sizes = list(stage_sizes)
        block_cls, _ = self.SLOTS["block"].component(block)
        preact = getattr(block_cls, "is_preactivation", False)
        layer_kwargs = provided(self.SLOTS["block"], locals())  # all but filters and strides

        images = keras.Input((None, None, num_channels) if dynamic_image_size else (*image_size, num_channels),
                             name="images", dtype="float32")
        x = ResNetRoot(64 * width_factor, use_norm=not preact, **layer_kwargs, dtype=dtype, name="root")(images)
        units = []
        for unit_name, filters, strides in stage_plan(stage_sizes, width_factor):
            x = self.SLOTS["block"].build(
                block, {"filters": filters, "strides": strides, **layer_kwargs}, dtype=dtype, name=unit_name
            )(x)
            units.append(unit_name)
        if preact:
            x = GroupNorm(num_groups, group_norm_epsilon, dtype=dtype, name="norm")(x)
            x = keras.layers.Activation("relu", dtype=dtype, name="norm_relu")(x)
        if pooling == "gap":
            x = keras.layers.GlobalAveragePooling2D(dtype=dtype, name="pooling")(x)
        if num_classes:
            # BiT initializes the head to zeros. The outputs pass a float32 activation so that a mixed-precision
            # model still returns float32 logits or probabilities.
            x = keras.layers.Dense(num_classes, kernel_initializer="zeros", dtype=dtype, name="head")(x)
            x = keras.layers.Activation(classifier_activation or "linear", dtype="float32", name="predictions")(x)
        super().__init__(inputs=images, outputs=x, name=name, **kwargs)
        self._store_config(locals())
        head = {"head": "head", "head_variables": ("head/kernel", "head/bias")} if num_classes else {}
        self.layout = ModelLayout(
            blocks=tuple(units), stem=("root",), pooled="pooling" if pooling == "gap" else None,
            dynamic_image_size=dynamic_image_size, **built_fields(self),
            block_stages=tuple((s, u) for s, size in enumerate(stage_sizes) for u in range(size)), **head,
        )

    @classmethod
    def macs_of(cls, config):
        """Multiply-accumulates of one forward pass on one image (convolutions and the classifier)."""
        config = {**cls.config_defaults(), **config}
        image_size = pair(config["image_size"])
        macs, (_, _, channels) = resnet_macs(
            image_size, config["num_channels"], config["stage_sizes"], config["width_factor"]
        )
        return macs + channels * config["num_classes"]

    @staticmethod
    def check_hyperparameters(**config):
        if not config["stage_sizes"]:
            raise ValueError("`stage_sizes` must list at least one stage, e.g. [3, 4, 6, 3]; received [].")
        if config["pooling"] == "none" and config["num_classes"]:
            raise ValueError("pooling='none' returns the feature map and cannot feed a classifier: set num_classes=0.")
