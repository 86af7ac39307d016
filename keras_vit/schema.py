"""The one schema of specs and recipes, checked once when a file loads.

A family declares its hyperparameters (its constructor's arguments), its component slots (`SLOTS`, each a
`keras_vit.registry.Slot`) and its cross-field rules (`check_hyperparameters`); a recipe section declares its keys
and defaults (keras_vit.train.recipe.SCHEMA). Every value is checked by the project's one glossary of names
(`check_value`), every slot by what its registry kind and its component's constructor accept. A model built from a
loaded spec (`keras_vit.models.build`) is not checked again; a family class constructed directly (`ViT(...)`, or
`from_config` of a saved file) runs the same checks first.
"""

from __future__ import annotations

import contextlib
import contextvars

from keras_vit import checks
from keras_vit.registry import KERAS_ARGS, suggest

_NON_NEGATIVE = ("num_classes", "num_prefix_tokens", "num_register_tokens", "warmup_steps", "keep_checkpoints", "seed")
_BOOLEANS = ("rematerialize", "random_crop", "horizontal_flip", "nesterov", "overwrite", "tensorboard",
             "dynamic_image_size")
# Names whose value is one of a few; keras_vit.train's OPTIMIZERS, SCHEDULES and STRATEGIES implement the first three.
CHOICES = {"optimizer": ("sgd", "adamw", "adam"), "schedule": ("warmup_cosine", "warmup_constant", "constant"),
           "strategy": ("auto", "default", "mirrored", "multi_worker", "tpu"), "jit_compile": ("auto", True, False),
           "mixed_precision": ("mixed_float16", "mixed_bfloat16", "float32"), "verbose": ("auto", 0, 1, 2),
           # keras_vit.layers._resampling.INTERPOLATIONS
           "position_interpolation": ("bilinear", "bicubic")}


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _require(key, value, ok, what):
    if not ok:
        raise ValueError(f"`{key}` must be {what}; received {value!r}.")


def check_value(key, value):
    """Checks one hyperparameter (of a model or a training recipe) by its glossary name (`*_rate`, `use_*`, `num_*`,
    `*_dim`, `*_epsilon`, `*_steps`, `beta_*`, ...); ValueError names the key and the value. Names outside the
    glossary pass unchecked."""
    number = _is_number(value)
    if key in CHOICES:
        checks.one_of(key, value, CHOICES[key])
    elif key.endswith("learning_rate"):  # not a rate in [0, 1); NaN passes: a diverging run tests failure handling
        _require(key, value, number and not value < 0, "a number >= 0")
    elif key.endswith("_rate") or key == "label_smoothing":
        checks.rate(key, value)
    elif key.startswith("use_") or key in _BOOLEANS:
        if not isinstance(value, bool):
            raise ValueError(f"`{key}` must be true or false; received {value!r}.")
    elif key in ("image_size", "patch_size", "grid_size"):
        checks.pair(key, value)
    elif key.endswith("_init_value"):
        if value is not None:
            checks.positive_float(key, value)
    elif key.endswith("_epsilon") or key in ("epsilon", "global_clipnorm"):
        checks.positive_float(key, value)
    elif key in _NON_NEGATIVE:
        checks.non_negative_int(key, value)
    elif key.endswith(("_dim", "_steps", "batch_size")) or key.startswith(("num_", "steps_per_")) or key in (
        "pixel_stride", "pixel_kernel_size", "width_factor", "epochs", "shuffle_buffer"
    ):
        if value is not None or key != "representation_dim":
            checks.positive_int(key, value)
    elif key == "momentum" or key.startswith("beta_"):
        _require(key, value, number and 0 <= value <= 1, "a number in [0, 1]")
    elif key == "layer_decay":
        _require(key, value, number and 0 < value <= 1, "a number in (0, 1]")
    elif key.endswith(("_alpha", "_decay", "_epochs")):
        _require(key, value, number and value >= 0, "a number >= 0")
    elif key in ("mean", "std"):
        listed = isinstance(value, (list, tuple)) and value and all(map(_is_number, value))
        _require(key, value, number or listed, "a number or a list of numbers, one per channel")
    elif key == "crop_scale":
        pair = isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_number, value))
        _require(key, value, pair and 0 < value[0] <= value[1] <= 1, "a list [low, high] with 0 < low <= high <= 1")
    elif key.endswith(("_dir", "_split", "_address")) or key == "source":
        optional = key == "eval_split"  # null: no held-out split
        _require(key, value, isinstance(value, str) or (optional and value is None), f"a string{' or null' * optional}")
    elif key == "rand_augment":
        _require(key, value, isinstance(value, dict), "a mapping of keras.layers.RandAugment arguments")
    elif key == "devices":
        ok = isinstance(value, (list, tuple)) and all(isinstance(d, str) for d in value)
        _require(key, value, ok, "a list of device names such as ['/gpu:0', '/gpu:1']")


def validate_model(family_cls, model, section="model"):
    """Checks a model section against its family: known keys, glossary values, slots, cross-field rules.

    Raises:
        ValueError: naming the key path (`model.block.name`), the received value and the fix.
    """
    known = family_cls.config_names()
    for key in model:
        if key not in known and key not in KERAS_ARGS:
            raise ValueError(
                f"unknown key {section}.{key} for model family {family_cls.registered_name!r}."
                f"{suggest(key, known)} Known keys: {', '.join(known)}."
            )
    slots = getattr(family_cls, "SLOTS", {})
    for key, value in model.items():
        if key not in slots:
            _check(f"{section}.{key}", check_value, key, value)
            continue
        slot = slots[key]
        if (value is None and slot.default is None) or (slot.empty is not None and value == slot.empty):
            continue
        try:
            _, arguments = slot.component(value)
        except ValueError as error:
            raise ValueError(f"{section}.{key}: {error} (received {value!r}).") from None
        for argument, argument_value in arguments.items():
            _check(f"{section}.{key}.{argument}", check_value, argument, argument_value)
    family_cls.check_hyperparameters(**{**family_cls.config_defaults(), **model})


def _check(where, function, *args):
    try:
        function(*args)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None


_checked = contextvars.ContextVar("keras_vit_checked_config", default=False)


@contextlib.contextmanager
def checked_config():
    """Within this block, families trust their arguments: they come from a spec that was validated when it loaded."""
    token = _checked.set(True)
    try:
        yield
    finally:
        _checked.reset(token)


def check_family_arguments(family_cls, arguments):
    """Validates a family's constructor arguments unless they come from a validated spec (see `checked_config`)."""
    if not _checked.get():
        validate_model(family_cls, {k: v for k, v in arguments.items() if k in family_cls.config_names()})
