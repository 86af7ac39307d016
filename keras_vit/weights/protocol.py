"""The small protocol shared by every checkpoint format: a reader gives flat tensors, a converter maps them onto a
model's variables by Keras variable path.

A reader returns a `Checkpoint` (the file, its format name and a flat {key: np.ndarray}). A `Converter` answers,
for each Keras variable path of a model, a `Rule`: the source keys it reads and the documented transform that turns
those arrays into the variable's value. `keras_vit.weights.load` then checks the whole plan (every variable
assigned exactly once, every source tensor used, every shape right) before it changes anything.
"""

import dataclasses
import math
from collections.abc import Callable
from re import fullmatch as match  # noqa: F401  (the converters' pattern shorthand)

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model; the message names the file and what is wrong."""


@dataclasses.dataclass
class Checkpoint:
    """A checkpoint read into memory.

    Attributes:
        path: the file it came from ("<dict>" for tensors passed directly).
        format: the container format ("npz", "safetensors", "torch"; "keras_vit_h5" and "keras" for keras_vit's own
            `.weights.h5` and `.keras` files, see `KERAS_VIT_FORMATS`).
        tensors: flat {key: np.ndarray}, keys as the source names them ("blocks.0.attn.qkv.weight").
        metadata: format-specific extras; keras_vit's own files give "config" (the model's config), "family" (its
            registered model family) and "layout" (its `ModelLayout`).
    """

    path: str
    format: str
    tensors: dict
    metadata: dict = dataclasses.field(default_factory=dict)


# The formats of files that keras_vit wrote itself: tensors keyed by Keras variable path, plus the model's config,
# family and layout in `Checkpoint.metadata`; one converter (`KerasFile`) serves them all (`format in KERAS_VIT_FORMATS`:
# `.weights.h5` from `keras-vit convert`, `.keras` from `model.save` or `keras-vit train`).
KERAS_VIT_FORMATS = ("keras_vit_h5", "keras")


def copy(array, shape):
    """The array as it is."""
    return array


@dataclasses.dataclass
class Rule:
    """How one Keras variable is made: `transform(*[tensors[k] for k in sources], target_shape) -> value`.

    `sources` lists the source keys read (all must exist), as the layout's current code names them (what
    `keras_vit.weights.save` writes); `alternatives` are further source-key tuples tried in order when the first is
    incomplete (the same weight under an older or other variant's name). `note` documents the
    transform in words ("transpose (out, in) -> (in, out)").
    """

    sources: tuple
    transform: Callable = copy
    note: str = "copied"
    alternatives: tuple = ()


def first_of(key_lists, transform=copy, note="copied"):
    """A Rule reading the first of `key_lists` (each a list of source keys) whose keys the checkpoint all has."""
    first, *rest = key_lists
    return Rule(tuple(first), transform, note, tuple(tuple(k) for k in rest))


# Keras normalization variables -> their PyTorch parameter names
TORCH_NORM = {"gamma": "weight", "beta": "bias"}


def torch_param(module, kind, transform=None, note="transpose"):
    """The Rule of a Keras `kernel` (a PyTorch `weight` through `transform`, a Linear's transpose by default) or
    `bias` (copied) read from the PyTorch `module`."""
    if kind == "kernel":
        return Rule((f"{module}.weight",), transform or linear, note)
    return Rule((f"{module}.bias",))


def is_square(rows):
    """Whether `rows` is a positive perfect square (a square patch grid)."""
    return rows > 0 and math.isqrt(rows) ** 2 == rows


# ---- documented transforms (each takes the source arrays and the Keras shape) ----


def linear(array, shape):
    """A PyTorch Linear weight (out, in) -> Keras Dense kernel (in, out)."""
    return np.transpose(array)


def conv(array, shape):
    """A PyTorch Conv2d weight (out, in, kh, kw) -> Keras Conv2D kernel (kh, kw, in, out)."""
    return np.transpose(array, (2, 3, 1, 0))


def reshape(array, shape):
    """The same values in the Keras shape (row-major), e.g. a Flax (D, heads, D/heads) kernel -> (D, D)."""
    return np.reshape(array, shape)


def concat_linear(*arrays_and_shape, parts=None):
    """PyTorch Linear weights stacked along their output axis, then transposed: [qk; v] (out, in) -> (in, out).
    `parts` says how many equal pieces of the output each weight holds ((2, 1) for [qk; v]; equal by default): only
    `invert` needs it, to split the variable again."""
    *arrays, shape = arrays_and_shape
    return np.transpose(np.concatenate(arrays, axis=0))


def concat_last(*arrays_and_shape):
    """Arrays concatenated along their last axis after each is flattened to (rows, -1) (or (-1,) for vectors):
    Flax's separate query/key/value kernels (D, heads, D/heads) -> one (D, 3D) kernel [q | k | v]."""
    *arrays, shape = arrays_and_shape
    rows = (shape[0], -1) if len(shape) > 1 else (-1,)
    return np.concatenate([np.reshape(a, rows) for a in arrays], axis=-1)


def dense_from_conv1x1(array, shape):
    """A PyTorch 1x1 Conv2d or Linear weight (out, in[, 1, 1]) -> Keras Dense kernel (in, out)."""
    return np.transpose(np.reshape(array, array.shape[:2]))


def channels_first_table(array, shape):
    """A (1, channels, rows, cols) table -> (rows * cols, channels), row-major over (rows, cols)."""
    table = np.transpose(array[0], (1, 2, 0))
    return np.reshape(table, (-1, table.shape[-1]))


# Each single-source transform's inverse (Keras value -> source tensor), for writing checkpoints (`invert`).
INVERSES = {
    copy: lambda value: value,
    linear: np.transpose,
    conv: lambda value: np.transpose(value, (3, 2, 0, 1)),
    dense_from_conv1x1: lambda value: np.transpose(value)[:, :, None, None],  # a 1x1 Conv2d, as timm's heads
    channels_first_table: lambda value: np.transpose(value).reshape(1, value.shape[1], math.isqrt(len(value)), -1),
}


def invert(rule, value):
    """The source tensors, in the order of `rule.sources`, that `rule.transform` turns into the Keras `value`; None
    for a transform without an inverse here (add it to `INVERSES`). Square grids are assumed where a table's shape
    does not say (timm's pixel_pos)."""
    transform = getattr(rule.transform, "func", rule.transform)  # a functools.partial carries its keywords
    if transform is concat_linear or (transform is concat_last and value.ndim == 1):  # a vector's transpose is itself
        parts = np.asarray(getattr(rule.transform, "keywords", {}).get("parts") or (1,) * len(rule.sources))
        rows = np.transpose(value)
        return np.split(rows, np.cumsum(parts)[:-1] * (len(rows) // parts.sum()))
    return (INVERSES[transform](value),) if transform in INVERSES else None


class Converter:
    """Maps one source layout onto a model family's variables. Subclasses set `format` (a short name), `families`
    (the registered model families it fills) and implement `claims(keys)` and `rule(path, model)`.

    Head handling is shared: `head_keys(tensors)` names the checkpoint's classifier (kernel key, bias key) and
    `pre_logits_keys(tensors)` its representation layer, so that the loader can drop them when the model's head
    differs.
    """

    format = "unknown"
    families = ()
    description = ""
    # The checkpoint's classifier (kernel key, bias key) and pre-logits layer keys, for the defaults below.
    head = ()
    pre_logits = ()
    output_axis = 0  # of a dense kernel: PyTorch's (out, in); Keras and Flax (in, out) set -1
    # How the checkpoint's source resamples position tables for another image size ("bilinear": the original ViT
    # release; "bicubic": timm); `keras_vit.create(name, weights=...)` gives the model this position_interpolation.
    position_interpolation = None

    def claims(self, keys):
        """Whether a checkpoint with these keys is in this converter's layout."""
        raise NotImplementedError

    def rule(self, path, model):
        """The Rule for the Keras variable `path`, or None if this layout has no such weight."""
        raise NotImplementedError

    def prepare(self, tensors):
        """The checkpoint's tensors in the layout `rule` reads (a copy of the dict)."""
        return dict(tensors)

    def head_keys(self, tensors):
        """(kernel key, bias key) of the checkpoint's classifier, or None when it has none."""
        return self.head if self.head and self.head[0] in tensors else None

    def num_classes(self, tensors):
        """The checkpoint's number of classes (0 without a classifier)."""
        keys = self.head_keys(tensors)  # its kernel, keys[0], is in the checkpoint whenever it has a classifier
        return int(tensors[keys[0]].shape[self.output_axis]) if keys else 0

    def pre_logits_keys(self, tensors):
        """Keys of the checkpoint's pre-logits (representation) layer; empty when it has none."""
        return tuple(k for k in self.pre_logits if k in tensors)

    def representation_dim(self, tensors):
        """Width of the checkpoint's pre-logits layer (its kernel's `output_axis`), or None."""
        kernel = next((tensors[k] for k in self.pre_logits_keys(tensors) if np.ndim(tensors[k]) == 2), None)
        return None if kernel is None else int(kernel.shape[self.output_axis])

    def position_keys(self, tensors):
        """Keys of position tables that may be resampled, {key: number of prefix tokens}."""
        return {}

    def architecture_overrides(self, tensors):
        """Hyperparameters of the code that trained this layout which the tensors' shapes do not show, {name: value}
        (e.g. the original ViT release's tanh GELU: {"use_approximate_gelu": True}).

        `keras_vit.create(name, weights=...)` builds with them unless the caller gives the hyperparameter, and
        `load` states in its report whether the model matches them: a converter that declares some implements
        `architecture_note(name, expected, actual)`, the report's line about `name` (the model has `actual`, the
        checkpoint's code used `expected`). Names the model family does not have are ignored."""
        return {}

def split_block(path, blocks):
    """(block name, index in `blocks`, path inside the block) of a variable path under one of `blocks` (names in
    order, e.g. `model.layout.blocks`), or None."""
    name, _, inner = path.partition("/")
    return (name, blocks.index(name), inner) if name in blocks else None


def resnet_stem(model):
    """(name of the convolutional stem layer,) of a hybrid (`model.layout`: the first stem layer when the stem has a
    stride), else ()."""
    return model.layout.stem[:1] if model.layout.stem_stride > 1 else ()


def resnet_units(model, stem=None):
    """{unit layer name: (stage, unit)}, 0-based: a ResNet's from `model.layout`; with `stem` (a layer name), the
    units of a hybrid's ResNet stem, in the order of its stage_sizes."""
    if stem is None:
        return dict(zip(model.layout.blocks, model.layout.block_stages))
    layer = model.get_layer(stem)
    stages = [(s, u) for s, size in enumerate(getattr(layer, "stage_sizes", ())) for u in range(size)]
    return dict(zip((unit.name for unit in getattr(layer, "units", ())), stages))
