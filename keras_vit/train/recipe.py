"""Training recipes: YAML files in `registry/recipes/` (with `extends:`) loaded into a validated, frozen `Recipe`.

A recipe has five sections. `model` names a zoo model and its hyperparameter overrides; `data` the source and the
augmentation; `optimizer` and `schedule` the update rule; `run` the epochs, batch, strategy, precision and output.
Every key, its default and its meaning are in `SCHEMA` below (and in docs/training.md).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from keras_vit.registry import suggest
from keras_vit.spec.load import resolve_extends
from keras_vit.spec.model_spec import FrozenDict, _freeze, merge, thaw
from keras_vit.spec.yaml_file import SpecError

REQUIRED = object()
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


class RecipeError(SpecError):
    """A recipe that cannot be used; the message names the file, the key and the received value."""


def _number(low=None, high=None, integer=False, optional=False, low_open=False):
    def check(value):
        if value is None and optional:
            return None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            return f"must be {'an integer' if integer else 'a number'}{' or null' if optional else ''}"
        if low is not None and (value <= low if low_open else value < low):
            return f"must be {'>' if low_open else '>='} {low}"
        if high is not None and value > high:
            return f"must be <= {high}"
        return None

    return check


def _choice(*options, optional=False):
    def check(value):
        if value is None and optional:
            return None
        if value not in options:
            return f"must be one of {', '.join(repr(o) for o in options)}{suggest(str(value), [str(o) for o in options])}"
        return None

    return check


def _kind(*types, optional=False, what=None):
    def check(value):
        if value is None and optional:
            return None
        if isinstance(value, bool) and bool not in types:
            return f"must be {what}"
        if not isinstance(value, types):
            return f"must be {what}"
        return None

    return check


def _pair(value):
    if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(isinstance(v, (int, float)) for v in value):
        return "must be a list of two numbers [low, high]"
    if not 0 < value[0] <= value[1] <= 1:
        return "must satisfy 0 < low <= high <= 1"
    return None


def _jit(value):
    return None if value in ("auto", True, False) else "must be 'auto', true or false"


# section -> key -> (default, check, meaning)
SCHEMA = {
    "model": {
        "name": (REQUIRED, _kind(str, what="a zoo model name or spec path"), "the zoo model (or spec file)"),
    },
    "data": {
        "source": ("offline", _kind(str, what='a data source string ("offline", "folder:PATH", "tfds:NAME")'),
                   "keras_vit.data.load_dataset source"),
        "data_dir": (None, _kind(str, optional=True, what="a folder path or null"), "tensorflow-datasets data_dir"),
        "train_split": ("train", _kind(str, what="a split name"), "training split"),
        "eval_split": ("test", _kind(str, optional=True, what="a split name or null"), "held-out split (null: none)"),
        "mean": (0.5, _kind(int, float, list, what="a number or a list per channel"), "pixel normalization mean"),
        "std": (0.5, _kind(int, float, list, what="a number or a list per channel"), "pixel normalization std"),
        "random_crop": (False, _kind(bool, what="true or false"), "Inception-style random resized crop"),
        "crop_scale": ([0.08, 1.0], _pair, "area range of the random crop"),
        "horizontal_flip": (False, _kind(bool, what="true or false"), "random left-right flip"),
        "rand_augment": (None, _kind(dict, optional=True, what="a mapping (num_ops, factor) or null"),
                         "keras.layers.RandAugment arguments"),
        "mixup_alpha": (0.0, _number(0.0), "MixUp alpha (0: off)"),
        "cutmix_alpha": (0.0, _number(0.0), "CutMix alpha (0: off)"),
        "label_smoothing": (0.0, _number(0.0, 0.999), "label smoothing"),
        "shuffle_buffer": (10_000, _number(1, integer=True), "shuffle buffer (examples)"),
    },
    "optimizer": {
        "name": (REQUIRED, _choice("sgd", "adamw", "adam"), "sgd, adamw or adam"),
        "learning_rate": (REQUIRED, _number(0.0), "peak learning rate (NaN is accepted to test failure handling)"),
        "momentum": (0.9, _number(0.0, 1.0), "SGD momentum"),
        "nesterov": (False, _kind(bool, what="true or false"), "SGD Nesterov momentum"),
        "beta_1": (0.9, _number(0.0, 1.0), "Adam beta_1"),
        "beta_2": (0.999, _number(0.0, 1.0), "Adam beta_2"),
        "epsilon": (1e-8, _number(0.0, low_open=True), "Adam epsilon"),
        "weight_decay": (0.0, _number(0.0), "decoupled weight decay; skips norms, biases, positions, tokens"),
        "global_clipnorm": (None, _number(0.0, optional=True, low_open=True), "clip gradients to this global norm"),
        "layer_decay": (None, _number(0.0, 1.0, optional=True, low_open=True),
                        "layer-wise learning-rate decay (BEiT), null: off"),
    },
    "schedule": {
        "name": ("warmup_cosine", _choice("warmup_cosine", "warmup_constant", "constant"), "schedule"),
        "warmup_steps": (0, _number(0, integer=True), "linear warm-up steps"),
        "warmup_epochs": (None, _number(0, optional=True), "warm-up in epochs (overrides warmup_steps)"),
        "end_learning_rate": (0.0, _number(0.0), "rate at the end of the cosine"),
    },
    "run": {
        "epochs": (REQUIRED, _number(1, integer=True), "training epochs"),
        "batch_size": (None, _number(1, integer=True, optional=True),
                       "global batch (must divide over the replicas)"),
        "per_replica_batch_size": (None, _number(1, integer=True, optional=True),
                                   "per-replica batch; global = this x replicas"),
        "steps_per_epoch": (None, _number(1, integer=True, optional=True), "null: one pass over the data"),
        "eval_steps": (None, _number(1, integer=True, optional=True), "null: the whole held-out split"),
        "strategy": ("auto", _choice("auto", "default", "mirrored", "multi_worker", "tpu"), "tf.distribute strategy"),
        "devices": (None, _kind(list, optional=True, what="a list of device names or null"), "devices for mirrored"),
        "tpu_address": (None, _kind(str, optional=True, what="a TPU name / grpc address or null"), "TPU resolver"),
        "mixed_precision": (None, _choice("mixed_float16", "mixed_bfloat16", "float32", optional=True),
                            "dtype policy (mixed_float16 adds loss scaling)"),
        "jit_compile": ("auto", _jit, "XLA: 'auto' (Keras decides), true or false"),
        "steps_per_execution": (1, _number(1, integer=True), "steps per compiled call"),
        "output_dir": (None, _kind(str, optional=True, what="a folder path or null"),
                       "checkpoints, logs, summary; null: runs/<recipe name>"),
        "overwrite": (False, _kind(bool, what="true or false"),
                      "allow a new run in an output_dir that holds a finished one (its files are replaced)"),
        "keep_checkpoints": (3, _number(0, integer=True), "newest epoch checkpoints kept (0: all)"),
        "seed": (0, _number(0, integer=True), "seeds the split, the shuffle and the weights"),
        "tensorboard": (True, _kind(bool, what="true or false"), "write TensorBoard logs"),
        "verbose": ("auto", _choice("auto", 0, 1, 2), "Keras progress bar: 'auto', 0, 1 or 2"),
    },
}
TOP_LEVEL = {"name": "the recipe's name; equals the file name", "extends": "the recipe this one starts from",
             "description": "one line"}
SECTIONS = tuple(SCHEMA)


def builtin_recipe_dir():
    """The shipped recipes: inside the installed wheel, or `registry/recipes` of a source checkout."""
    for candidate in (_PACKAGE_DIR / "_registry" / "recipes", _PACKAGE_DIR.parent / "registry" / "recipes"):
        if candidate.is_dir():
            return candidate
    raise RecipeError(f"keras_vit's recipes are missing (looked in {_PACKAGE_DIR / '_registry'}): reinstall keras-vit.")


def list_recipes():
    """Names of the shipped recipes."""
    return sorted(p.stem for p in builtin_recipe_dir().glob("*.yaml"))


def _find(name_or_path):
    path = Path(name_or_path)
    if str(name_or_path).endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise RecipeError(f"Recipe file {path} does not exist.")
        return path.resolve()
    candidate = builtin_recipe_dir() / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    names = list_recipes()
    raise RecipeError(f"Unknown recipe {name_or_path!r}.{suggest(str(name_or_path), names)} Known: {', '.join(names)}, "
                      f"or pass the path of a recipe YAML file.")


def _resolve(path):
    return resolve_extends(path, _find, ("name", "description"), kind="Recipe", name_kind="recipe name",
                           error=RecipeError)


def expand_overrides(overrides):
    """Turns {"epochs": 3, "optimizer.learning_rate": 0.1, "data": {"source": ...}} into a nested mapping by
    section. A bare key must belong to exactly one section (`epochs` -> run.epochs)."""
    nested = {}
    for key, value in (overrides or {}).items():
        if key in SECTIONS and isinstance(value, dict):
            nested = merge(nested, {key: value})
            continue
        if key in TOP_LEVEL:
            nested[key] = value
            continue
        section, dot, rest = key.partition(".")
        if dot:
            if section not in SECTIONS:
                raise RecipeError(f"Override {key!r}: unknown section {section!r}.{suggest(section, SECTIONS)} "
                                  f"Sections: {', '.join(SECTIONS)}.")
            nested = merge(nested, {section: {rest: value}})
            continue
        owners = [s for s in SECTIONS if key in SCHEMA[s]]
        if len(owners) > 1:
            raise RecipeError(f"Override {key!r} is ambiguous: write one of {', '.join(f'{s}.{key}' for s in owners)}.")
        if not owners:
            known = [k for s in SECTIONS for k in SCHEMA[s]]
            raise RecipeError(f"Unknown override {key!r}.{suggest(key, known)} Use section.key (e.g. "
                              f"model.num_classes, optimizer.learning_rate) or one of: {', '.join(sorted(set(known)))}.")
        nested = merge(nested, {owners[0]: {key: value}})
    return nested


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A resolved, validated training recipe (read-only mappings per section; `thaw(recipe.data)` to copy).

    Attributes:
        name, description: from the file.
        model: {"name": zoo model, **hyperparameter overrides}.
        data, optimizer, schedule, run: every key of `SCHEMA` with its default filled in.
        source: the YAML file (None for recipes made in code).
    """

    name: str
    description: str
    model: Any
    data: Any
    optimizer: Any
    schedule: Any
    run: Any
    source: Path | None = None

    @classmethod
    def from_dict(cls, data, source=None):
        where = f"Recipe file {source}" if source else "Recipe"
        for key in data:
            if key not in TOP_LEVEL and key not in SCHEMA:
                raise RecipeError(f"{where}: unknown key {key!r}.{suggest(key, [*TOP_LEVEL, *SCHEMA])} Allowed: "
                                  f"{', '.join([*TOP_LEVEL, *SCHEMA])}.")
        if not isinstance(data.get("name"), str) or not data["name"]:
            raise RecipeError(f"{where}: `name` (a string) is required.")
        sections = {}
        for section, keys in SCHEMA.items():
            given = data.get(section) or {}
            if not isinstance(given, dict):
                raise RecipeError(f"{where}: `{section}` must be a mapping; received {given!r}.")
            if section != "model":
                for key in given:
                    if key not in keys:
                        raise RecipeError(f"{where}: unknown key {section}.{key}.{suggest(key, keys)} Known keys: "
                                          f"{', '.join(keys)}.")
            filled = dict(given)
            for key, (default, check, _) in keys.items():
                if key not in given:
                    if default is REQUIRED:
                        raise RecipeError(f"{where}: the required key {section}.{key} is missing.")
                    filled[key] = default
                    continue
                value = given[key]
                problem = None if (isinstance(value, float) and value != value and key == "learning_rate") else check(value)
                if problem:
                    raise RecipeError(f"{where}: {section}.{key} {problem}; received {value!r}.")
            sections[section] = filled
        run = sections["run"]
        if (run["batch_size"] is None) == (run["per_replica_batch_size"] is None):
            raise RecipeError(f"{where}: give exactly one of run.batch_size (global) and run.per_replica_batch_size; "
                              f"received {run['batch_size']!r} and {run['per_replica_batch_size']!r}.")
        _check_model(sections["model"], where)
        return cls(name=data["name"], description=data.get("description") or "",
                   source=Path(source) if source else None, **{k: _freeze(v) for k, v in sections.items()})

    def to_dict(self):
        """Plain data: what a YAML file with every default spelled out would hold."""
        return {"name": self.name, "description": self.description,
                **{section: thaw(getattr(self, section)) for section in SECTIONS}}

    def with_overrides(self, overrides=None, **kwargs):
        """A new validated recipe with overrides (see `expand_overrides`)."""
        nested = expand_overrides({**(overrides or {}), **kwargs})
        if not nested:
            return self
        try:
            return Recipe.from_dict(merge(self.to_dict(), nested), self.source)
        except RecipeError as error:
            raise RecipeError(f"{error} (after the overrides {dict(overrides or {}, **kwargs)})") from None

    @property
    def output_dir(self):
        """run.output_dir; when null, the first of runs/<name>, runs/<name>_2, ... without a finished run."""
        if self.run["output_dir"]:
            return Path(self.run["output_dir"])
        base = path = Path("runs") / self.name
        number = 1
        while (path / "summary.json").exists():
            number += 1
            path = base.with_name(f"{base.name}_{number}")
        return path


def _check_model(model, where):
    from keras_vit.spec import get_spec

    overrides = {k: v for k, v in model.items() if k not in ("name", "weights")}
    weights = model.get("weights")
    if weights is not None and not isinstance(weights, (str, Path)):
        raise RecipeError(f"{where}: model.weights must be the path of a checkpoint (or null); received {weights!r}.")
    try:
        get_spec(model["name"], **overrides)
    except SpecError as error:
        raise RecipeError(f"{where}: in `model`: {error}") from None


def load_recipe(name_or_path, overrides=None, **kwargs):
    """The validated recipe named `name_or_path` (a file in registry/recipes or a YAML path), or a `Recipe` as is,
    with overrides applied.

    Example:
        >>> recipe = keras_vit.train.load_recipe("mnist_vit", epochs=3, learning_rate=2e-3)
        >>> recipe.run["epochs"]
        3
    """
    if isinstance(name_or_path, Recipe):
        recipe = name_or_path
    elif isinstance(name_or_path, dict):
        recipe = Recipe.from_dict(name_or_path)
    elif isinstance(name_or_path, (str, Path)):
        path = _find(name_or_path)
        recipe = Recipe.from_dict(_resolve(path), source=path)
    else:
        raise RecipeError(f"A recipe is a name, a YAML path, a mapping or a Recipe; received {name_or_path!r}.")
    return recipe.with_overrides(overrides, **kwargs)


__all__ = ["REQUIRED", "SCHEMA", "FrozenDict", "Recipe", "RecipeError", "list_recipes", "load_recipe"]
