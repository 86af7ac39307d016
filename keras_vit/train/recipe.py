"""Training recipes: YAML files in `registry/recipes/` (with `extends:`) loaded into a validated, frozen `Recipe`.

A recipe has five sections. `model` names a zoo model and its hyperparameter overrides; `data` the source and the
augmentation; `optimizer` and `schedule` the update rule; `run` the epochs, batch, strategy, precision and output.
Every key, its default and its meaning are in `SCHEMA` below (and in docs/training.md).
"""

import dataclasses
import itertools
from pathlib import Path
from typing import Any

from keras_vit.registry import Slot, suggest
from keras_vit.schema import (
    BOOL,
    COUNT,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    POSITIVE_INT,
    RATE,
    STRING,
    Field,
    is_number,
    list_of,
    number,
    one_of,
    optional,
)
from keras_vit.spec.load import get_spec, resolve_extends
from keras_vit.spec.model_spec import FrozenDict, _freeze, merge, thaw
from keras_vit.spec.spec_index import builtin_spec_dir
from keras_vit.spec.yaml_file import SpecError
from keras_vit.train.optimizers import OPTIMIZER
from keras_vit.train.schedules import SCHEDULE
from keras_vit.train.strategy import STRATEGIES

REQUIRED = object()


class RecipeError(SpecError):
    """A recipe that cannot be used; the message names the file, the key and the received value."""


# section -> key -> (default, field, meaning): the field (keras_vit.schema) checks the value. `model` also takes its
# model's hyperparameters and `weights`, checked by the model spec when the recipe loads.
_CROP = Field("a list [low, high] with 0 < low <= high <= 1",
              lambda v: isinstance(v, (list, tuple)) and len(v) == 2 and all(map(is_number, v)) and 0 < v[0] <= v[1] <= 1)
_CHANNELS = Field("a number or a list of numbers, one per channel",
                  lambda v: is_number(v) or (isinstance(v, (list, tuple)) and v and all(map(is_number, v))))
_RATE0 = Field("a number >= 0", lambda v: is_number(v) and not v < 0)  # a learning rate; NaN tests failure handling
_INT, _STR = optional(POSITIVE_INT), optional(STRING)
# data.source as a mapping names a task model's data source (keras_vit.tasks registers them; its arguments are checked
# here): given the run's seed and normalization, it makes the model's (image, target) streams (`pipelines`).
DATA_SOURCE = Slot("data_source", provided=("seed", "mean", "std"))
NOT_HYPERPARAMETERS = ("name", "weights", "lora", "teacher")  # the model section's keys that the spec does not check
SCHEMA = {
    "model": {
        "name": (REQUIRED, Field("a zoo model name or a spec file path", lambda v: isinstance(v, (str, Path))),
                 "a zoo model or spec file; the other keys of `model` override its hyperparameters, whose "
                 "num_classes and num_channels default to the data's, or name a checkpoint: `weights`"),
        "lora": (None, optional(Field("a mapping with rank (an integer > 0), alpha, targets, train_norms", lambda v: (
            isinstance(v, dict) and set(v) <= {"rank", "alpha", "targets", "train_norms"} and POSITIVE_INT.ok(v.get("rank", 8))))),
            "LoRA fine-tuning (keras_vit.lora.enable_lora), e.g. {rank: 8, alpha: 16, targets: [qkv]}; the run also "
            "writes adapters.npz; null: all weights train"),
        "teacher": (None, _STR, "a .keras model whose argmax the distillation head learns (DeiT's hard "
                    "distillation, keras_vit.models.HardDistillation; needs a distilled model); null: off"),
    },
    "data": {
        "source": ("offline", Field("a string or a mapping {name: <task data source>, <its arguments>}", lambda v:
                                    isinstance(v, str) or isinstance(v, dict) and bool(DATA_SOURCE.component(v))),
                   '"offline": the MNIST digits shipped with keras_vit, "folder:PATH", "tfds:NAME", or a task '
                   "model's data source {name: digit_scenes, <its arguments>}"),
        "data_dir": (None, _STR, "tensorflow-datasets data_dir"),
        "train_split": ("train", STRING, "training split"),
        "eval_split": ("test", _STR, "held-out split; null: none"),
        "mean": (0.5, _CHANNELS, "pixel normalization mean, one number or one per channel; 0.5 with std 0.5 gives [-1, 1]"),
        "std": (0.5, _CHANNELS, "pixel normalization std, one number or one per channel"),
        "random_crop": (False, BOOL, "Inception-style random resized crop"),
        "crop_scale": ([0.08, 1.0], _CROP, "area range [low, high] of the random crop"),
        "horizontal_flip": (False, BOOL, "random left-right flip"),
        "rand_augment": (None, optional(Field("a mapping of RandAugment arguments", lambda v: isinstance(v, dict))),
                         "keras.layers.RandAugment arguments, e.g. {num_ops: 2, factor: 0.9}; null: off"),
        "mixup_alpha": (0.0, NON_NEGATIVE, "MixUp alpha; 0: off"),
        "cutmix_alpha": (0.0, NON_NEGATIVE, "CutMix alpha; 0: off"),
        "label_smoothing": (0.0, RATE, "label smoothing"),
        "shuffle_buffer": (10_000, POSITIVE_INT, "shuffle buffer, in examples"),
        "unreadable_images": ("error", one_of("error", "skip"), "image folders: files that do not decode (all are "
                              "decoded once before training) stop the run before it starts, naming them, or are skipped "
                              "with a warning that names them"),
    },
    "optimizer": {
        "name": (REQUIRED, OPTIMIZER, "the update rule: sgd, adamw or adam"),
        "learning_rate": (REQUIRED, _RATE0, "peak learning rate; NaN is accepted, to test failure handling"),
        "momentum": (0.9, FRACTION, "SGD momentum"),
        "nesterov": (False, BOOL, "SGD Nesterov momentum"),
        "beta_1": (0.9, FRACTION, "Adam beta_1"),
        "beta_2": (0.999, FRACTION, "Adam beta_2"),
        "epsilon": (1e-8, POSITIVE, "Adam epsilon"),
        "weight_decay": (0.0, NON_NEGATIVE, "decoupled weight decay, never on norms, biases, position embeddings or tokens"),
        "global_clipnorm": (None, optional(POSITIVE), "clip gradients to this global norm; null: off"),
        "layer_decay": (None, optional(number("a number in (0, 1]", lambda v: 0 < v <= 1)),
                        "layer-wise learning-rate decay of BEiT: the rate of block i of L is scaled by decay^(L - i), "
                        "the stem's by decay^(L + 1), the head's by 1; null: off"),
    },
    "schedule": {
        "name": ("warmup_cosine", SCHEDULE,
                 "the learning-rate schedule: warmup_cosine, warmup_constant or constant"),
        "warmup_steps": (0, COUNT, "linear warm-up steps"),
        "warmup_epochs": (None, optional(NON_NEGATIVE),
                          "linear warm-up in epochs, fractions allowed; wins over warmup_steps"),
        "end_learning_rate": (0.0, NON_NEGATIVE, "learning rate at the end of the cosine"),
    },
    "run": {
        "epochs": (REQUIRED, POSITIVE_INT, "training epochs"),
        "batch_size": (None, _INT, "global batch, divided evenly over the replicas; give this or per_replica_batch_size"),
        "per_replica_batch_size": (None, _INT, "batch per replica; the global batch is this times the replicas"),
        "steps_per_epoch": (None, _INT, "training steps per epoch; null: one pass over the training split"),
        "eval_steps": (None, _INT, "held-out batches per evaluation; null: the whole held-out split"),
        "strategy": ("auto", one_of(*STRATEGIES), "tf.distribute strategy: auto, default, mirrored, multi_worker or tpu"),
        "devices": (None, optional(list_of(STRING, "a list of device names such as ['/gpu:0', '/gpu:1']")),
                    "devices of the mirrored strategy; null: all local GPUs"),
        "tpu_address": (None, _STR, "TPU name or grpc address for the TPU resolver"),
        "mixed_precision": (None, optional(one_of("mixed_float16", "mixed_bfloat16", "float32")),
                            "dtype policy: mixed_float16 with loss scaling, mixed_bfloat16 or float32"),
        "jit_compile": ("auto", one_of("auto", True, False), "XLA: auto lets Keras decide, true or false"),
        "steps_per_execution": (1, POSITIVE_INT, "training steps per compiled call"),
        "output_dir": (None, _STR, "checkpoints, logs, summary; null: runs/NAME, runs/NAME_2... if that has a finished run"),
        "overwrite": (False, BOOL, "allow a new run in an output_dir that holds a finished one, replacing its files"),
        "keep_checkpoints": (3, COUNT, "newest epoch checkpoints kept; 0: all"),
        "seed": (0, COUNT, "seeds the weights, the split, the shuffle and the augmentation"),
        "tensorboard": (True, BOOL, "write TensorBoard logs"),
        "verbose": ("auto", one_of("auto", 0, 1, 2), "Keras progress bar: auto, 0, 1 or 2"),
    },
}
# The top level's keys besides the sections, declared as a section's are.
TOP_LEVEL = {"name": (REQUIRED, Field("a non-empty string", lambda v: isinstance(v, str) and bool(v)),
                      "the recipe's name; equals the file name"),
             "extends": (None, _STR, "the recipe this one starts from"), "description": ("", _STR, "one line")}


def list_recipes():
    """Names of the shipped recipes."""
    return sorted(p.stem for p in builtin_spec_dir("recipes").glob("*.yaml"))


def _find(name_or_path):
    path = Path(name_or_path)
    if str(name_or_path).endswith((".yaml", ".yml")) or path.is_file():
        if not path.is_file():
            raise RecipeError(f"Recipe file {path} does not exist.")
        return path.resolve()
    candidate = builtin_spec_dir("recipes") / f"{name_or_path}.yaml"
    if candidate.is_file():
        return candidate
    names = list_recipes()
    raise RecipeError(f"Unknown recipe {name_or_path!r}.{suggest(str(name_or_path), names)} Known: {', '.join(names)}, "
                      f"or pass the path of a recipe YAML file.")


def expand_overrides(overrides):
    """Turns {"epochs": 3, "optimizer.learning_rate": 0.1, "data.source.min_height": 15, "data": {"source": ...}}
    into a nested mapping by section. A bare key must belong to exactly one section (`epochs` -> run.epochs)."""
    nested = {}
    for key, value in (overrides or {}).items():
        if key in TOP_LEVEL:
            nested[key] = value
            continue
        section, dot, rest = key.partition(".")
        if dot and section not in SCHEMA:
            raise RecipeError(f"Override {key!r}: unknown section {section!r}.{suggest(section, SCHEMA)} "
                              f"Sections: {', '.join(SCHEMA)}.")
        if dot:  # data.source.min_height: one key of a nested mapping
            for part in reversed(rest.split(".")):
                value = {part: value}
        elif not (key in SCHEMA and isinstance(value, dict)):  # a bare key, not a whole section
            owners = [s for s in SCHEMA if key in SCHEMA[s]]
            if len(owners) > 1:
                raise RecipeError(f"Override {key!r} is ambiguous: write one of {', '.join(f'{s}.{key}' for s in owners)}.")
            if not owners:
                known = [k for s in SCHEMA for k in SCHEMA[s]]
                raise RecipeError(f"Unknown override {key!r}.{suggest(key, known)} Use section.key (e.g. "
                                  f"model.num_classes, optimizer.learning_rate) or one of: {', '.join(sorted(set(known)))}.")
            section, value = owners[0], {key: value}
        nested = merge(nested, {section: value})
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
        checked = _checked({**TOP_LEVEL, **SCHEMA}, data, where)
        run = checked["run"]
        if (run["batch_size"] is None) == (run["per_replica_batch_size"] is None):
            raise RecipeError(f"{where}: give exactly one of run.batch_size (global) and run.per_replica_batch_size; "
                              f"received {run['batch_size']!r} and {run['per_replica_batch_size']!r}.")
        _check_model(checked["model"], where)
        return cls(name=checked["name"], description=checked["description"] or "",
                   source=Path(source) if source else None, **{section: _freeze(checked[section]) for section in SCHEMA})

    def to_dict(self):
        """Plain data: what a YAML file with every default spelled out would hold."""
        return {"name": self.name, "description": self.description,
                **{section: thaw(getattr(self, section)) for section in SCHEMA}}

    def with_overrides(self, overrides=None, **kwargs):
        """A new validated recipe with overrides (see `expand_overrides`)."""
        nested = expand_overrides({**(overrides or {}), **kwargs})
        if not nested:
            return self
        base = self.to_dict()
        for key in {**(overrides or {}), **kwargs}:  # a dotted key reaches into mappings only, not into a name
            *path, _ = key.split(".")
            value = base
            for depth, part in enumerate(path):
                value = value.get(part) if isinstance(value, dict) else None
                if depth and value is not None and not isinstance(value, dict):
                    where = ".".join(path[:depth + 1])
                    raise RecipeError(f"Override {key!r}: {where} is {value!r}, not a mapping; give it whole, e.g. "
                                      f"--set '{where}={{name: ..., ...}}' for a registered component.")
        try:
            return Recipe.from_dict(merge(base, nested), self.source)
        except RecipeError as error:
            raise RecipeError(f"{error} (after the overrides {dict(overrides or {}, **kwargs)})") from None

    @property
    def output_dir(self):
        """run.output_dir; when null, the first of runs/<name>, runs/<name>_2, ... without a finished run."""
        if self.run["output_dir"]:
            return Path(self.run["output_dir"])
        paths = (Path("runs") / (self.name if n == 1 else f"{self.name}_{n}") for n in itertools.count(1))
        return next(path for path in paths if not (path / "summary.json").exists())


def _checked(keys, given, where, path=""):
    """The mapping `given` found at `path` (the top level: ""), each value checked by `keys` (key -> (default,
    field, meaning), or a section's own keys), with the defaults filled in."""
    if not isinstance(given, dict):
        raise RecipeError(f"{where}: `{path.rstrip('.')}` must be a mapping; received {given!r}.")
    for key, value in given.items():
        if key not in keys and path != "model.":  # the model section's other keys: the model spec checks them
            raise RecipeError(f"{where}: unknown key {path}{key}.{suggest(key, keys)} Known keys: {', '.join(keys)}.")
        if isinstance(keys.get(key), tuple):
            try:
                keys[key][1].check(f"{path}{key} ({keys[key][2]})", value)
            except ValueError as error:
                raise RecipeError(f"{where}: {error}") from None
    checked = dict(given)
    for key, entry in keys.items():
        if isinstance(entry, dict):
            checked[key] = _checked(entry, given.get(key) or {}, where, f"{path}{key}.")
        elif key not in given and entry[0] is REQUIRED:
            raise RecipeError(f"{where}: the required key {path}{key} is missing ({entry[2]}).")
        else:
            checked.setdefault(key, entry[0])
    return checked


def _check_model(model, where):
    overrides = {k: v for k, v in model.items() if k not in NOT_HYPERPARAMETERS}
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
        data = resolve_extends(path, _find, ("name", "description"), kind="Recipe", name_kind="recipe name",
                               error=RecipeError)
        recipe = Recipe.from_dict(data, source=path)
    else:
        raise RecipeError(f"A recipe is a name, a YAML path, a mapping or a Recipe; received {name_or_path!r}.")
    return recipe.with_overrides(overrides, **kwargs)


__all__ = ["REQUIRED", "SCHEMA", "FrozenDict", "Recipe", "RecipeError", "list_recipes", "load_recipe"]
