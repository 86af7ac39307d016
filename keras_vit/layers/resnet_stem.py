"""The ResNet stem of the ViT hybrids: a BiT-style ResNet (root and stages of bottleneck units) as a single layer."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments, built
from keras_vit.layers.resnet_root import ResNetParts, ResNetRoot
from keras_vit.layers.std_conv2d import EPSILON_MODES, PADDINGS, ceil_div
from keras_vit.registry import register, registry
from keras_vit.schema import one_of, registered

ROOT_STRIDE = 4


def stage_plan(stage_sizes, width_factor):
    """[(unit name, bottleneck width, stride), ...] of a BiT ResNet: stage i has width 64 * width_factor * 2**i;
    its first unit has stride 2 (1 in the first stage), so each stage after the first halves the resolution."""
    width = 64 * width_factor
    plan = []
    for stage, size in enumerate(stage_sizes):
        for unit in range(size):
            stride = 2 if stage > 0 and unit == 0 else 1
            plan.append((f"block{stage + 1}_unit{unit + 1}", width * 2**stage, stride))
    return plan


def resnet_macs(image_size, num_channels, stage_sizes, width_factor):
    """Multiply-accumulates of the convolutions of a BiT ResNet root and stages for one image of
    `image_size` = (height, width) (sizes round up, with "same" and "symmetric" padding alike), and the
    (height, width, channels) it outputs.
    Normalizations, activations and pooling are not counted (as in timm's and the papers' figures)."""
    height, width = ceil_div(image_size[0], 2), ceil_div(image_size[1], 2)
    channels = 64 * width_factor
    macs = height * width * 7 * 7 * num_channels * channels
    height, width = ceil_div(height, 2), ceil_div(width, 2)
    for _, filters, stride in stage_plan(stage_sizes, width_factor):
        out_height, out_width, out_channels = ceil_div(height, stride), ceil_div(width, stride), filters * 4
        if channels != out_channels or stride != 1:
            macs += out_height * out_width * channels * out_channels
        macs += height * width * channels * filters
        macs += out_height * out_width * 9 * filters * filters
        macs += out_height * out_width * filters * out_channels
        height, width, channels = out_height, out_width, out_channels
    return macs, (height, width, channels)


@register("stem", "bit_resnet_stem")
class ResNetStem(ConfigFromArguments, ResNetParts, keras.layers.Layer):
    """A ResNet of BiT's design as the stem of a hybrid ViT: root (7x7/2 conv, 3x3/2 max-pool) and stages of
    bottleneck units with GroupNorm and weight-standardized convolutions; the ViT then embeds its feature map.

    The ViT release's hybrids use post-activation units ("bottleneck") with stages (3, 4, 9) for R50+ViT-B/16
    (output stride 16), (3, 4, 6, 3) for R50+ViT-L/32 and (2, 2, 2, 2) for R26+ViT-S/32 (output stride 32), and no
    stages at all (the root alone, output stride 4) for R+ViT-Ti/16 with 8x8 patches.

    Args:
        stage_sizes: list of unit counts per stage; [] keeps only the root.
        width_factor: int, multiplies every width (root 64 * width_factor channels).
        block: registered block name of the units, "bottleneck" (post-activation) or "preact_bottleneck" (then a
            final GroupNorm + ReLU follows the last unit).
        num_groups: int, GroupNorm groups.
        group_norm_epsilon: float (1e-6 in the ViT release).
        std_conv_epsilon: float (1e-5 in the ViT release).
        std_conv_epsilon_mode: "std" (the ViT release) or "variance" (timm, BiT); see StdConv2D.
        padding: "same" (TensorFlow/JAX SAME, the ViT release's hybrids and timm's) or "symmetric" (fixed zero
            padding of the BiT release), for the root and every unit; see ResNetRoot and StdConv2D.

    Call arguments:
        inputs: images of shape (batch, height, width, channels).

    Returns:
        A feature map of shape (batch, ceil(height / s), ceil(width / s), channels) with s = output_stride_of(...)
        and channels = 64 * width_factor * 2**(len(stage_sizes) + 1) (64 * width_factor without stages).

    Reference:
        Dosovitskiy et al., "An Image is Worth 16x16 Words", 2021, section 3.1 (hybrid architecture);
        Kolesnikov et al., "Big Transfer (BiT)", 2020.
    """

    # What it takes and returns; a slot of another interface rejects it when the spec loads.
    interface = "feature_map"
    # What a spec may set in the stem slot beyond keras_vit.schema.GLOSSARY's names.
    FIELDS = {"block": registered("block"), "padding": one_of(*PADDINGS), "std_conv_epsilon_mode": one_of(*EPSILON_MODES)}

    def __init__(self, stage_sizes=(3, 4, 9), width_factor=1, block="bottleneck", num_groups=32,
                 group_norm_epsilon=1e-6, std_conv_epsilon=1e-5, std_conv_epsilon_mode="std", padding="same",
                 **kwargs):
        super().__init__(**kwargs)
        self.keep_arguments(locals())
        self.stage_sizes = tuple(stage_sizes)
        self.block_cls = registry("block").get(block)

    @classmethod
    def output_stride_of(cls, kwargs):
        """The downsampling factor of a stem with these constructor arguments (4 for the root, x2 per stage after
        the first)."""
        return ROOT_STRIDE * 2 ** max(len(kwargs.get("stage_sizes", (3, 4, 9))) - 1, 0)

    @classmethod
    def macs_of(cls, kwargs, image_size, num_channels):
        """(multiply-accumulates for one image, output (height, width, channels)) of a stem with these arguments."""
        return resnet_macs(image_size, num_channels, kwargs.get("stage_sizes", (3, 4, 9)), kwargs.get("width_factor", 1))

    def _layer_kwargs(self):
        names = ("num_groups", "group_norm_epsilon", "std_conv_epsilon", "std_conv_epsilon_mode", "padding")
        return {name: getattr(self, name) for name in names}

    def build(self, input_shape):
        shape = tuple(input_shape)
        preact = getattr(self.block_cls, "is_preactivation", False)
        self.root = built(ResNetRoot(
            64 * self.width_factor, use_norm=not preact, **self._layer_kwargs(), dtype=self.dtype_policy, name="root"
        ), shape)
        shape = self.root.compute_output_shape(shape)
        self.units = []
        for name, filters, strides in stage_plan(self.stage_sizes, self.width_factor):
            self.units.append(built(self.block_cls(filters, strides, **self._layer_kwargs(), dtype=self.dtype_policy,
                                                   name=name), shape))
            shape = self.units[-1].compute_output_shape(shape)
        self.norm = self._norm("norm", shape) if preact else None

    def call(self, inputs):
        x = self.root(inputs)
        for unit in self.units:
            x = unit(x)
        if self.norm is not None:
            x = ops.relu(self.norm(x))
        return x

    def compute_output_shape(self, input_shape):
        stride = self.output_stride_of({"stage_sizes": self.stage_sizes})
        channels = 64 * self.width_factor * (2 ** (len(self.stage_sizes) + 1) if self.stage_sizes else 1)
        return (input_shape[0], ceil_div(input_shape[1], stride), ceil_div(input_shape[2], stride), channels)
