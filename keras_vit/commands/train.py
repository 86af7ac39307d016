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
flags.DEFINE_integer("epochs", None, "Override run.epochs.")
flags.DEFINE_integer("batch_size", None, "Override run.batch_size (the global batch).")
flags.DEFINE_integer("steps_per_epoch", None, "Override run.steps_per_epoch.")
flags.DEFINE_float("learning_rate", None, "Override optimizer.learning_rate.")
flags.DEFINE_string("output_dir", None, "Override run.output_dir (checkpoints, logs, model.keras, summary.json).")
flags.DEFINE_string("strategy", None, "Override run.strategy: auto, default, mirrored, multi_worker or tpu.")
flags.DEFINE_list("devices", None, "Override run.devices (mirrored), e.g. /gpu:0,/gpu:1.")
flags.DEFINE_string("tpu_address", None, "Override run.tpu_address.")
flags.DEFINE_string("mixed_precision", None, "Override run.mixed_precision: mixed_float16, mixed_bfloat16, float32.")
flags.DEFINE_string("model", None, "Override model.name (a zoo model).")
flags.DEFINE_string("weights", None, "Override model.weights: a checkpoint to start from (keras_vit.weights).")
flags.DEFINE_string("data", None, 'Override data.source ("offline", "folder:PATH", "tfds:NAME").')
flags.DEFINE_string("data_dir", None, "Override data.data_dir (tensorflow-datasets' prepared data).")
flags.DEFINE_boolean("overwrite", None, "Override run.overwrite: replace a finished run in the output folder.")
flags.DEFINE_boolean("start_over", False, "Start anew: first rename the output folder's run to OUTPUT_DIR.replaced_<time>.")
flags.DEFINE_multi_string("set", [], "Any recipe key, section.key=value (value parsed as YAML); repeatable.")
flags.DEFINE_boolean("dry_run", False, "Print the resolved recipe and stop.")
flags.DEFINE_string(
    "export", None, "After training, export the model for TF Serving to this base folder (BASE/<next version>/, "
    "see `keras-vit export`), reload it and compare it with the trained model."
)
FLAGS = flags.FLAGS
_fail = functools.partial(common.fail, "train")

_FLAG_KEYS = {
    "epochs": "run.epochs", "batch_size": "run.batch_size", "steps_per_epoch": "run.steps_per_epoch",
    "learning_rate": "optimizer.learning_rate", "output_dir": "run.output_dir", "strategy": "run.strategy",
    "devices": "run.devices", "tpu_address": "run.tpu_address", "mixed_precision": "run.mixed_precision",
    "model": "model.name", "weights": "model.weights", "data": "data.source", "data_dir": "data.data_dir", "overwrite": "run.overwrite",
}


def collect_overrides():
    """The dotted overrides given by the flags, --set last."""
    overrides = {key: getattr(FLAGS, flag) for flag, key in _FLAG_KEYS.items() if getattr(FLAGS, flag) is not None}
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
    from keras_vit.data import load_dataset  # noqa: F401  (data errors below are ValueErrors)
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
