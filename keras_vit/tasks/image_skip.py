"""A full-resolution skip from the input image into a segmentation head's logits (U-Net style)."""

import keras
from keras import ops

from keras_vit.layers._arguments import ConfigFromArguments
from keras_vit.registry import register


@register("head", "image_skip_refine")
class ImageSkipRefine(ConfigFromArguments, keras.layers.Layer):
    """Refines coarse logits with the image itself: the logits (upsampled to the image) and the image go through
    `num_layers` 3x3 conv + ReLU layers at full resolution, whose 1x1 projection is added to the logits.

    Why: a pyramid's finest level has stride 4 (a patch-16 backbone; 2 for patch 8), and bilinear logits from it
    cannot follow edges thinner than that. Even perfect stride-4 logits, the class masks averaged over 4x4 cells
    and upsampled, reach only about 0.82 mean IoU on thin digit strokes (docs/segmentation.md); the image's own
    pixels say where a stroke's edge is, the coarse logits which digit it belongs to.

    Args:
        num_classes: int, classes per pixel.
        hidden_dim: int, channels of the full-resolution convs.
        num_layers: int >= 1, 3x3 conv layers.

    Call arguments:
        inputs: (logits (batch, rows, columns, num_classes), images (batch, height, width, channels)); rows and
            columns divide height and width.

    Returns:
        (batch, height, width, num_classes) float32 logits.
    """

    interface = "logits_and_image"
    output_dtype = "float32"

    def __init__(self, num_classes=11, hidden_dim=16, num_layers=2, **kwargs):
        super().__init__(**kwargs)
        if not (isinstance(num_layers, int) and num_layers >= 1):
            raise ValueError(f"image_skip_refine: num_layers must be an int >= 1; received {num_layers!r}.")
        self.num_classes = num_classes
        self.hidden_dim = hidden_dim
        self.num_layers = num_layers

    def build(self, input_shape):
        logits_shape, image_shape = (tuple(s) for s in input_shape)
        policy = self.dtype_policy
        self.convs = [keras.layers.Conv2D(self.hidden_dim, 3, padding="same", activation="relu", dtype=policy,
                                          name=f"conv_{i}") for i in range(self.num_layers)]
        channels = logits_shape[-1] + image_shape[-1]
        for conv in self.convs:
            conv.build((None, None, None, channels))
            channels = self.hidden_dim
        # Starts as the identity on the logits: the refinement learns a correction, not the whole answer.
        self.projection = keras.layers.Conv2D(self.num_classes, 1, kernel_initializer="zeros", dtype=policy,
                                              name="projection")
        self.projection.build((None, None, None, channels))

    def call(self, inputs):
        logits, images = inputs
        size = (images.shape[1], images.shape[2])
        if (logits.shape[1], logits.shape[2]) != size:
            logits = ops.image.resize(logits, size, interpolation="bilinear")
        x = ops.concatenate([ops.cast(logits, self.compute_dtype), ops.cast(images, self.compute_dtype)], axis=-1)
        for conv in self.convs:
            x = conv(x)
        return ops.cast(logits, "float32") + ops.cast(self.projection(x), "float32")

    def compute_output_shape(self, input_shape):
        logits_shape, image_shape = input_shape
        return (*tuple(image_shape)[:3], self.num_classes)
