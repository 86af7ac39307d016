"""From a validated spec to a Keras model: the one module that knows both specs and Keras."""

from __future__ import annotations

from keras_vit.registry import registry
from keras_vit.spec import ModelSpec, get_spec, thaw

# Arguments of `create` that are not model hyperparameters.
_INCLUDE_TOP = "include_top"


def build(spec, **keras_kwargs):
    """Builds the Keras model of a validated `ModelSpec` (its family class with the spec's model section).

    Args:
        spec: a `ModelSpec`.
        **keras_kwargs: Keras arguments such as `name` or `dtype`.

    Returns:
        A functional `keras.Model` (a `ZooModel` subclass) named after the spec.
    """
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"build() takes a ModelSpec (see keras_vit.get_spec); received {type(spec).__name__}.")
    family_cls = registry("model").get(spec.family)
    keras_kwargs.setdefault("name", spec.name)
    return family_cls(**thaw(spec.model), **keras_kwargs)


def create(name, *, include_top=True, name_override=None, dtype=None, **overrides):
    """Creates a zoo model by name, alias or YAML path, with hyperparameter overrides.

    Args:
        name: a zoo name ("vit_b16"), an alias ("vit_base_patch16_224") or the path of a YAML spec file.
        include_top: False drops the classifier and returns pooled features (same as num_classes=0).
        name_override: the Keras model name (defaults to the spec's name).
        dtype: a dtype policy name for the layers (e.g. "mixed_bfloat16"); the global policy when None.
        **overrides: model hyperparameters of the spec's family, e.g. num_classes=10, image_size=384,
            position_encoding="learned_2d", drop_path_rate=0.1.

    Returns:
        A `keras.Model` taking (batch, height, width, channels) float images.

    Example:
        >>> model = keras_vit.create("vit_b16", num_classes=10, image_size=384)
    """
    if not include_top:
        overrides["num_classes"] = 0
    spec = get_spec(name, **overrides)
    kwargs = {"name": name_override or spec.name}
    if dtype is not None:
        kwargs["dtype"] = dtype
    return build(spec, **kwargs)
