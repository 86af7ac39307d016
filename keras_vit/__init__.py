"""keras_vit: Vision Transformers (ViT, TNT, hybrids) for Keras 3 and TensorFlow.

    >>> import keras_vit
    >>> model = keras_vit.create("vit_b16", num_classes=10, image_size=384)
    >>> tuned = keras_vit.create("vit_b16", weights="ViT-B_16.npz", num_classes=10, image_size=384)
    >>> keras_vit.list_models("vit_*")
"""

# Importing registers the layers and families; `export` is a package that is also callable (keras_vit.export(...)).
from keras_vit import data, export, layers, models, weights  # noqa: F401
from keras_vit.models import build, feature_extractor
from keras_vit.preprocessing import ImagePreprocessing, preprocessing
from keras_vit.registry import load_plugins, register, registry
from keras_vit.spec import ModelSpec, SpecError, add_spec_dir, get_spec
from keras_vit.weights import create

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
    "build",
    "create",
    "export",
    "feature_extractor",
    "get_spec",
    "list_models",
    "load_plugins",
    "preprocessing",
    "register",
    "registry",
    "weights",
]
