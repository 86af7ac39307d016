"""`keras_vit.create(name, weights=...)`: build the model the checkpoint describes (unless told otherwise), then
load it strictly. The builder knows nothing of weights; this wraps it."""

from __future__ import annotations

import math

from keras_vit.weights.load import choose_converter, load, prepared_tensors
from keras_vit.weights.manifest import resolve
from keras_vit.weights.readers import read_checkpoint


def _inferred_image_size(spec, converter, tensors):
    """The image size whose patch grid matches the checkpoint's (square) position table, or None."""
    model = spec.model
    for key, prefix in converter.position_keys(tensors).items():
        if key not in tensors:
            continue
        rows = tensors[key].shape[-2] - (prefix if prefix is not None else 1)
        side = math.isqrt(rows)
        if side * side != rows:
            return None
        patch = model.get("patch_size", 16)
        patch = patch[0] if isinstance(patch, (list, tuple)) else patch
        stride = 1
        if spec.family == "vit" and model.get("stem"):
            from keras_vit.models.vit import stem_output_stride

            stride = stem_output_stride(dict(model["stem"]))
        return side * patch * stride
    return None


def create(name, *, weights=None, interpolation="bilinear", progress=None, **kwargs):
    """Creates a zoo model by name and, with `weights`, loads a checkpoint into it.

    Args:
        name: a zoo name ("vit_b16"), an alias ("vit_base_patch16_224") or a YAML spec path.
        weights: None (random initialization), a checkpoint file (`.npz`, `.safetensors`, `.pth`/`.bin`, a
            `.weights.h5` from `keras-vit convert`) or a published checkpoint's `name.tag` from `weights/*.yaml`
            (downloaded with its sha256 checked, where a network exists).
        interpolation: resampling of the position table when image_size differs from the checkpoint's grid,
            "bilinear" (default) or "bicubic".
        progress: optional callable progress(done, total), called while the checkpoint is read.
        **kwargs: as `keras_vit.models.create` (num_classes, image_size, include_top, dtype, any hyperparameter).
            Unless given, num_classes and the pre-logits layer follow the checkpoint and so does image_size
            (from its position table); a different num_classes drops the checkpoint's head with a message.

    Returns:
        A `keras.Model` taking (batch, height, width, channels) images normalized as the weights expect (see
        `keras_vit.preprocessing`).

    Example:
        >>> model = keras_vit.create("vit_b16", weights="ViT-B_16.npz", num_classes=10, image_size=384)
    """
    from keras_vit.models import create as build_model
    from keras_vit.spec import get_spec

    if weights is None:
        return build_model(name, **kwargs)
    checkpoint = read_checkpoint(resolve(weights), progress=progress)
    converter = choose_converter(checkpoint)
    tensors = prepared_tensors(checkpoint, converter)
    spec = get_spec(name)
    if spec.family not in converter.families:
        from keras_vit.weights.protocol import CheckpointError

        raise CheckpointError(
            f"{checkpoint.path} is a {converter.description} checkpoint, for the {'/'.join(converter.families)} "
            f"family, but {name!r} is a {spec.family!r} model."
        )
    from keras_vit.registry import registry

    known = set(registry("model").get(spec.family).config_names())
    if checkpoint.format == "keras_vit_h5":
        stored = checkpoint.metadata["config"]
        # The file stores the whole model config: it is the default for every hyperparameter not given.
        for key, value in stored.items():
            if key in known and key not in ("name", "dtype") and not (key == "num_classes" and kwargs.get("include_top") is False):
                kwargs.setdefault(key, value)
    else:
        classes = converter.num_classes(tensors)
        if kwargs.get("include_top", True) and classes:
            kwargs.setdefault("num_classes", classes)
        representation = converter.representation_dim(tensors)
        if representation and "representation_dim" in known and kwargs.get("num_classes") == classes:
            kwargs.setdefault("representation_dim", representation)
        if "image_size" not in kwargs:
            size = _inferred_image_size(get_spec(name, **{k: v for k, v in kwargs.items() if k in known}),
                                        converter, tensors)
            if size:
                kwargs["image_size"] = size
    model = build_model(name, **kwargs)
    model.weights_report = load(model, checkpoint, interpolation=interpolation)
    return model
