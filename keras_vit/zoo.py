"""The zoo's front door: `create` (the one place a zoo model is assembled, with or without weights) and
`list_models`, and `preprocessing` for a model or for published weights. It sits above models/ and weights/; training, export, explain and the command line build through it."""

from keras_vit import preprocessing as preprocessing_lib
from keras_vit import weights as weights_lib
from keras_vit.models.builder import build
from keras_vit.spec import get_spec, list_names


def list_models(pattern="*", include_aliases=True):
    """Sorted zoo model names matching the fnmatch `pattern` ("vit_*", "*tnt*"); a model also matches through its
    aliases (timm's names) when include_aliases is True."""
    return list_names(pattern, include_aliases=include_aliases)


def create(name, *, weights=None, include_top=True, name_override=None, dtype=None, interpolation="bilinear",
           progress=None, **overrides):
    """Creates a zoo model by name, alias or YAML path, with hyperparameter overrides and optionally weights.

    Args:
        name: a zoo name ("vit_b16"), an alias ("vit_base_patch16_224"), the path of a YAML spec file or a
            `ModelSpec` (e.g. `get_spec("vit_b16").tiny_spec()`); or a published checkpoint's name, ours or timm's
            ("vit_base_patch16_224.augreg2_in21k_ft_in1k"), for that model with those weights.
        weights: None (random initialization), a checkpoint file (`.npz`, `.safetensors`, `.pth`/`.bin`, a
            `.weights.h5` from `keras-vit convert`, a `.keras` that keras_vit wrote: `model.save`, a training run's
            `model.keras` or `checkpoints/epoch_NNN.keras`), a published checkpoint from `weights/*.yaml` by its tag
            ("augreg2_in21k_ft_in1k"), `name.tag`, timm's name or "hf://timm/<timm's name>" (downloaded once, see
            `keras_vit.weights.resolve`; the model takes its size, classes and constants), or a plain
            `model.save_weights` file of this very architecture (read by Keras's `load_weights`). The original ViT
            release's `.npz` files build with its tanh GELU (use_approximate_gelu=True) unless you say otherwise.
        include_top: False drops the classifier and returns pooled features (same as num_classes=0).
        name_override: the Keras model name (defaults to the spec's name).
        dtype: a dtype policy name for the layers (e.g. "mixed_bfloat16"); the global policy when None.
        interpolation: resampling of the position table when image_size differs from the checkpoint's grid,
            "bilinear" (default) or "bicubic".
        progress: optional callable progress(done, total), called while the checkpoint is read.
        **overrides: model hyperparameters of the spec's family, e.g. num_classes=10, image_size=384,
            position_encoding="learned_2d", drop_path_rate=0.1, dynamic_image_size=True (images of any size the
            patches tile, docs/resolution.md). With `weights`, those not given follow the checkpoint (num_classes,
            the pre-logits layer, image_size from its position table, position_interpolation from its source); a
            different num_classes drops the checkpoint's head with a message.

    Returns:
        A `keras.Model` taking (batch, height, width, channels) float images; with `weights` it has a
        `weights_report` attribute (a `keras_vit.weights.LoadReport`) and expects images normalized as the weights
        expect (see `keras_vit.preprocessing`).

    Example:
        >>> model = keras_vit.create("vit_b16", num_classes=10, image_size=384)
        >>> tuned = keras_vit.create("vit_b16", weights="ViT-B_16.npz", num_classes=10, image_size=384)
    """
    if not include_top:
        overrides["num_classes"] = 0
    checkpoint = None
    if weights is None and isinstance(name, str) and (entry := weights_lib.find_weights(name)):
        name, weights = entry.model, entry
    plain_keras_weights = isinstance(weights, str) and weights.endswith(".weights.h5") and (
        not weights_lib.is_keras_vit_weights_file(weights))
    if weights is not None and not plain_keras_weights:
        model_name = get_spec(name).name
        if entry := weights_lib.find_weights(weights, model_name):  # what the file needs, unless given otherwise
            needs = {"image_size": entry.image_size, "num_classes": entry.num_classes, **(entry.overrides or {})}
            overrides = {**needs, **overrides, **{k: {**v, **overrides[k]} for k, v in needs.items()
                                                  if isinstance(v, dict) and isinstance(overrides.get(k), dict)}}
        checkpoint = weights_lib.read_checkpoint(weights_lib.resolve(weights, model=model_name), progress=progress)
        overrides = weights_lib.spec_overrides(checkpoint, get_spec(name), overrides)
    spec = get_spec(name, **overrides)
    model = build(spec, name=name_override or spec.name, dtype=dtype)  # dtype None: the global policy
    if checkpoint is not None:
        model.weights_report = weights_lib.load(model, checkpoint, interpolation=interpolation)
    elif plain_keras_weights:
        weights_lib.load_keras_weights(model, weights)
    return model


def preprocessing(name_or_model, mean=None, std=None, interpolation="bilinear"):
    """The `ImagePreprocessing` layer of published weights, by tag ("vit_b16.augreg2_in21k_ft_in1k", timm's name):
    their size, mean/std, interpolation and central crop; or of a model (see `keras_vit.preprocessing.preprocessing`).

    Example:
        >>> prep = keras_vit.preprocessing("vit_base_patch16_224.augreg2_in21k_ft_in1k")   # 248 -> 224 crop, bicubic
    """
    if isinstance(name_or_model, str) and weights_lib.find_weights(name_or_model):
        return weights_lib.preprocessing_for(name_or_model)
    return preprocessing_lib.preprocessing(name_or_model, mean, std, interpolation)
