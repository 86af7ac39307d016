"""`keras-vit train --recipe NAME [--epochs N] [--set section.key=value ...]`: train as a recipe says.

Prints Keras's progress bar while training and the run's JSON summary at the end (also written to
<output_dir>/summary.json). Errors in the recipe, the data or the strategy are reported before training starts.
"""

import functools
import json

import yaml
from absl import flags

from keras_vit.commands import common

flags.DEFINE_string("recipe", "mnist_vit", "A recipe name (registry/recipes) or the path of a recipe YAML file.")
# flag -> (the recipe key it overrides, its flag type, what its help adds)
_OVERRIDE_FLAGS = {
    "epochs": ("run.epochs", flags.DEFINE_integer, ""),
    "batch_size": ("run.batch_size", flags.DEFINE_integer, " (the global batch)"),
    "steps_per_epoch": ("run.steps_per_epoch", flags.DEFINE_integer, ""),
    "learning_rate": ("optimizer.learning_rate", flags.DEFINE_float, ""),
    "output_dir": ("run.output_dir", flags.DEFINE_string, " (checkpoints, logs, model.keras, summary.json)"),
    "strategy": ("run.strategy", flags.DEFINE_string, ": auto, default, mirrored, multi_worker or tpu"),
    "devices": ("run.devices", flags.DEFINE_list, " (mirrored), e.g. /gpu:0,/gpu:1"),
    "tpu_address": ("run.tpu_address", flags.DEFINE_string, ""),
    "mixed_precision": ("run.mixed_precision", flags.DEFINE_string, ": mixed_float16, mixed_bfloat16, float32"),
    "model": ("model.name", flags.DEFINE_string, " (a zoo model)"),
    "weights": ("model.weights", flags.DEFINE_string, ": a checkpoint to start from (keras_vit.weights)"),
    "data": ("data.source", flags.DEFINE_string, ' ("offline", "folder:PATH", "tfds:NAME")'),
    "data_dir": ("data.data_dir", flags.DEFINE_string, " (tensorflow-datasets' prepared data)"),
    "overwrite": ("run.overwrite", flags.DEFINE_boolean, ": replace a finished run in the output folder"),
}
for _flag, (_key, _define, _more) in _OVERRIDE_FLAGS.items():
    _define(_flag, None, f"Override {_key}{_more}.")
flags.DEFINE_boolean("start_over", False, "Start anew: first rename the output folder's run to OUTPUT_DIR.replaced_<time>.")
flags.DEFINE_multi_string("set", [], "Any recipe key, section.key=value (value parsed as YAML); repeatable.")
flags.DEFINE_boolean("dry_run", False, "Print the resolved recipe and stop.")
flags.DEFINE_string(
    "export", None, "After training, export the model for TF Serving to this base folder (BASE/<next version>/, "
    "see `keras-vit export`), reload it and compare it with the trained model."
)
FLAGS = flags.FLAGS
_fail = functools.partial(common.fail, "train")


def collect_overrides():
    """The dotted overrides given by the flags, --set last."""
    given = {key: getattr(FLAGS, flag) for flag, (key, _, _) in _OVERRIDE_FLAGS.items()}
    overrides = {key: value for key, value in given.items() if value is not None}
    if FLAGS.batch_size is not None:
        overrides["run.per_replica_batch_size"] = None
    for item in FLAGS.set:
        key, sep, value = item.partition("=")
        if not sep or "." not in key:
            _fail(f"--set takes section.key=value (for example optimizer.weight_decay=0.05); received {item!r}.")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def main(argv):
    if len(argv) != 1:
        _fail(f"takes flags only (--recipe NAME ...); received {argv[1:]}.")
    from keras_vit.train import RecipeError, StrategyError, TrainingDiverged, load_recipe, train

    try:
        recipe = load_recipe(FLAGS.recipe, collect_overrides())
    except RecipeError as error:
        _fail(error)
    if FLAGS.dry_run:
        print(yaml.safe_dump(recipe.to_dict(), sort_keys=False).rstrip())
        return
    for path in filter(None, (recipe.output_dir, FLAGS.export)):
        common.check_output("train", path)
    try:
        summary = train(recipe, start_over=FLAGS.start_over)
    except (RecipeError, StrategyError, TrainingDiverged, ValueError, ImportError) as error:
        _fail(error)
    if FLAGS.export:
        # The command chains the two steps; keras_vit.train itself never exports (data flows one way).
        from keras_vit.export import export

        try:
            result = export(summary.model, FLAGS.export, check=True)
        except (OSError, ValueError) as error:
            _fail(f"the model trained and was saved to {summary['model_path']}, but the export to {FLAGS.export!r} "
                  f"failed: {error}")
        summary["export_path"] = result.path
    print(json.dumps(summary, indent=2))
