"""What a checkpoint says about the model it fits: spec overrides for `keras_vit.create(name, weights=...)`.

This module reads checkpoints and specs only; building the model is the models package's job.
"""

from __future__ import annotations

import math

from keras_vit.models.vit import stem_output_stride
from keras_vit.registry import registry
from keras_vit.weights.load import check_family, choose_converter, prepared_tensors
from keras_vit.weights.protocol import is_keras_vit_file


def _pixels_per_token(model):
    """The image pixels along one side of a token: the patch size times the stride of the model's stem, if any."""
    patch = model.get("patch_size", 16)
    # Hybrids tokenize the stem's feature map, so a token covers patch * stride pixels of the image.
    return (patch[0] if isinstance(patch, (list, tuple)) else patch) * stem_output_stride(model.get("stem") or None)


def _inferred_image_size(spec, converter, tensors):
    """The image size whose patch grid matches the checkpoint's (square) position table, or None."""
    for key, prefix in converter.position_keys(tensors).items():
        if key in tensors:
            rows = tensors[key].shape[-2] - (prefix if prefix is not None else 1)
            side = math.isqrt(rows)
            return side * _pixels_per_token(spec.model) if side * side == rows else None
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
    tensors = prepared_tensors(checkpoint, converter)
    known = set(registry("model").get(spec.family).config_names())
    result = dict(overrides)
    if is_keras_vit_file(checkpoint):
        stored = checkpoint.metadata["config"]
        result.update({k: v for k, v in stored.items() if k in known and k not in ("name", "dtype", *result)})
        return result
    for name, value in converter.architecture_overrides(tensors).items():
        if name in known:
            result.setdefault(name, value)
    if converter.position_interpolation and "position_interpolation" in known:
        # a dynamic model then resamples its positions as the checkpoint's source does, and gives its outputs
        result.setdefault("position_interpolation", converter.position_interpolation)
    classes = converter.num_classes(tensors)
    if classes:
        result.setdefault("num_classes", classes)
    representation = converter.representation_dim(tensors)
    if representation and "representation_dim" in known and result.get("num_classes") == classes:
        result.setdefault("representation_dim", representation)
    if "image_size" not in result:
        size = _inferred_image_size(spec.with_overrides(**result), converter, tensors)
        if size:
            result["image_size"] = size
    return result
