"""A light FPN head for semantic segmentation on a feature pyramid."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register
from keras_vit.schema import POSITIVE_INT, list_of


@register("head", "fpn_segmentation_head")
class FPNSegmentationHead(ConfigFromArguments, keras.layers.Layer):
    """The semantic branch of Panoptic FPN on a pyramid: every level goes through a 3x3 conv + GroupNorm + ReLU and is
    upsampled by 2 until it reaches the finest level's size; the levels are summed, classified per pixel by a 1x1
    conv and upsampled to the image. Light enough for a CPU, and it reads every level of the simple feature pyramid
    (SETR's progressive upsampling reads one map; UPerNet adds a pyramid pooling module and fusion convs).

    Args:
        num_classes: int, classes per pixel (background included).
        hidden_dim: int, channels of the branch.
        output_stride: int, image pixels per pixel of the finest level (4 for the simple feature pyramid of a
            patch-16 backbone); the logits are upsampled by it.
        context_dilations: dilation rates of extra 3x3 conv + GroupNorm + ReLU layers on the summed map before the
            classifier (default none). Why: they let each pixel see a whole object at the finest level, so that
            one object's pixels are named with one class (docs/segmentation.md).

    Call arguments:
        levels: list of maps (batch, rows_i, columns_i, channels), finest first, each level half the previous.

    Returns:
        (batch, output_stride * rows_0, output_stride * columns_0, num_classes) float32 logits.

    Reference:
        Kirillov, Girshick, He, Dollar, "Panoptic Feature Pyramid Networks", 2019.
    """

    interface = "feature_pyramid"
    output_dtype = "float32"  # logits leave a mixed policy in float32, as the classifier's do
    FIELDS = {"context_dilations": list_of(POSITIVE_INT, "a list of dilation rates, e.g. [1, 2]")}

    def __init__(self, num_classes=11, hidden_dim=64, output_stride=4, context_dilations=(), **kwargs):
        super().__init__(**kwargs)
        self.context_dilations = tuple(context_dilations)
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.output_stride = output_stride

    def build(self, levels_shape):
        policy = self.dtype_policy
        self.branches = []
        for level, shape in enumerate(levels_shape):
            branch, shape = [], tuple(shape)
            for step in range(max(level, 1)):
                conv = keras.layers.Conv2D(self.hidden_dim, 3, padding="same", use_bias=False, dtype=policy,
                                           name=f"level_{level}_conv_{step}")
                norm = keras.layers.GroupNormalization(min(32, self.hidden_dim), dtype=policy,
                                                       name=f"level_{level}_norm_{step}")
                conv.build(shape)
                shape = conv.compute_output_shape(shape)
                norm.build(shape)
                branch.append((conv, norm, level > 0))
                if level > 0:
                    shape = (shape[0], shape[1] * 2, shape[2] * 2, shape[3])
            self.branches.append(branch)
        self.context = []
        for i, rate in enumerate(self.context_dilations):
            conv = keras.layers.Conv2D(self.hidden_dim, 3, padding="same", dilation_rate=rate, use_bias=False,
                                       dtype=policy, name=f"context_conv_{i}")
            norm = keras.layers.GroupNormalization(min(32, self.hidden_dim), dtype=policy, name=f"context_norm_{i}")
            conv.build((None, None, None, self.hidden_dim))
            norm.build((None, None, None, self.hidden_dim))
            self.context.append((conv, norm))
        self.classifier = keras.layers.Conv2D(self.num_classes, 1, dtype=policy, name="classifier")
        self.classifier.build((None, None, None, self.hidden_dim))

    def call(self, levels):
        total = None
        for x, branch in zip(levels, self.branches):
            for conv, norm, upsample in branch:
                x = ops.relu(norm(conv(x)))
                if upsample:
                    x = ops.image.resize(x, (x.shape[1] * 2, x.shape[2] * 2), interpolation="bilinear")
            total = x if total is None else total + x
        for conv, norm in self.context:
            total = ops.relu(norm(conv(total)))
        logits = ops.cast(self.classifier(total), "float32")
        rows, columns = logits.shape[1], logits.shape[2]
        return ops.image.resize(logits, (rows * self.output_stride, columns * self.output_stride),
                                interpolation="bilinear")
