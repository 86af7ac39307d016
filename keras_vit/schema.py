"""The one schema of a spec's model section, checked once when the spec loads.

A family declares its hyperparameters (its constructor's arguments), its component slots (`SLOTS`, each a
`keras_vit.registry.Slot`) and its cross-field rules (`check_hyperparameters`). Every value is checked by the
project's one glossary of hyperparameter names (`check_value`), every slot by what its registry kind and its
component's constructor accept. A spec is checked when it loads; a model built from it (`keras_vit.models.build`) is not checked again. A family
class constructed directly (`ViT(...)`, or `from_config` of a saved file) runs the same checks first.
"""

from __future__ import annotations

import contextlib
import contextvars

from keras_vit import checks
from keras_vit.registry import KERAS_ARGS, suggest

_NON_NEGATIVE = ("num_classes", "num_prefix_tokens", "num_register_tokens")


def check_value(key, value):
    """Checks one hyperparameter by its glossary name (`*_rate`, `use_*`, `num_*`, `*_dim`, `*_epsilon`, ...);
    ValueError names the key and the value. Names outside the glossary pass unchecked."""
    if key.endswith("_rate"):
        checks.rate(key, value)
    elif key.startswith("use_") or key == "rematerialize":
        if not isinstance(value, bool):
            raise ValueError(f"`{key}` must be true or false; received {value!r}.")
    elif key in ("image_size", "patch_size", "grid_size"):
        checks.pair(key, value)
    elif key.endswith("_init_value"):
        if value is not None:
            checks.positive_float(key, value)
    elif key.endswith("_epsilon"):
        checks.positive_float(key, value)
    elif key in _NON_NEGATIVE:
        checks.non_negative_int(key, value)
    elif key.endswith("_dim") or key.startswith("num_") or key in ("pixel_stride", "pixel_kernel_size", "width_factor"):
        if value is not None or key != "representation_dim":
            checks.positive_int(key, value)


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
