"""keras_vit: Vision Transformers (ViT, TNT, hybrids) for Keras 3, on every Keras backend.

    >>> import keras_vit
    >>> model = keras_vit.create("vit_b16", num_classes=10, image_size=384)
    >>> tuned = keras_vit.create("vit_b16", weights="ViT-B_16.npz", num_classes=10, image_size=384)
    >>> keras_vit.list_models("vit_*")
    >>> summary = keras_vit.train("mnist_vit", epochs=3)   # keras_vit.train is a callable module (docs/training.md)

The zoo (layers, models, weights, explain) needs only Keras and NumPy; `keras_vit.data`, `keras_vit.train` and
`keras_vit.export` are TensorFlow's (tf.data, tf.distribute, SavedModel) and load on first use.
"""

# First, before Keras loads TensorFlow: in the `keras-vit` command (only there), a quiet TensorFlow start.
from keras_vit import _startup  # noqa: F401  (isort: skip)

import keras  # noqa: E402  (isort: skip)

# Importing registers the layers and families.
from keras_vit import explain, layers, models, tasks, weights  # noqa: F401
from keras_vit.explain import (
    attention_maps,
    attention_rollout,
    class_token_attention,
    embedding_filters,
    mean_attention_distance,
    position_similarity,
    tnt_feature_maps,
)
from keras_vit.lora import enable_lora, load_adapters, merge_lora, save_adapters
from keras_vit.models import build, feature_extractor
from keras_vit.preprocessing import ImagePreprocessing
from keras_vit.registry import load_plugins, register, registry
from keras_vit.spec import ModelSpec, SpecError, add_spec_dir, get_spec
from keras_vit.zoo import create, list_models, preprocessing

__version__ = "0.1.0"

# TensorFlow's parts: `keras_vit.export(...)` and `keras_vit.train(...)` are callable packages.
_TENSORFLOW_PARTS = ("data", "export", "train")


def __getattr__(name):
    if name not in _TENSORFLOW_PARTS:
        raise AttributeError(f"module 'keras_vit' has no attribute {name!r}")
    import importlib

    try:
        return importlib.import_module(f"keras_vit.{name}")
    except ModuleNotFoundError as error:
        if error.name != "tensorflow":
            raise
        raise ImportError(
            f"keras_vit.{name} uses TensorFlow (tf.data, tf.distribute, SavedModel), which is not installed: "
            f"pip install tensorflow. The zoo itself (create, weights, explain) runs on any Keras backend."
        ) from None


if keras.backend.backend() == "tensorflow":
    # A `keras-vit train` model.keras holds keras_vit.train's optimizer and schedule: registered here, so that
    # keras.saving.load_model reads it after `import keras_vit` alone (TensorFlow is loaded already).
    from keras_vit import train  # noqa: F401

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
    "data",
    "embedding_filters",
    "enable_lora",
    "explain",
    "export",
    "feature_extractor",
    "get_spec",
    "list_models",
    "load_adapters",
    "load_plugins",
    "mean_attention_distance",
    "merge_lora",
    "position_similarity",
    "preprocessing",
    "register",
    "registry",
    "save_adapters",
    "tnt_feature_maps",
    "weights",
    "train",
]
