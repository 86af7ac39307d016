"""keras_vit: Vision Transformers (ViT, TNT, hybrids) for Keras 3 and TensorFlow.

    >>> import keras_vit
    >>> model = keras_vit.create("vit_b16", num_classes=10, image_size=384)
    >>> tuned = keras_vit.create("vit_b16", weights="ViT-B_16.npz", num_classes=10, image_size=384)
    >>> keras_vit.list_models("vit_*")
    >>> summary = keras_vit.train("mnist_vit", epochs=3)   # keras_vit.train is a callable module (docs/training.md)
"""

# First, before TensorFlow loads: in the `keras-vit` command (only there), a quiet TensorFlow start unless --verbose.
from keras_vit.commands import _startup  # noqa: F401  (isort: skip)

# Importing registers the layers and families; `export` and `train` are packages that are also callable
# (keras_vit.export(...), keras_vit.train(...)).
from keras_vit import data, explain, export, layers, models, train, weights  # noqa: F401
from keras_vit.explain import (
    attention_maps,
    attention_rollout,
    class_token_attention,
    embedding_filters,
    mean_attention_distance,
    position_similarity,
    tnt_feature_maps,
)
from keras_vit.models import build, create, feature_extractor
from keras_vit.preprocessing import ImagePreprocessing, preprocessing
from keras_vit.registry import load_plugins, register, registry
from keras_vit.spec import ModelSpec, SpecError, add_spec_dir, get_spec

__version__ = "0.1.0"


def list_models(pattern="*", include_aliases=True):
    """Sorted zoo model names matching the fnmatch `pattern` ("vit_*", "*tnt*"); a model also matches through its
    aliases (timm's names) when include_aliases is True."""
    from keras_vit.spec import list_names

    return list_names(pattern, include_aliases=include_aliases)


# Plugins register their layers now, so that `keras.saving.load_model` finds them in files saved elsewhere.
load_plugins()

__all__ = [
    "ImagePreprocessing",
    "ModelSpec",
    "SpecError",
    "add_spec_dir",
    "attention_maps",
    "attention_rollout",
    "build",
    "class_token_attention",
    "create",
    "embedding_filters",
    "explain",
    "export",
    "feature_extractor",
    "get_spec",
    "list_models",
    "load_plugins",
    "mean_attention_distance",
    "position_similarity",
    "preprocessing",
    "register",
    "registry",
    "tnt_feature_maps",
    "weights",
    "train",
]
