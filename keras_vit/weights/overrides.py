"""What a checkpoint says about the model it fits: spec overrides for `keras_vit.create(name, weights=...)`.

This module reads checkpoints and specs only; building the model is the models package's job.
"""

import math

from keras_vit.models.vit import stem_output_stride
from keras_vit.registry import registry
from keras_vit.weights.load import check_family, choose_converter
from keras_vit.weights.protocol import KERAS_VIT_FORMATS, is_square


def _inferred_image_size(spec, converter, tensors):
    """The image size whose patch grid matches the checkpoint's (square) position table, or None."""
    patch = spec.model.get("patch_size", 16)
    # Hybrids tokenize the stem's feature map, so a token covers patch * stride pixels of the image.
    pixels = (patch[0] if isinstance(patch, (list, tuple)) else patch) * stem_output_stride(spec.model.get("stem") or None)
    for key, prefix in converter.position_keys(tensors).items():
        if key in tensors and is_square(rows := tensors[key].shape[-2] - prefix):
            return math.isqrt(rows) * pixels
    return None


def spec_overrides(checkpoint, spec, overrides):
    """The model overrides under which `spec` builds a model that `checkpoint` loads into.

    Hyperparameters the caller gave always win. For the others, a file keras_vit wrote (a `.weights.h5` from
    `keras-vit convert`, a `.keras` from `model.save` or `keras-vit train`) supplies its whole stored model config;
    any other checkpoint supplies num_classes and the pre-logits width of its head, image_size from its position
    table, and what its converter's `architecture_overrides` declares about the code that trained it (the original
    ViT release's tanh GELU: use_approximate_gelu=True) and the way its source resamples position tables for other
    image sizes (`position_interpolation`: "bicubic" from timm, "bilinear" from the original release).

    Args:
        checkpoint: a `Checkpoint` from `read_checkpoint`.
        spec: the `ModelSpec` to build, without the caller's overrides.
        overrides: {hyperparameter: value} given by the caller; num_classes=0 means no classifier.

    Returns:
        A new dict: `overrides` plus what the checkpoint implies.

    Raises:
        CheckpointError: the checkpoint is of another model family than the spec.
    """
    converter = choose_converter(checkpoint)
    check_family(checkpoint, converter, spec.family, f"{spec.name!r} is a {spec.family!r} model")
    tensors = converter.prepare(checkpoint.tensors)
    known = set(registry("model").get(spec.family).config_names())
    result = dict(overrides)
    if checkpoint.format in KERAS_VIT_FORMATS:
        stored = checkpoint.metadata["config"]
        result.update({k: v for k, v in stored.items() if k in known and k not in ("name", "dtype", *result)})
        return result
    # with position_interpolation, a dynamic model resamples its positions as the checkpoint's source does
    implied = {**converter.architecture_overrides(tensors), "position_interpolation": converter.position_interpolation}
    for name, value in implied.items():
        if name in known and value is not None:
            result.setdefault(name, value)
    classes = converter.num_classes(tensors)
    if classes:
        result.setdefault("num_classes", classes)
    representation = converter.representation_dim(tensors)
    if representation and "representation_dim" in known and result.get("num_classes") == classes:
        result.setdefault("representation_dim", representation)
    if "image_size" not in result and (size := _inferred_image_size(spec.with_overrides(**result), converter, tensors)):
        result["image_size"] = size
    return result
