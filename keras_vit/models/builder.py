"""From a validated spec to a Keras model: the one module that knows both specs and Keras."""

from keras_vit.registry import registry
from keras_vit.schema import checked_config
from keras_vit.spec import ModelSpec, thaw


def build(spec, **keras_kwargs):
    """Builds the Keras model of a validated `ModelSpec` (its family class with the spec's model section).

    Args:
        spec: a `ModelSpec`.
        **keras_kwargs: Keras arguments such as `name` or `dtype`.

    Returns:
        A functional `keras.Model` (a `ZooModel` subclass) named after the spec.
    """
    if not isinstance(spec, ModelSpec):
        raise TypeError(
            f"build() takes a ModelSpec (see keras_vit.get_spec); received {type(spec).__name__}."
        )
    family_cls = registry("model").get(spec.family)
    keras_kwargs.setdefault("name", spec.name)
    with checked_config():  # validated when the spec loaded
        return family_cls(**thaw(spec.model), **keras_kwargs)
