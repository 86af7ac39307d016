"""Pretrained weights: readers for the published checkpoint formats, one converter per source layout, strict
loading by Keras variable path, position-table resampling and the manifest of published checkpoints.

    >>> model = keras_vit.create("vit_b16", weights="ViT-B_16.npz", num_classes=10, image_size=384)
    >>> report = keras_vit.weights.load(model, "vit_base_patch16_224.safetensors")
    >>> keras_vit.weights.save(model, "fine_tuned.safetensors", layout="timm")   # what timm loads
"""

from keras_vit.weights.load import CONVERTERS, LoadReport, choose_converter, load
from keras_vit.weights.manifest import (
    WeightsEntry,
    find_weights,
    get_weights_entry,
    list_weights,
    preprocessing_for,
    resolve,
)
from keras_vit.weights.overrides import spec_overrides
from keras_vit.weights.protocol import Checkpoint, CheckpointError, Converter, Rule
from keras_vit.weights.readers import (
    is_keras_vit_weights_file,
    load_keras_weights,
    read_checkpoint,
    write_weights_file,
)
from keras_vit.weights.resample import resample_grid, resample_position_table
from keras_vit.weights.save import save

__all__ = [
    "CONVERTERS", "Checkpoint", "CheckpointError", "Converter", "LoadReport", "Rule", "WeightsEntry",
    "choose_converter", "find_weights", "get_weights_entry", "is_keras_vit_weights_file", "list_weights", "load",
    "load_keras_weights", "preprocessing_for", "read_checkpoint", "resample_grid", "resample_position_table",
    "resolve", "save", "spec_overrides", "write_weights_file",
]
