"""An example keras_vit plugin: talking-heads attention and a ViT-Ti/16 spec that uses it.

keras_vit calls `register()` through the entry point declared in pyproject.toml when `keras_vit` is imported, so
the attention layer is registered (and Keras-serializable) before any spec is built or `.keras` file is loaded.
"""

import pathlib

import keras_vit

# Importing the module runs its @keras_vit.register decorator.
from keras_vit_talking_heads.talking_heads import TalkingHeadsAttention

__all__ = ["TalkingHeadsAttention", "register"]


def register():
    """The `keras_vit.plugins` entry point: adds this package's YAML specs to the zoo."""
    keras_vit.add_spec_dir(pathlib.Path(__file__).parent / "specs")
