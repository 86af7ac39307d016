"""The image preprocessing a model's weights expect: resize, then normalize [0, 255] pixels.

Every zoo family was published with inputs scaled to [-1, 1] (mean = std = 0.5 on [0, 1] pixels: the original ViT
and BiT releases, and timm's configurations of ViT, the hybrids and TNT). A checkpoint with other statistics (DeiT's
ImageNet mean and std, say) passes its own `mean` and `std`.
"""

import math

import keras
from keras import ops

from keras_vit.registry import register

# Normalization of [0, 1] pixels used by every family's published weights unless a checkpoint says otherwise.
DEFAULT_MEAN = (0.5, 0.5, 0.5)
DEFAULT_STD = (0.5, 0.5, 0.5)


def _per_channel(name, value, channels):
    values = [float(value)] * channels if isinstance(value, (int, float)) else [float(v) for v in value]
    if len(values) != channels:
        raise ValueError(f"ImagePreprocessing: `{name}` needs 1 or {channels} values; received {value!r}.")
    if name == "std" and any(v <= 0 for v in values):
        raise ValueError(f"ImagePreprocessing: every `std` value must be positive; received {value!r}.")
    return tuple(values)


@register("layer", "image_preprocessing")
class ImagePreprocessing(keras.layers.Layer):
    """Resizes images to the model's size and maps [0, 255] pixels to the model's input range.

    Args:
        image_size: (height, width) the model takes, or one int for a square.
        mean, std: normalization of [0, 1] pixels, one value or one per channel: out = (x / 255 - mean) / std.
        interpolation: resize interpolation ("bilinear" or "bicubic").
        num_channels: channels of the images (3 for RGB).
        crop_pct: None to resize to image_size; else resize to floor(image_size / crop_pct) and keep the central
            image_size, as timm evaluates its weights (their tags' crop_pct, 0.9 for most).

    Call arguments:
        images: float or integer pixels in [0, 255], shape (batch, any height, any width, num_channels).

    Returns:
        float32 (or the layer's compute dtype) images of shape (batch, height, width, num_channels).
    """

    def __init__(self, image_size, mean=DEFAULT_MEAN, std=DEFAULT_STD, interpolation="bilinear", num_channels=3,
                 crop_pct=None, **kwargs):
        super().__init__(**kwargs)
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(int(s) for s in image_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f"ImagePreprocessing: image_size must be an int or (height, width); received {image_size!r}.")
        if interpolation not in ("bilinear", "bicubic"):
            raise ValueError(f"ImagePreprocessing: interpolation must be 'bilinear' or 'bicubic'; received {interpolation!r}.")
        self.image_size = size
        self.num_channels = int(num_channels)
        self.mean = _per_channel("mean", mean, self.num_channels)
        self.std = _per_channel("std", std, self.num_channels)
        self.interpolation = interpolation
        if crop_pct is not None and not 0 < crop_pct <= 1:
            raise ValueError(f"ImagePreprocessing: crop_pct must be in (0, 1]; received {crop_pct!r}.")
        self.crop_pct = crop_pct

    def call(self, images):
        if images.shape[-1] is not None and images.shape[-1] != self.num_channels:
            raise ValueError(
                f"ImagePreprocessing: expected images with {self.num_channels} channels, received shape {images.shape}."
            )
        images = ops.cast(images, self.compute_dtype)
        outer = tuple(math.floor(s / (self.crop_pct or 1)) for s in self.image_size)
        if tuple(images.shape[1:3]) != outer:
            images = ops.image.resize(images, outer, interpolation=self.interpolation, antialias=False)
        (top, left), (height, width) = ((o - s) // 2 for o, s in zip(outer, self.image_size)), self.image_size
        return self.normalize(images[:, top : top + height, left : left + width])

    def normalize(self, images):
        """The normalization alone, for images kept at their own size (a model with dynamic_image_size): [0, 255]
        pixels of shape (batch, height, width, num_channels) -> (x / 255 - mean) / std, same shape."""
        images = ops.cast(images, self.compute_dtype)
        mean = ops.convert_to_tensor(self.mean, dtype=self.compute_dtype)
        std = ops.convert_to_tensor(self.std, dtype=self.compute_dtype)
        return (images / 255.0 - mean) / std

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.image_size, self.num_channels)

    def get_config(self):
        return {**super().get_config(), "image_size": list(self.image_size), "mean": list(self.mean),
                "std": list(self.std), "interpolation": self.interpolation, "num_channels": self.num_channels, "crop_pct": self.crop_pct}


def preprocessing(name_or_model, mean=None, std=None, interpolation="bilinear"):
    """The `ImagePreprocessing` layer for a zoo model (by name, alias, spec or built model).

    Args:
        name_or_model: "vit_b16", a `ModelSpec`, or a model from `keras_vit.create`.
        mean, std: override the normalization (defaults: the family's published 0.5 / 0.5).
        interpolation: "bilinear" (default) or "bicubic".

    Returns:
        An `ImagePreprocessing` layer: [0, 255] images of any size -> the model's (batch, H, W, C) input.

    Example:
        >>> prep = keras_vit.preprocessing("vit_b16")
        >>> prep(np.zeros((2, 500, 375, 3), "uint8")).shape
        TensorShape([2, 224, 224, 3])
    """
    if isinstance(name_or_model, keras.Model):
        shape = tuple(name_or_model.inputs[0].shape)
        if len(shape) != 4:
            raise ValueError(f"Model {name_or_model.name!r} takes inputs of shape {shape}, not images (batch, height, "
                             "width, channels): image preprocessing and export need a model of images.")
        _, height, width, channels = shape
        size = (height, width)
        if height is None or width is None:  # dynamic_image_size: resize to the size the model was made for
            size = name_or_model.get_config()["image_size"]
    else:
        from keras_vit.spec import ModelSpec, get_spec

        spec = name_or_model if isinstance(name_or_model, ModelSpec) else get_spec(name_or_model)
        size, channels = spec.model.get("image_size", 224), spec.model.get("num_channels", 3)
    return ImagePreprocessing(size, mean=DEFAULT_MEAN[0] if mean is None else mean,
                              std=DEFAULT_STD[0] if std is None else std, interpolation=interpolation,
                              num_channels=channels)
