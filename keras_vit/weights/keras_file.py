"""keras_vit's own `.weights.h5` files (written by `keras-vit convert`): tensors already keyed by Keras variable
path, so every rule is the identity. Loading one into a model of another image size resamples the position table;
into another number of classes drops the head."""

from __future__ import annotations

from keras_vit.weights.protocol import Converter, Rule, copy


class KerasFile(Converter):
    format = "keras_vit"
    families = ("vit", "tnt", "resnet_v2")
    description = "keras_vit .weights.h5 (Keras variable paths)"

    def __init__(self, family=None):
        if family is not None:
            self.families = (family,)

    def claims(self, keys):
        return False  # chosen from the file's metadata, never guessed from keys

    def rule(self, path, model):
        return Rule((path,), copy)

    def head_keys(self, tensors):
        for kernel in ("head/classifier/kernel", "head/kernel"):
            if kernel in tensors:
                return (kernel, kernel.replace("kernel", "bias"))
        return None

    def classifier_width(self, kernel):
        return kernel.shape[-1]

    def pre_logits_keys(self, tensors):
        return tuple(k for k in ("head/pre_logits/kernel", "head/pre_logits/bias") if k in tensors)

    def representation_dim(self, tensors):
        kernel = tensors.get("head/pre_logits/kernel")
        return None if kernel is None else int(kernel.shape[-1])

    def position_keys(self, tensors):
        return {
            key: None  # the number of prefix tokens is taken from the model's layer
            for key in tensors
            if key.endswith("embeddings") and ("position" in key.split("/")[0])
        }
