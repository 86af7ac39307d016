"""The one validator of specs, recipes and model families: field types, the glossary, and the model-section check.

A value is checked by a `Field` (or, for a component slot, by its `keras_vit.registry.Slot`). Every constructor
argument of a model family has one: the class's own `FIELDS` (its slots and whatever is its own) or the project's
`GLOSSARY` of hyperparameter names, by exact name; `fields(cls)` resolves them. A family's cross-field rules are its
`check_hyperparameters`. A recipe section declares its keys with the same field types (keras_vit.train.recipe). A
spec is checked once, when it loads; a family class constructed directly (`ViT(...)`, `from_config` of a saved file)
runs the same check first; a model built from a loaded spec (`keras_vit.models.build`) is not checked again.
Components (layers) check only what needs their input shapes.
"""

import contextlib
import contextvars
import dataclasses
from collections.abc import Callable
from typing import Any

from keras_vit.registry import KERAS_ARGS, Slot, accepted_args, registry, suggest


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class Field:
    """The rule of one value: `ok(value)` says whether it passes, `what` what passes (for the error message)."""

    what: str
    ok: Callable[[Any], bool]
    choices: tuple = ()  # close ones are suggested for a wrong string

    def check(self, path, value):
        """Raises ValueError "<path>: must be <what>; received <value>." unless `value` passes."""
        if not self.ok(value):
            hint = suggest(value, [c for c in self.choices if isinstance(c, str)]) if isinstance(value, str) else ""
            raise ValueError(f"{path}: must be {self.what}; received {value!r}.{hint}")
        return value


def integer(low):
    return Field({0: "a non-negative integer", 1: "a positive integer"}.get(low, f"an integer >= {low}"),
                 lambda v: is_int(v) and v >= low)


def number(what, ok):
    return Field(what, lambda v: is_number(v) and ok(v))


def one_of(*choices):
    # Same type as well as equal: `true` is not the verbosity 1, nor 1 the jit_compile `true`.
    return Field(f"one of {', '.join(map(repr, choices))}", lambda v: any(v == c and type(v) is type(c)
                                                                           for c in choices), choices)


def optional(field):
    return Field(f"{field.what}, or null", lambda v: v is None or field.ok(v), field.choices)


def list_of(field, what):
    return Field(what, lambda v: isinstance(v, (list, tuple)) and all(map(field.ok, v)))


POSITIVE_INT, COUNT = integer(1), integer(0)
RATE = number("a number in [0, 1)", lambda v: 0 <= v < 1)
POSITIVE = number("a positive number", lambda v: v > 0)
NON_NEGATIVE = number("a number >= 0", lambda v: v >= 0)
FRACTION = number("a number in [0, 1]", lambda v: 0 <= v <= 1)
BOOL = Field("true or false", lambda v: isinstance(v, bool))
STRING = Field("a string", lambda v: isinstance(v, str))
PAIR = Field("a positive integer or a [height, width] pair of them", lambda v: POSITIVE_INT.ok(v) or (
    isinstance(v, (list, tuple)) and len(v) == 2 and all(map(POSITIVE_INT.ok, v))))
ACTIVATION = optional(Field("an activation name such as 'softmax'", lambda v: isinstance(v, str)))


def registered(kind):
    return Field(f"a registered {kind} name (keras_vit.registry({kind!r}).names())",
                 lambda v: isinstance(v, str) and v in registry(kind))


# The hyperparameters shared by families and components (DESIGN.md: one glossary), by exact name; a choice among a
# module's own names (paddings, interpolations) is declared where that module defines them, in a class's FIELDS.
GLOSSARY = {
    **dict.fromkeys(("num_channels", "hidden_dim", "num_layers", "num_heads", "intermediate_dim", "inner_dim",
                     "inner_num_heads", "inner_intermediate_dim", "pixel_stride", "pixel_kernel_size", "width_factor",
                     "num_groups", "num_tokens", "filters"), POSITIVE_INT),
    **dict.fromkeys(("num_classes", "num_prefix_tokens", "num_register_tokens"), COUNT),
    **dict.fromkeys(("representation_dim", "output_dim"), optional(POSITIVE_INT)),
    **dict.fromkeys(("image_size", "patch_size", "grid_size", "kernel_size", "strides"), PAIR),
    **dict.fromkeys(("dropout_rate", "attention_dropout_rate", "drop_path_rate"), RATE),
    **dict.fromkeys(("layer_norm_epsilon", "group_norm_epsilon", "std_conv_epsilon", "epsilon", "temperature"),
                    POSITIVE),
    **dict.fromkeys(("use_class_token", "use_qkv_bias", "use_approximate_gelu", "use_distillation_token",
                     "use_prefix_position", "use_fc_norm", "use_patch_position", "use_pixel_position", "use_bias",
                     "use_norm", "use_inner_norm", "rematerialize", "dynamic_image_size"), BOOL),
    "layer_scale_init_value": optional(POSITIVE),
    "stage_sizes": list_of(POSITIVE_INT, "a list of positive unit counts per stage, e.g. [3, 4, 9]"),
    "classifier_activation": ACTIVATION,
}


def fields(cls):
    """Constructor argument -> its Field or Slot (None where neither the class's FIELDS nor the glossary has one)."""
    own = getattr(cls, "FIELDS", {})
    return {name: own.get(name, GLOSSARY.get(name)) for name in accepted_args(cls)}


def check(field, path, value):
    """Checks `value` at the key path `path` against a Field or a Slot (the component and its own arguments)."""
    if not isinstance(field, Slot):
        return field.check(path, value)
    if (value is None and field.default is None) or (field.empty is not None and value == field.empty):
        return value
    try:
        cls, arguments = field.component(value)
    except ValueError as error:
        raise ValueError(f"{path}: {error} (received {value!r}).") from None
    declared = fields(cls)
    for name, argument in arguments.items():
        if declared.get(name) is not None:  # otherwise the component's own constructor decides, as Keras's layers do
            check(declared[name], f"{path}.{name}", argument)
    return value


def validate_model(family_cls, model, section="model"):
    """Checks a model section against its family: known keys, each value by its field, then cross-field rules.

    Raises:
        ValueError: naming the key path (`model.block.name`), the received value and the fix.
    """
    declared = fields(family_cls)
    for key, value in model.items():
        if key in KERAS_ARGS:
            continue
        if key not in declared:
            raise ValueError(f"unknown key {section}.{key} for model family {family_cls.registered_name!r}."
                             f"{suggest(key, declared)} Known keys: {', '.join(declared)}.")
        if declared[key] is None:
            raise ValueError(f"{section}.{key}: model family {family_cls.__name__} declares no field for this "
                             f"argument: add it to {family_cls.__name__}.FIELDS (keras_vit.schema).")
        check(declared[key], f"{section}.{key}", value)
    family_cls.check_hyperparameters(**{**family_cls.config_defaults(), **model})


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


def pair(value):
    """An int or a pair of ints (a checked PAIR) as a tuple (height, width)."""
    return tuple(value) if isinstance(value, (list, tuple)) else (value, value)


def divisible(name, value, divisor_name, divisor):
    if value % divisor:
        raise ValueError(
            f"`{name}`={value} is not divisible by `{divisor_name}`={divisor}; choose values where "
            f"{divisor_name} divides {name}."
        )
    return value


def tiling(image_size, patch_size, stride=1):
    """Raises ValueError unless patches of `patch_size` (after a stem of `stride`) tile an image of `image_size`."""
    for axis, side in enumerate(("height", "width")):
        if image_size[axis] % (stride * patch_size[axis]):
            raise ValueError(
                f"image_size {side} {image_size[axis]} is not divisible by the patch size {patch_size[axis]}"
                + (f" times the stem's stride {stride}" if stride > 1 else "")
                + f": choose an image_size that is a multiple of {stride * patch_size[axis]}."
            )
