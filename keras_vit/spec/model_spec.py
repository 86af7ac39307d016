"""The validated, frozen form of a model spec."""

import copy
import dataclasses
from pathlib import Path
from typing import Any

from keras_vit.registry import registry, suggest
from keras_vit.schema import POSITIVE_INT, STRING, Field, list_of, optional, validate_model
from keras_vit.spec.yaml_file import SpecError

_MAPPING = Field("a mapping", lambda v: isinstance(v, dict))
# key -> (field, meaning); `name`, `family` and `model` are required.
TOP_LEVEL_KEYS = {
    "name": (STRING, "the model's zoo name; equals the file name"),
    "aliases": (optional(list_of(STRING, "a list of names")), "other names, such as timm's"),
    "extends": (STRING, "the spec this one starts from (a zoo name or a path relative to this file)"),
    "family": (STRING, "the registered model family (vit, tnt, resnet, ...)"),
    "description": (optional(STRING), "one line for listings"),
    "expected_num_params": (optional(POSITIVE_INT),
                            "parameter count at the spec's own size, from an independent published source"),
    "num_params_source": (optional(STRING), "where expected_num_params comes from"),
    "tiny": (optional(_MAPPING), "model overrides that make a seconds-to-build test size of this architecture"),
    "paper": (optional(_MAPPING), "published results for this architecture (dataset -> accuracy) and their source"),
    "model": (Field("a mapping of hyperparameters", lambda v: isinstance(v, dict)), "the family's hyperparameters"),
}

# Keys a child spec never inherits: they describe one file, not an architecture.
NOT_INHERITED = ("name", "aliases", "extends", "description", "expected_num_params", "num_params_source", "paper")


def merge(base, override):
    """Recursive dict merge: mappings merge key by key, anything else in `override` replaces."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = thaw(value)  # deepcopy cannot rebuild a FrozenDict (its __setitem__ refuses)
    return result


def _freeze(value):
    if isinstance(value, dict):
        return FrozenDict({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def thaw(value):
    """A plain, mutable copy of a frozen spec value (dicts and lists)."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [thaw(v) for v in value]
    return value


class FrozenDict(dict):
    """A read-only dict: specs are values, changed only through `ModelSpec.with_overrides`."""

    def _readonly(self, *args, **kwargs):
        raise TypeError("A ModelSpec is frozen: use spec.with_overrides(...) to change it.")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly

    def __hash__(self):
        return hash(tuple(sorted(self.items())))


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A resolved, validated model spec.

    Attributes:
        name: zoo name.
        family: registered model family.
        model: the family's hyperparameters (a read-only mapping); `thaw(spec.model)` gives a plain dict.
        aliases, description, expected_num_params, num_params_source, paper: see the spec file.
        tiny: model overrides for the test size.
        source: the YAML file it came from (None for specs made in code).
    """

    name: str
    family: str
    model: Any
    aliases: tuple = ()
    description: str = ""
    expected_num_params: int | None = None
    num_params_source: str | None = None
    tiny: Any = dataclasses.field(default_factory=lambda: FrozenDict())
    paper: Any = dataclasses.field(default_factory=lambda: FrozenDict())
    source: Path | None = None

    @classmethod
    def from_dict(cls, data, source=None):
        """Validates a resolved spec mapping (no `extends`) and returns the frozen spec. The `tiny` section is
        checked where it is used (`tiny_spec`): after overrides it may no longer apply."""
        where = f"Spec file {source}" if source else "Spec"
        for key in ("name", "family", "model"):
            if key not in data:
                raise SpecError(f"{where}: the required key {key!r} is missing ({TOP_LEVEL_KEYS[key][1]}).")
        try:
            for key, value in data.items():
                if key not in TOP_LEVEL_KEYS:
                    raise ValueError(f"unknown key {key!r}.{suggest(key, TOP_LEVEL_KEYS)} Allowed top-level keys: "
                                     f"{', '.join(TOP_LEVEL_KEYS)}.")
                TOP_LEVEL_KEYS[key][0].check(key, value)
            try:
                family_cls = registry("model").get(data["family"])
            except ValueError as error:
                raise ValueError(f"family: {error}") from None
            validate_model(family_cls, data["model"])
        except (ValueError, TypeError) as error:
            raise SpecError(f"{where}: {error}") from None
        # Each top-level key but `extends` is a field of the same name; a null one keeps the field's default.
        values = {key: _freeze(value) for key, value in data.items() if value is not None and key != "extends"}
        return cls(**values, source=Path(source) if source else None)

    def to_dict(self):
        """The spec as plain data (what a YAML file would hold, `extends` resolved)."""
        data = {f.name: thaw(getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "source"}
        return {key: value for key, value in data.items() if key == "model" or value not in (None, "", [], {})}

    def with_overrides(self, **overrides):
        """A new validated spec whose model section has `overrides` applied (nested mappings merge)."""
        if not overrides:
            return self
        data = self.to_dict()
        data["model"] = merge(data["model"], overrides)
        try:
            return ModelSpec.from_dict(data, self.source)
        except SpecError as error:
            raise SpecError(f"{error} (after the overrides {overrides})") from None

    def tiny_spec(self):
        """This architecture at its test size (the spec's `tiny` overrides, validated here), for fast tests."""
        return self.with_overrides(**thaw(self.tiny))

