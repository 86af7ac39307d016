"""Strict loading of a checkpoint into a zoo model: read, pick the converter, plan every variable, check, assign.

Every model variable gets exactly one value; source tensors that nothing reads, variables without a source and
shapes that differ are all reported together, by name and with both shapes, before any variable changes. Two
differences are resolved instead of reported: a position table of another grid is resampled (the class token's row
kept), and a classifier for another number of classes is dropped (the model keeps its own, zero-initialized, head)
with a message; a checkpoint's pre-logits layer is dropped when the model has none (as the original release does
when fine-tuning), and loaded when it has one.
"""

import dataclasses
import logging

import numpy as np

from keras_vit.models.layout import model_layout
from keras_vit.weights.bit_npz import BiTNpz
from keras_vit.weights.keras_file import KerasFile
from keras_vit.weights.protocol import KERAS_VIT_FORMATS, Checkpoint, CheckpointError
from keras_vit.weights.readers import read_checkpoint
from keras_vit.weights.resample import resample_axis_table, resample_position_table
from keras_vit.weights.timm_resnet_v2 import TimmResNetV2
from keras_vit.weights.timm_tnt import TimmTNT
from keras_vit.weights.timm_vit import TimmViT
from keras_vit.weights.vit_npz import FlaxViT

logger = logging.getLogger("keras_vit.weights")

# Tried in order; the first whose `claims(keys)` is true reads the checkpoint.
CONVERTERS = [TimmTNT(), TimmViT(), TimmResNetV2(), FlaxViT(), BiTNpz()]
MAX_LINES = 25


@dataclasses.dataclass
class LoadReport:
    """What `load` did: the file and layout, how many variables it assigned, and what it changed on the way."""

    path: str
    format: str
    layout: str
    num_assigned: int
    resampled: list
    dropped: list
    messages: list

    def __str__(self):
        return "\n".join([f"Loaded {self.num_assigned} variables from {self.path} ({self.layout}, {self.format}).",
                          *self.messages])


def family_of(model):
    return getattr(type(model), "registered_name", type(model).__name__)


def choose_converter(checkpoint, model=None):
    """The converter for a checkpoint's layout; CheckpointError when no layout fits or the model family differs."""
    if checkpoint.format in KERAS_VIT_FORMATS:
        converter = KerasFile(checkpoint.metadata["family"], checkpoint.metadata["layout"])
    else:
        keys = set(checkpoint.tensors)
        converter = next((c for c in CONVERTERS if c.claims(keys)), None)
        if converter is None:
            sample = ", ".join(sorted(keys)[:6]) or "no tensors at all"
            known = "; ".join(c.description for c in CONVERTERS)
            raise CheckpointError(
                f"{checkpoint.path}: not a checkpoint of a layout keras_vit knows (its keys begin {sample}). "
                f"Known layouts: {known}."
            )
    if model is not None:
        check_family(checkpoint, converter, family_of(model), f"model {model.name!r} is of family {family_of(model)!r}")
    return converter


def check_family(checkpoint, converter, family, subject):
    """CheckpointError unless the converter fills `family`; `subject` says what the model is."""
    if family not in converter.families:
        raise CheckpointError(
            f"{checkpoint.path} is a {converter.description} checkpoint, for the {'/'.join(converter.families)} "
            f"family, but {subject}: create the model the checkpoint was trained as (see keras_vit.list_models())."
        )


def _resample(axis, table, value, source_prefix, interpolation):
    """A position variable's checkpoint value for the model's grid; `axis` as in `PositionTable.variables`."""
    if axis is None:
        prefix = table.num_prefix_tokens
        rows = value[0] if value.ndim == 3 else value
        source_prefix = prefix if source_prefix is None else source_prefix
        if source_prefix > prefix:  # e.g. a class-token checkpoint into a model without one: drop its row
            rows = rows[source_prefix - prefix :]
        elif source_prefix < prefix:
            raise ValueError(f"the checkpoint's table has {source_prefix} prefix rows, the model needs {prefix}")
        return resample_position_table(rows, table.grid_size, prefix, None, interpolation)
    return resample_axis_table(value, table.grid_size[axis], interpolation)


def _fmt(shape):
    return str(tuple(int(s) for s in shape))


def load(model, path, *, interpolation="bilinear", verbose=True, progress=None):
    """Loads a checkpoint into a zoo model, strictly.

    Args:
        model: a model from `keras_vit.create` (ViT, hybrid, TNT or BiT ResNet).
        path: a checkpoint file (`.npz`, `.safetensors`, `.pth`/`.bin` with torch, a `.weights.h5` from
            `keras-vit convert`, or a zoo model's `.keras` file from `model.save` or `keras-vit train`), a
            `Checkpoint`, or a dict {key: array} in one of the known layouts.
        progress: optional callable progress(done, total), called while the file is read.
        interpolation: how a position table of another grid is resampled, "bilinear" (default, as the original
            ViT release) or "bicubic".
        verbose: log the report's messages to the "keras_vit.weights" logger: dropped tensors and a model that
            differs from the checkpoint's own architecture (the original ViT release's tanh GELU) as warnings, the
            rest as info.

    Returns:
        A `LoadReport`.

    Raises:
        CheckpointError: the file cannot be read, is of another model family, or does not fit the model; the
            message lists every missing, unexpected and wrong-shaped tensor. The model is unchanged then.

    Example:
        >>> model = keras_vit.create("vit_b16", num_classes=10, image_size=384)
        >>> keras_vit.weights.load(model, "ViT-B_16.npz")     # head dropped, 14x14 -> 24x24 positions
    """
    checkpoint = path if isinstance(path, Checkpoint) else read_checkpoint(path, progress=progress)
    converter = choose_converter(checkpoint, model)
    tensors = converter.prepare(checkpoint.tensors)
    variables = {v.path: v for v in model.weights}  # unique: the zoo names every sublayer apart

    layout = model_layout(model, "keras_vit.weights.load")
    # the classifier's variables are the layout's; its number of classes is the output's width, whatever they are
    model_classes = int(model.outputs[0].shape[-1]) if layout.head_variables else 0
    checkpoint_classes = converter.num_classes(tensors)
    notes, resampled = [], []  # (logging level, message)
    # head_keys' kernel is in the checkpoint whenever it names any: `dropped` is empty exactly when no head is dropped
    head = converter.head_keys(tensors) if checkpoint_classes != model_classes else None
    dropped = [k for k in head or () if k in tensors]
    skipped = set(layout.head_variables) if dropped else set()
    if dropped:
        keeps = f"{model_classes} classes and keeps its own zero-initialized head (train it)" if model_classes else "none"
        notes.append((logging.WARNING, f"The checkpoint's classifier ({checkpoint_classes} classes) was dropped: the "
                                       f"model has {keeps}."))
    if not layout.pre_logits_variables and (pre_logits := converter.pre_logits_keys(tensors)):
        dropped.extend(pre_logits)
        notes.append((logging.WARNING, "The checkpoint's pre-logits layer was dropped: the model has no representation "
                                       "layer (create it with representation_dim=... to keep it)."))
    used = set(dropped)

    positions = {path: (axis, t) for t in layout.position_tables for path, axis in t.variables}
    source_prefixes = converter.position_keys(tensors)
    plan, missing, wrong = {}, [], []
    for var_path in [p for p in variables if p not in skipped]:
        shape = tuple(variables[var_path].shape)
        rule = converter.rule(var_path, model)
        if rule is None:
            missing.append(f"{var_path} {_fmt(shape)}: the {converter.format} layout has no such weight")
            continue
        sources = next((c for c in (rule.sources, *rule.alternatives) if all(k in tensors for k in c)), None)
        if sources is None:
            absent = ", ".join(k for k in rule.sources if k not in tensors)
            missing.append(f"{var_path} {_fmt(shape)} <- {absent} (not in the checkpoint)")
            continue
        used.update(sources)
        arrays = [tensors[k] for k in sources]
        described = ", ".join(f"{k} {_fmt(np.shape(a))}" for k, a in zip(sources, arrays))
        try:
            value = np.asarray(rule.transform(*arrays, shape))
        except ValueError as error:
            wrong.append(f"{var_path}: model {_fmt(shape)}, checkpoint {described} ({rule.note} failed: {error})")
            continue
        if value.shape != shape and var_path in positions and value.shape[-1:] == shape[-1:]:
            source_prefix = next((source_prefixes[k] for k in sources if k in source_prefixes), None)
            try:
                old, value = value.shape, np.asarray(_resample(*positions[var_path], value, source_prefix, interpolation))
                value = value.reshape(shape)
            except ValueError as error:
                wrong.append(f"{var_path}: model {_fmt(shape)}, checkpoint {described}; cannot resample: {error}")
                continue
            resampled.append(var_path)
            notes.append((logging.INFO, f"Resampled {var_path} from {_fmt(old)} to {_fmt(shape)} ({interpolation})."))
        if value.shape != shape:
            wrong.append(f"{var_path}: model {_fmt(shape)}, checkpoint {described} -> {_fmt(value.shape)} ({rule.note})")
            continue
        plan[var_path] = value
    unexpected = [f"{k} {_fmt(np.shape(tensors[k]))}" for k in sorted(set(tensors) - used)]

    problems = []
    for title, lines in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if lines:
            shown = lines[:MAX_LINES] + ([f"... and {len(lines) - MAX_LINES} more"] if len(lines) > MAX_LINES else [])
            problems.append(f"{len(lines)} {title}:\n  " + "\n  ".join(shown))
    if problems:
        raise CheckpointError(
            f"{checkpoint.path} ({converter.description}) does not fit model {model.name!r} "
            f"(family {family_of(model)!r}); nothing was loaded.\n" + "\n".join(problems) + "\n"
            "Create the model the checkpoint was trained as: keras_vit.create(name, weights=path) takes the number "
            "of classes, the pre-logits layer and the image size from the checkpoint."
        )

    for var_path, value in plan.items():
        variables[var_path].assign(value.astype(variables[var_path].dtype))
    config = model.get_config()
    for name, expected in converter.architecture_overrides(tensors).items():
        if name in config:  # what the checkpoint's own code used that the shapes do not show (e.g. its GELU)
            level = logging.INFO if config[name] == expected else logging.WARNING
            notes.append((level, converter.architecture_note(name, expected, config[name])))
    for level, message in notes if verbose else ():
        logger.log(level, message)
    messages = [message for _, message in notes]
    return LoadReport(checkpoint.path, checkpoint.format, converter.format, len(plan), resampled, dropped, messages)

